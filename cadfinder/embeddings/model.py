"""open_clip models loaded from local safetensors only, with the image preparation they expect.

Two kinds of weights load here:
  * the shipped domain model (resources/models/clip.safetensors): a compact open_clip `CLIP`
    (ModifiedResNet image tower, 64 px; 3-layer text transformer), trained by
    `cadfinder train clip` on rendered views, line drawings and generated captions;
  * an admin's pretrained open_clip checkpoint converted to safetensors, for one of the
    architectures in PRETRAINED_ARCHS (their 512-dim embeddings fit the library's columns).
Nothing is fetched from a model hub: `pretrained=None` always.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cadfinder.deepsdf import weights as wfile
from cadfinder.errors import InputError

EMBED_DIM = 512  # cad_models.image_embedding / part_views.embedding are vector(512)
DOMAIN_ARCH = "cadfinder-domain"
DOMAIN_CONFIG = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 32, "head_width": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 192, "heads": 4, "layers": 3},
}
# open_clip architectures whose weights an admin may supply (embed_dim 512).
PRETRAINED_ARCHS = ("ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-B-16-quickgelu")
DOMAIN_MEAN, DOMAIN_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
OPENAI_MEAN, OPENAI_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
INK_THRESHOLD = 245  # grey level below which a pixel is drawing/part, not paper


def build(arch: str = DOMAIN_ARCH, config: dict | None = None):
    """An untrained open_clip CLIP of the domain config, or of a named open_clip architecture."""
    from open_clip.model import CLIP

    if arch == DOMAIN_ARCH:
        cfg = config or DOMAIN_CONFIG
        vc = dict(cfg["vision_cfg"])
        if isinstance(vc.get("layers"), list):
            vc["layers"] = tuple(vc["layers"])
        return CLIP(cfg["embed_dim"], vc, cfg["text_cfg"], output_dict=True)
    if arch not in PRETRAINED_ARCHS:
        raise InputError(f"unsupported CLIP architecture {arch!r}: use {DOMAIN_ARCH} or one of "
                         f"{', '.join(PRETRAINED_ARCHS)}")
    import open_clip

    return open_clip.create_model(arch, pretrained=None, output_dict=True)


@dataclass
class ClipModel:
    """A loaded model with its tokenizer and image preparation; embeddings are L2-normalised."""

    model: torch.nn.Module
    arch: str
    image_size: int
    mean: tuple
    std: tuple
    context_length: int
    version: str
    device: torch.device

    def __post_init__(self):
        import open_clip

        self.tokenizer = open_clip.tokenize if self.context_length == 77 else \
            open_clip.get_tokenizer("ViT-B-32", context_length=self.context_length)
        self.model.eval()

    def image_tensor(self, grey: np.ndarray) -> torch.Tensor:
        """(N, H, W) uint8 grey images -> normalised (N, 3, S, S) input, cropped to their content."""
        return prepare_images(grey, self.image_size, self.mean, self.std)

    @torch.no_grad()
    def embed_images(self, grey: np.ndarray, batch: int = 256) -> np.ndarray:
        out = []
        for i in range(0, len(grey), batch):
            x = self.image_tensor(grey[i:i + batch]).to(self.device)
            out.append(torch.nn.functional.normalize(self.model.encode_image(x).float(), dim=-1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, EMBED_DIM), np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        tok = self.tokenizer(list(texts)).to(self.device)
        return torch.nn.functional.normalize(self.model.encode_text(tok).float(), dim=-1).cpu().numpy()


def crop_to_content(img: np.ndarray, margin: float = 0.08) -> np.ndarray:
    """A square crop around the non-white pixels with a margin, padded with white."""
    ink = img < INK_THRESHOLD
    if not ink.any():
        return img
    ys, xs = np.nonzero(ink)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(max(y1 - y0, x1 - x0) * (1 + 2 * margin)) + 2
    out = np.full((side, side), 255, np.uint8)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    out[oy:oy + y1 - y0, ox:ox + x1 - x0] = img[y0:y1, x0:x1]
    return out


def prepare_images(grey: np.ndarray, size: int, mean=DOMAIN_MEAN, std=DOMAIN_STD) -> torch.Tensor:
    """Grey uint8 images (renders, line drawings or canvas sketches) as one model input batch.

    Each is cropped to its content and resized with area averaging, so a sketch drawn small in
    a corner of the canvas and a full-frame render meet at the same scale."""
    from PIL import Image

    grey = np.asarray(grey)
    if grey.ndim == 2:
        grey = grey[None]
    arr = np.empty((len(grey), size, size), np.float32)
    for i, g in enumerate(grey):
        c = crop_to_content(g)
        arr[i] = np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BOX), np.float32) / 255.0
    x = torch.from_numpy(arr)[:, None].expand(-1, 3, -1, -1)
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return ((x - m) / s).contiguous()


def image_to_grey(path_or_array) -> np.ndarray:
    """A sketch image file (PNG/JPEG, any mode; transparent = paper) as a grey uint8 array."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(path_or_array, np.ndarray):
        a = path_or_array
        if a.ndim == 3:
            a = a[..., :3].mean(axis=2)
        return np.clip(a, 0, 255).astype(np.uint8)
    try:
        im = Image.open(path_or_array)
        im.load()
    except (OSError, UnidentifiedImageError) as e:
        raise InputError(f"{path_or_array}: not a readable image ({e})") from None
    if im.width * im.height > 50_000_000:
        raise InputError(f"{path_or_array}: image too large ({im.width}x{im.height})")
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    g = np.asarray(im.convert("L"))
    if g.mean() < 128:  # light strokes on a dark canvas: invert to ink on paper
        g = 255 - g
    return g


def save(path: str | Path, model: torch.nn.Module, arch: str, config: dict | None, extra: dict | None = None) -> Path:
    """Weights plus everything needed to rebuild the model (safetensors metadata)."""
    sd = model.state_dict()
    digest = hashlib.sha256()
    for k in sorted(sd):
        digest.update(k.encode())
        digest.update(sd[k].detach().cpu().float().numpy().tobytes()[:4096])
    meta = {"arch": arch, "config": config, "version": f"{arch}-{digest.hexdigest()[:12]}", **(extra or {})}
    # float16 on disk halves the shipped file; the model computes in float32 after loading.
    return wfile.save(path, {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, meta)


def load(path: str | Path, device: str | torch.device = "cpu", arch: str | None = None) -> ClipModel:
    """A model from a safetensors file: ours (metadata says the architecture) or an admin's
    pretrained open_clip weights (then `arch` names one of PRETRAINED_ARCHS)."""
    tensors, meta = wfile.load(path)
    arch = meta.get("arch") or arch
    if not arch:
        raise InputError(f"{path}: no architecture in the file's metadata; set models.clip_arch to one of "
                         f"{', '.join(PRETRAINED_ARCHS)}")
    model = build(arch, meta.get("config"))
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not match architecture {arch}: {str(e).splitlines()[0]}") from None
    if model.text_projection.shape[-1] != EMBED_DIM:
        raise InputError(f"{path}: embedding size is not {EMBED_DIM}")
    dev = torch.device(device)
    model.to(dev)
    domain = arch == DOMAIN_ARCH
    vs = model.visual.image_size
    size = vs[0] if isinstance(vs, (tuple, list)) else int(vs)
    version = meta.get("version") or f"{arch}-{hashlib.sha256(Path(path).read_bytes()[:1 << 20]).hexdigest()[:12]}"
    return ClipModel(model, arch, size, DOMAIN_MEAN if domain else OPENAI_MEAN, DOMAIN_STD if domain else OPENAI_STD,
                     model.context_length, version, dev)
