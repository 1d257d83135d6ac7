"""Marching cubes on a decoded SDF: dense, or coarse-to-fine (only cells near the surface are
refined), batched, on the GPU when the decoder is there."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from skimage import measure

BOUND = 1.0  # decode inside [-1, 1]^3: the canonical frame puts every part inside the unit sphere


def _grid_points(res: int) -> torch.Tensor:
    t = torch.linspace(-BOUND, BOUND, res)
    return torch.stack(torch.meshgrid(t, t, t, indexing="ij"), dim=-1).reshape(-1, 3)


@torch.no_grad()
def _evaluate(sdf_fn, pts: torch.Tensor, device, batch: int) -> np.ndarray:
    out = np.empty(len(pts), np.float32)
    for s in range(0, len(pts), batch):
        out[s : s + batch] = sdf_fn(pts[s : s + batch].to(device)).float().cpu().numpy()
    return out


def dense_grid(sdf_fn, res: int, device="cpu", batch: int = 65536) -> np.ndarray:
    """SDF on every node of a res^3 grid."""
    return _evaluate(sdf_fn, _grid_points(res), device, batch).reshape(res, res, res)


def coarse_to_fine_grid(sdf_fn, res: int, start: int = 33, device="cpu", batch: int = 65536,
                        stats: dict | None = None) -> np.ndarray:
    """SDF on a res^3 grid, evaluated only near the surface.

    Start on a coarse grid; at each level double the resolution, and evaluate exactly only the
    nodes of cells whose coarse values say the surface may pass within a cell or so (|sdf| below
    the cell diagonal, or a sign change). Elsewhere trilinear upsampling of the coarse values
    keeps the correct sign, which is all marching cubes needs away from the surface.
    `res` and `start` must be of the form 2^k * (start - 1) + 1.
    """
    levels = []
    r = res
    while r > start:
        if (r - 1) % 2:
            raise ValueError(f"resolution {res} does not refine from {start} by doubling")
        levels.append(r)
        r = (r - 1) // 2 + 1
    if r != start:
        raise ValueError(f"resolution {res} does not refine from {start} by doubling")
    grid = dense_grid(sdf_fn, start, device, batch)
    evaluated = start**3
    for r in reversed(levels):
        spacing = 2 * BOUND / (grid.shape[0] - 1)
        near = np.abs(grid) < 1.5 * spacing * np.sqrt(3)
        # A coarse cell is active if any of its 8 corners is near the surface.
        cell = np.zeros(np.array(grid.shape) - 1, bool)
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    cell |= near[dx : dx + cell.shape[0], dy : dy + cell.shape[1], dz : dz + cell.shape[2]]
        fine = torch.nn.functional.interpolate(torch.from_numpy(grid)[None, None], size=(r, r, r),
                                               mode="trilinear", align_corners=True)[0, 0].numpy()
        # Fine nodes belonging to active coarse cells (each coarse cell covers 3^3 fine nodes).
        mask = np.zeros((r, r, r), bool)
        ci = np.argwhere(cell)
        for d in np.array(np.meshgrid([0, 1, 2], [0, 1, 2], [0, 1, 2], indexing="ij")).reshape(3, -1).T:
            idx = ci * 2 + d
            mask[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        nodes = np.argwhere(mask)
        t = np.linspace(-BOUND, BOUND, r, dtype=np.float32)
        pts = torch.from_numpy(np.stack([t[nodes[:, 0]], t[nodes[:, 1]], t[nodes[:, 2]]], axis=1))
        fine[mask] = _evaluate(sdf_fn, pts, device, batch)
        evaluated += len(nodes)
        grid = fine
    if stats is not None:
        stats["evaluated"] = evaluated
        stats["dense"] = res**3
    return grid


def grid_to_mesh(grid: np.ndarray) -> trimesh.Trimesh:
    """Marching cubes at the zero level; vertices in the canonical frame."""
    if grid.min() >= 0 or grid.max() <= 0:
        raise ValueError("the decoded field has no surface (all inside or all outside)")
    spacing = 2 * BOUND / (grid.shape[0] - 1)
    verts, faces, normals, _ = measure.marching_cubes(grid, 0.0, spacing=(spacing,) * 3)
    verts -= BOUND
    return trimesh.Trimesh(verts, faces, process=True)


def latent_to_mesh(decoder, z: torch.Tensor, res: int = 129, coarse_to_fine: bool = True,
                   stats: dict | None = None) -> trimesh.Trimesh:
    """Mesh of one latent in the canonical frame, on the decoder's device."""
    device = next(decoder.parameters()).device
    fn = decoder.shape_function(z.to(device))
    grid = coarse_to_fine_grid(fn, res, device=device, stats=stats) if coarse_to_fine else dense_grid(fn, res, device)
    return grid_to_mesh(grid)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer-L2 (mean squared nearest distance, both ways) between point sets."""
    from scipy.spatial import cKDTree

    da = cKDTree(b).query(a)[0]
    db = cKDTree(a).query(b)[0]
    return float((da**2).mean() + (db**2).mean())
