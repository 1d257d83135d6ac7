"""The amortised point-cloud encoder: a PointNet that predicts a part's DeepSDF latent from a
(partial, noisy, unevenly sampled) scan in one forward pass.

Queries arrive in unknown pose and scale, so every cloud is first put in its PCA frame
(`encoder_frame`); training applies the same normalisation to simulated scans and randomly
flips axis signs, so the encoder learns the ambiguities PCA leaves.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cadfinder.deepsdf import weights
from cadfinder.geometry.normalize import Frame, pca_frames
from cadfinder.workers import process_pool

INPUT_POINTS = 2048


class PointEncoder(nn.Module):
    """Shared per-point MLP, max and mean pooling, MLP head -> latent."""

    def __init__(self, latent_dim: int = 256, widths=(64, 128, 256), head=512):
        super().__init__()
        layers, prev = [], 3
        for w in widths:
            layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        self.point_mlp = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * prev, head), nn.ReLU(), nn.Linear(head, head), nn.ReLU(),
                                  nn.Linear(head, latent_dim))
        self.config = {"latent_dim": latent_dim, "widths": list(widths), "head": head}

    def forward(self, pts: torch.Tensor) -> torch.Tensor:
        """pts: (B, N, 3) in the encoder frame -> (B, latent)."""
        f = self.point_mlp(pts)
        return self.head(torch.cat([f.max(dim=1).values, f.mean(dim=1)], dim=-1))


def encoder_frame(points: np.ndarray) -> Frame:
    """The frame every encoder input is put in: PCA axes (skewness signs), centroid, robust radius."""
    return pca_frames(points)[0]


def prepare(points: np.ndarray, n: int = INPUT_POINTS, seed: int = 0) -> np.ndarray:
    """Subsample (or repeat) to n points and move into the encoder frame."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(points), n, replace=len(points) < n)
    p = points[idx]
    return encoder_frame(p).to_canonical(p).astype(np.float32)


@torch.no_grad()
def encode(encoder: PointEncoder, clouds: list[np.ndarray]) -> torch.Tensor:
    """Latents of several clouds (any pose, any scale) in one batch."""
    device = next(encoder.parameters()).device
    x = torch.from_numpy(np.stack([prepare(c) for c in clouds])).to(device)
    encoder.eval()
    return encoder(x).cpu()


def save_encoder(path, encoder: PointEncoder, extra: dict) -> Path:
    return weights.save(path, {f"encoder.{k}": v for k, v in encoder.state_dict().items()},
                        {"encoder_config": encoder.config, **extra})


def load_encoder(path, device="cpu") -> PointEncoder:
    tensors, meta = weights.load(path, device)
    cfg = meta["encoder_config"]
    enc = PointEncoder(cfg["latent_dim"], tuple(cfg["widths"]), cfg["head"]).to(device)
    enc.load_state_dict(weights.prefixed(tensors, "encoder."))
    enc.eval()
    return enc


# ---- training data: simulated scans ----------------------------------------------------------


def _scans_of_part(args) -> np.ndarray:
    from cadfinder.deepsdf.dataset import canonical_mesh
    from cadfinder.geometry.scan import ScanSettings, simulate_scan
    from cadfinder.geometry.sdf import sample_surface

    mesh_path, k, seed = args
    mesh, _ = canonical_mesh(Path(mesh_path))
    rng = np.random.default_rng(seed)
    out = np.empty((k, INPUT_POINTS, 3), np.float16)
    full, _ = sample_surface(mesh, INPUT_POINTS, rng)
    out[0] = full
    for j in range(1, k):
        st = ScanSettings(points=INPUT_POINTS, views=int(rng.integers(1, 4)), noise=float(rng.uniform(0.0, 0.008)),
                          uneven=float(rng.uniform(0, 0.8)), outliers=float(rng.uniform(0, 0.01)),
                          resolution=120, dense=50_000)
        out[j] = simulate_scan(mesh, st, seed=int(rng.integers(1 << 31))).points
    return out


def build_scan_bank(mesh_paths: list[Path], out: Path, per_part: int = 8, seed: int = 0,
                    jobs: int | None = None, progress: bool = True) -> np.ndarray:
    """(parts, per_part, N, 3) float16 scans in each part's canonical frame; cached in `out`."""
    from tqdm import tqdm

    if out.exists():
        bank = np.load(out, allow_pickle=False)
        if bank.shape[:2] == (len(mesh_paths), per_part):
            return bank
    args = [(str(p), per_part, seed * 1_000_003 + i) for i, p in enumerate(mesh_paths)]
    with process_pool(jobs) as pool:
        bank = np.stack(list(tqdm(pool.map(_scans_of_part, args, chunksize=4), total=len(args), desc="scan bank",
                                  unit="part", disable=not progress, file=sys.stderr)))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, bank)
    return bank


def _augment(batch: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty((len(batch), n, 3), np.float32)
    for i, cloud in enumerate(batch):
        cloud = cloud.astype(np.float32)
        # Random extra cropping: a half-space cut makes scans more partial still.
        if rng.random() < 0.3:
            d = rng.normal(size=3)
            proj = cloud @ d
            keep = proj < np.quantile(proj, rng.uniform(0.6, 1.0))
            cloud = cloud[keep] if keep.sum() > 64 else cloud
        p = cloud[rng.choice(len(cloud), n, replace=len(cloud) < n)]
        f = encoder_frame(p)
        c = f.to_canonical(p)
        if rng.random() < 0.5:  # the sign ambiguity PCA leaves for symmetric parts
            sx, sy = rng.choice([-1, 1], 2)
            c = c * np.array([sx, sy, sx * sy], np.float32)
        out[i] = c
    return out


def train_encoder(bank: np.ndarray, targets: torch.Tensor, out_path: Path, epochs: int = 20, batch: int = 64,
                  points: int = 1024, lr: float = 1e-3, seed: int = 0, device: str = "cpu",
                  progress: bool = True, log=None) -> Path:
    """Regress the decoder's latents from simulated scans (MSE); safetensors at the end."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc = PointEncoder(targets.shape[1]).to(device)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    n_parts, per_part = bank.shape[:2]
    pairs = np.array([(i, j) for i in range(n_parts) for j in range(per_part)])
    steps = math.ceil(len(pairs) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    t0 = time.time()
    tgt = targets.to(device)
    for epoch in range(epochs):
        order = rng.permutation(len(pairs))
        total = 0.0
        enc.train()
        for s in range(steps):
            sel = pairs[order[s * batch : (s + 1) * batch]]
            x = torch.from_numpy(_augment(bank[sel[:, 0], sel[:, 1]], rng, points)).to(device)
            pred = enc(x)
            loss = (pred - tgt[torch.from_numpy(sel[:, 0]).to(device)]).pow(2).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if progress:
            eta = (time.time() - t0) / (epoch + 1) * (epochs - epoch - 1)
            log(f"encoder epoch {epoch + 1}/{epochs}  loss {total / steps:.4f}  ETA {eta / 60:.1f} min")
    return save_encoder(out_path, enc, {"epochs": epochs, "loss": total / steps})
