"""Model weights as safetensors (never pickle): tensors plus JSON metadata (config, names).

A DeepSDF bundle holds the decoder's parameters under `decoder.*`, the latent table under
`latents` with the part numbers in metadata, and optionally the encoder under `encoder.*`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cadfinder.errors import InputError


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a weights file (hex), read a megabyte at a time."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict) -> Path:
    """Write tensors atomically with JSON-encoded metadata values."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
              metadata={k: json.dumps(v) for k, v in metadata.items()})
    tmp.replace(path)
    return path


def load(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and decoded metadata of a safetensors file; InputError if it is not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise InputError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, json.JSONDecodeError, OSError, ValueError) as e:
        raise InputError(f"{path} is not a valid safetensors weights file: {e}") from None
    return tensors, meta


def prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
