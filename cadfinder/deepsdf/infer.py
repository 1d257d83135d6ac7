"""Latent inference for a new shape by auto-decoder optimisation (DeepSDF's test-time fit).

From SDF samples (a mesh) the latent is fitted to the distances directly. From surface points
alone (a point cloud) the samples are made: zero on the points, plus small positive and
negative offsets along normals estimated from the neighbourhood and oriented away from the
cloud's interior.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from cadfinder.deepsdf.decoder import Decoder, clamped_l1


def fit_latent(decoder: Decoder, points: np.ndarray, sdf: np.ndarray, iterations: int = 300,
               lr: float = 5e-3, reg_lambda: float = 1e-4, samples_per_step: int = 8192,
               init: torch.Tensor | None = None, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Optimise one latent so the frozen decoder reproduces the given SDF samples."""
    device = next(decoder.parameters()).device
    g = torch.Generator().manual_seed(seed)
    pts = torch.as_tensor(points, dtype=torch.float32, device=device)
    y = torch.as_tensor(sdf, dtype=torch.float32, device=device)
    if init is None:
        init = torch.randn(decoder.cfg.latent_dim, generator=g) * decoder.cfg.latent_init_std
    z = init.detach().clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    was_training = decoder.training
    decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)
    loss = torch.tensor(0.0)
    try:
        for it in range(iterations):
            idx = torch.randint(0, len(pts), (min(samples_per_step, len(pts)),), generator=g).to(device)
            pred = decoder.forward_shapes(z[None], pts[idx][None])[0]
            loss = clamped_l1(pred, y[idx], decoder.cfg.clamp_delta)
            opt.zero_grad()
            (loss + reg_lambda * z.pow(2).sum()).backward()
            opt.step()
            if it == iterations // 2:
                for group in opt.param_groups:
                    group["lr"] = lr / 5
    finally:
        for p in decoder.parameters():
            p.requires_grad_(True)
        decoder.train(was_training)
    return z.detach(), float(loss.detach())


def estimate_normals(points: np.ndarray, k: int = 16) -> np.ndarray:
    """Unit normals from the smallest principal direction of each k-neighbourhood, oriented away
    from the cloud's centroid (right for the outer surfaces a scanner sees)."""
    tree = cKDTree(points)
    _, idx = tree.query(points, k=min(k, len(points)))
    nb = points[idx] - points[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    n = vecs[:, :, 0]
    flip = np.einsum("ni,ni->n", n, points - points.mean(0)) < 0
    n[flip] *= -1
    return n


def samples_from_points(points: np.ndarray, normals: np.ndarray | None = None,
                        offsets=(0.005, 0.015), inside=(0.005,)) -> tuple[np.ndarray, np.ndarray]:
    """SDF samples from surface points (canonical frame): zero level plus offsets along normals."""
    if normals is None:
        normals = estimate_normals(points)
    pts = [points]
    sdf = [np.zeros(len(points))]
    for e in offsets:
        pts.append(points + e * normals)
        sdf.append(np.full(len(points), e))
    for e in inside:
        pts.append(points - e * normals)
        sdf.append(np.full(len(points), -e))
    return np.concatenate(pts).astype(np.float32), np.concatenate(sdf).astype(np.float32)


def fit_latent_to_points(decoder: Decoder, points: np.ndarray, normals: np.ndarray | None = None,
                         **kwargs) -> tuple[torch.Tensor, float]:
    """Latent of a point cloud already in the canonical frame."""
    p, s = samples_from_points(points, normals)
    return fit_latent(decoder, p, s, **kwargs)
