"""Marching cubes on a part's decoded local codes, evaluated only where the surface can be.

The surface crosses only active cells of the code lattice, so the field is evaluated there alone:
first at half the lattice spacing on every active cell, then at a quarter (or finer) only in the
sub-cells whose values say the surface may pass within them. Every other node of the output grid
takes its sign from the nodes' inside/outside bits (trilinear, so it is right away from the
surface), which is all marching cubes needs there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from cadfinder.deepsdf.meshing import grid_to_mesh
from cadfinder.implicit import grid as G
from cadfinder.implicit.codes import Field, PartCodes

__all__ = ["decode_grid", "grid_to_mesh", "codes_to_mesh"]

BATCH = 65536


def _evaluate(field: Field, pts: np.ndarray) -> np.ndarray:
    out = np.empty(len(pts), np.float32)
    for s in range(0, len(pts), BATCH):
        out[s : s + BATCH] = field(pts[s : s + BATCH]).float().cpu().numpy()
    return out


def _upsample(grid: np.ndarray, res: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(grid, np.float32))[None, None]
    return F.interpolate(t, size=(res,) * 3, mode="trilinear", align_corners=True)[0, 0].numpy()


def _cell_nodes(cells: np.ndarray, res: int, per_cell: int) -> np.ndarray:
    """(K, 3) unique nodes of a res^3 grid that are corners of the given cells, each cell refined
    into per_cell^3 (cell c covers nodes per_cell * c .. per_cell * c + per_cell)."""
    mask = np.zeros((res,) * 3, bool)
    for d in np.stack(np.meshgrid(*(np.arange(per_cell + 1),) * 3, indexing="ij"), axis=-1).reshape(-1, 3):
        mask[cells[:, 0] * per_cell + d[0], cells[:, 1] * per_cell + d[1], cells[:, 2] * per_cell + d[2]] = True
    return np.argwhere(mask)


def decode_grid(field: Field, res: int = 129, stats: dict | None = None) -> np.ndarray:
    """(res, res, res) signed distances on the grid over [-1, 1]^3 (canonical units).

    `res` must be 2^k * (G - 1) + 1 with k >= 0 (for G = 33: 33, 65, 129, 257)."""
    codes = field.codes
    lat = codes.lattice
    g1 = lat.size - 1
    factor = (res - 1) // g1
    if factor * g1 + 1 != res or factor < 1 or factor & (factor - 1):
        raise ValueError(f"resolution {res} is not 2^k * {g1} + 1 for this part's {lat.size}^3 lattice")
    h = lat.spacing
    far = np.where(codes.inside, -h, h).astype(np.float32).reshape((lat.size,) * 3)
    # Active cells of the code lattice: those whose eight corners all hold codes.
    has = np.zeros(lat.size**3, bool)
    has[codes.nodes] = True
    has = has.reshape((lat.size,) * 3)
    cells = np.ones((g1,) * 3, bool)
    for c in G.CORNERS:
        cells &= has[c[0] : c[0] + g1, c[1] : c[1] + g1, c[2] : c[2] + g1]
    cells = np.argwhere(cells)
    evaluated = 0
    grid, f = far, 1
    per_cell = 1 if factor == 1 else 2
    while True:
        f *= per_cell
        r = g1 * f + 1
        fine = _upsample(grid, r) if r != grid.shape[0] else grid.copy()
        nodes = _cell_nodes(cells, r, per_cell)
        t = np.linspace(-1.0, 1.0, r, dtype=np.float32)
        fine[nodes[:, 0], nodes[:, 1], nodes[:, 2]] = _evaluate(field, np.stack([t[nodes[:, 0]], t[nodes[:, 1]],
                                                                                  t[nodes[:, 2]]], axis=1))
        evaluated += len(nodes)
        grid = fine
        if f >= factor:
            break
        # Sub-cells of this level the surface may cross: a sign change, or a corner nearer than
        # half the sub-cell's diagonal (every point of a cell lies that close to one corner).
        kids = (cells[:, None, :] * 2 + G.CORNERS[None]).reshape(-1, 3)
        corner_vals = np.stack([fine[kids[:, 0] + c[0], kids[:, 1] + c[1], kids[:, 2] + c[2]] for c in G.CORNERS],
                               axis=1)
        near = (np.abs(corner_vals).min(axis=1) < 2.0 / (r - 1) * np.sqrt(3) / 2) | (
            (corner_vals.min(axis=1) < 0) & (corner_vals.max(axis=1) > 0))
        cells = kids[near]
    if stats is not None:
        stats["evaluated"] = evaluated
        stats["dense"] = res**3
    return grid


def codes_to_mesh(model, codes: PartCodes | bytes, res: int = 129, stats: dict | None = None) -> trimesh.Trimesh:
    """The part's implicit surface in its canonical frame (codes, or their stored bytes)."""
    if not isinstance(codes, PartCodes):
        codes = PartCodes.from_bytes(codes)
    return grid_to_mesh(decode_grid(Field(model, codes), res, stats))
