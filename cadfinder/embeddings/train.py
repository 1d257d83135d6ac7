"""Contrastive training of the domain CLIP model on a catalog: views <-> captions, sketches <-> views.

Per step, a batch of distinct training parts (of one or more catalogs); for each, one rendered
view (shaded or line drawing; line drawings made sketch-like half the time) paired with a
generated caption (CLIP loss), and one sketch paired with the clean line drawing of the same
part and view (image-image CLIP loss, so canvas sketches land on the right parts): the line
drawing made hand-drawn, or a third of the time the outline of the top or front view, jittery or
dashed (sketch.outline_sketch). Checkpoints in
safetensors every few hundred steps; `--resume` continues from the last one.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cadfinder.deepsdf import weights as wfile
from cadfinder.deepsdf.train import flat_optimizer_state, restore_optimizer_state
from cadfinder.embeddings import model as clip_model
from cadfinder.embeddings.captions import caption
from cadfinder.embeddings.sketch import OUTLINE_VIEWS, outline_sketch, sketchify
from cadfinder.workers import fill_cache

VIEW_SETS = 2  # exact cameras, and cameras turned a little (augmentation)
JITTER = 0.12  # radians
OUTLINE_SHARE = 1 / 3  # of the sketch pairs, outlines of the top or front view


def _render_one(args) -> str:
    mesh_path, out_path = args
    if Path(out_path).exists():
        return out_path
    from cadfinder.deepsdf.dataset import canonical_mesh
    from cadfinder.views import render_views

    mesh, _ = canonical_mesh(Path(mesh_path))
    sets = np.stack([render_views(mesh, angle_jitter=JITTER * (s > 0), seed=s) for s in range(VIEW_SETS)])
    tmp = Path(out_path).with_suffix(".tmp.npz")
    np.savez_compressed(tmp, views=sets)
    os.replace(tmp, out_path)
    return out_path


def build_view_cache(parts, cache_dir: str | Path, jobs: int | None = None, progress: bool = True) -> list[Path]:
    """Rendered views (VIEW_SETS, K, 2, S, S) of each catalog part, cached; resumable."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [(str(p.mesh_path), str(cache_dir / f"{p.part_number}.npz")) for p in parts]
    fill_cache(_render_one, todo, "render views", jobs, progress)
    return [Path(t[1]) for t in todo]


def load_views(files: list[Path]) -> np.ndarray:
    return np.stack([np.load(f)["views"] for f in files])  # (P, VIEW_SETS, K, 2, S, S)


def part_metadata(catalog: Path, part_numbers: list[str]) -> list[dict]:
    return [json.loads((catalog / f"{pn}.json").read_text()) for pn in part_numbers]


def clip_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * a @ b.T
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _batch(views, metas, rng, cm, batch):
    P, S, K = views.shape[:3]
    idx = rng.choice(P, size=min(batch, P), replace=False)
    imgs, texts, sketches, clean = [], [], [], []
    for i in idx:
        s, v, style = rng.integers(S), rng.integers(K), rng.integers(2)
        img = views[i, s, v, style]
        if style == 1 and rng.random() < 0.5:
            img = sketchify(img, rng)
        imgs.append(img)
        texts.append(caption(metas[i], rng))
        if rng.random() < OUTLINE_SHARE:
            v2 = OUTLINE_VIEWS[rng.integers(len(OUTLINE_VIEWS))]
            sketches.append(outline_sketch(views[i, rng.integers(S), v2, 0], rng))
        else:
            v2 = rng.integers(K)
            sketches.append(sketchify(views[i, rng.integers(S), v2, 1], rng))
        clean.append(views[i, 0, v2, 1])
    return (cm.image_tensor(np.stack(imgs)), cm.tokenizer(texts), cm.image_tensor(np.stack(sketches)),
            cm.image_tensor(np.stack(clean)))


def train(catalogs: str | Path | list, out_dir: str | Path, steps: int = 1200, batch: int = 96, lr: float = 1e-3,
          init: str | None = None, arch: str = clip_model.DOMAIN_ARCH, resume: bool = False,
          device: str = "cpu", seed: int = 0, progress: bool = True, jobs: int | None = None) -> Path:
    """Train (or fine-tune from `init`, an admin's pretrained weights of `arch`) on the training
    parts of one catalog or several, and save OUT/clip.safetensors. Returns its path."""
    from tqdm import tqdm

    from cadfinder.deepsdf.dataset import catalog_parts

    catalogs = [Path(c) for c in (catalogs if isinstance(catalogs, (list, tuple)) else [catalogs])]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files, metas, parts = [], [], []
    for catalog in catalogs:
        mine = [p for p in catalog_parts(catalog) if p.split == "train"]
        if not mine:
            raise ValueError(f"{catalog}: no training parts")
        files += build_view_cache(mine, catalog / ".views_cache", jobs=jobs, progress=progress)
        metas += part_metadata(catalog, [p.part_number for p in mine])
        parts += mine
    views = load_views(files)
    torch.manual_seed(seed)
    dev = torch.device(device)
    if init:
        cm = clip_model.load(init, dev, arch=arch)
        model, arch, config = cm.model, cm.arch, None
        lr = min(lr, 1e-5 * batch / 32)  # fine-tuning: keep the pretrained features
    else:
        config = clip_model.DOMAIN_CONFIG if arch == clip_model.DOMAIN_ARCH else None
        model = clip_model.build(arch, config).to(dev)
        cm = clip_model.ClipModel(model, arch, model.visual.image_size if isinstance(model.visual.image_size, int)
                                  else model.visual.image_size[0], clip_model.DOMAIN_MEAN, clip_model.DOMAIN_STD,
                                  model.context_length, "training", dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    ckpt = out_dir / "clip_checkpoint.safetensors"
    start = 0
    if resume and ckpt.exists():
        tensors, meta = wfile.load(ckpt)
        model.load_state_dict(wfile.prefixed(tensors, "model."))
        restore_optimizer_state(opt, wfile.prefixed(tensors, "opt."))
        start = int(meta["step"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    with warnings.catch_warnings():  # fast-forward the schedule to the resumed step
        warnings.simplefilter("ignore")
        for _ in range(min(start, steps)):
            sched.step()
    rng = np.random.default_rng(seed + start)
    log = open(out_dir / "clip_train.log", "a")
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="train clip", unit="step",
               disable=not progress, file=sys.stderr)
    model.train()
    t0 = time.time()
    for step in bar:
        img, tok, sk, clean = (x.to(dev) for x in _batch(views, metas, rng, cm, batch))
        out = model(img, tok)
        loss_text = clip_loss(out["image_features"], out["text_features"], model.logit_scale)
        loss_sketch = clip_loss(model.encode_image(sk), model.encode_image(clean), model.logit_scale)
        loss = loss_text + loss_sketch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(text=f"{loss_text.item():.3f}", sketch=f"{loss_sketch.item():.3f}")
        log.write(json.dumps({"step": step + 1, "loss_text": round(loss_text.item(), 4),
                              "loss_sketch": round(loss_sketch.item(), 4), "s": round(time.time() - t0, 1)}) + "\n")
        if (step + 1) % 200 == 0 or step + 1 == steps:
            tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
            tensors |= {f"opt.{k}": v for k, v in flat_optimizer_state(opt).items()}
            wfile.save(ckpt, tensors, {"step": step + 1, "arch": arch})
            log.flush()
    model.eval()
    return clip_model.save(out_dir / "clip.safetensors", model, arch, config,
                           {"trained_on": ", ".join(map(str, catalogs)), "steps": steps, "parts": len(parts)})
