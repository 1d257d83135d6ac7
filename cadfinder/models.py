"""The models the app uses: which weight files, on which device, loaded once per process.

Weights come only from local files: the ones shipped in resources/models/, or a path an admin
sets in settings (models.sdf_weights). Nothing is fetched from a model hub.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from cadfinder.errors import CadfinderError
from cadfinder.resources import resource_path
from cadfinder.settings import Settings

DECODER_FILE = "deepsdf.safetensors"
ENCODER_FILE = "encoder.safetensors"
IMPLICIT_FILE = "implicit.safetensors"
CLIP_FILE = "clip.safetensors"


def device(settings: Settings) -> torch.device:
    """The configured device: auto picks CUDA when present, else the CPU."""
    pref = settings.models.device
    if pref == "cuda" and not torch.cuda.is_available():
        raise CadfinderError("settings ask for CUDA (models.device = cuda) but no CUDA device is available")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def weights_dir(settings: Settings) -> Path:
    """Folder holding deepsdf.safetensors, encoder.safetensors and implicit.safetensors."""
    custom = settings.models.sdf_weights
    if custom:
        p = Path(custom).expanduser()
        return p.parent if p.is_file() else p
    return resource_path("models")


TRAIN_COMMAND = {DECODER_FILE: "decoder", ENCODER_FILE: "encoder", IMPLICIT_FILE: "implicit"}


def require(path: Path) -> Path:
    """The path, or a clear error that says how to make the weights."""
    if not path.exists():
        how = TRAIN_COMMAND.get(path.name, "decoder")
        raise CadfinderError(f"model weights {path} are missing: train them (`cadfinder train {how}`) "
                             "or set models.sdf_weights to a folder that has them")
    return path


@lru_cache(maxsize=4)
def _decoder(path: str, dev: str):
    from cadfinder.deepsdf.train import load_decoder

    return load_decoder(path, dev)


@lru_cache(maxsize=4)
def _encoder(path: str, dev: str):
    from cadfinder.deepsdf.encoder import load_encoder

    return load_encoder(path, dev)


def decoder(settings: Settings):
    """(Decoder, catalog latent table, part numbers, metadata)."""
    return _decoder(str(require(weights_dir(settings) / DECODER_FILE)), str(device(settings)))


def encoder(settings: Settings):
    return _encoder(str(require(weights_dir(settings) / ENCODER_FILE)), str(device(settings)))


@lru_cache(maxsize=4)
def _implicit(path: str, dev: str):
    from cadfinder.implicit.train import load_model

    return load_model(path, dev)


def implicit(settings: Settings):
    """(local-code model, its version string): what encodes and decodes every part's implicit form."""
    return implicit_file(implicit_path(settings), str(device(settings)))


def implicit_path(settings: Settings) -> Path:
    return require(weights_dir(settings) / IMPLICIT_FILE)


def implicit_file(path: str | Path, dev: str = "cpu"):
    """(local-code model, version) from a weights file (worker processes get the path, not settings)."""
    model, _ = _implicit(str(path), dev)
    return model, implicit_version(path)


@lru_cache(maxsize=4)
def implicit_version(path: str | Path) -> str:
    """A short digest of the weights file: stored beside each part's codes, so a part encoded by
    other weights is found and re-encoded (`cadfinder embed`)."""
    from cadfinder.deepsdf.weights import file_sha256

    return "implicit-" + file_sha256(path)[:12]


def clip_path(settings: Settings) -> Path:
    """The CLIP weights file: the admin's (models.clip_weights) or the shipped domain model."""
    custom = settings.models.clip_weights
    return Path(custom).expanduser() if custom else resource_path("models", CLIP_FILE)


@lru_cache(maxsize=2)
def _clip(path: str, dev: str, arch: str):
    from cadfinder.embeddings.model import load

    return load(path, dev, arch=arch or None)


def clip(settings: Settings):
    """The loaded CLIP model (cadfinder.embeddings.model.ClipModel)."""
    path = clip_path(settings)
    if not path.exists():
        raise CadfinderError(f"CLIP weights {path} are missing: train them (`cadfinder train clip`) "
                             "or set models.clip_weights to a safetensors file")
    return _clip(str(path), str(device(settings)), settings.models.clip_arch)


@lru_cache(maxsize=2)
def _sentences(dev: str):
    from cadfinder.embeddings import sentences

    return sentences.load(dev)


def sentences(settings: Settings | None = None):
    """The loaded sentence encoder (cadfinder.embeddings.sentences.SentenceModel), on the
    configured device (the CPU without settings: ingestion's batch is small)."""
    return _sentences(str(device(settings)) if settings is not None else "cpu")


def clip_spec(settings: Settings) -> tuple[str, str] | None:
    """(weights file, architecture) for ingestion workers, or None when no CLIP weights exist."""
    path = clip_path(settings)
    return (str(path), settings.models.clip_arch) if path.exists() else None
