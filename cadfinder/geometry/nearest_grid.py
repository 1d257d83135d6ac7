"""Approximate nearest neighbours by table look-up: the screen's ICP steps.

A part's surface sample (N, 3) is covered by a grid of cubic cells (CELL wide, in the sample's
units: the canonical unit sphere's). Each cell within BAND cells of a sample holds the sample
nearest its centre; a coarse grid (COARSE_CELL) holds the same for the space farther out. A
query point takes its cell's sample and its exact distance to that sample: near the surface
that sample is at most about one sample spacing from the true nearest, which is what a few
point-to-plane steps from rough poses need (the plane is the same); far from it, only how far.
A look-up costs ~12 ns against 0.1-0.5 us for a KD-tree query (geometry.nearest); the table
takes ~2 ms and ~0.2 MB, once per part (NearestTree.grid keeps it beside the tree).

Only the screen uses it: every later stage, and every cost the re-rank ranks by, queries the
exact tree. Measured side by side: docs/experiments.md, session 22.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CELL = 0.03  # fine cell width, unit-sphere units (a 4,096-point sample's spacing is ~0.03-0.04)
BAND = 2
COARSE_CELL = 0.2  # cell width of the table for points farther from the surface

_OPTS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


@njit(**_OPTS)
def _splat(points, lo, dims, cell, band, out):
    """Fills `out` (prod(dims),), -1 on entry: per fine cell, the index of the sample nearest
    its centre among the samples within `band` cells (else -1 stays)."""
    n0, n1, n2 = dims[0], dims[1], dims[2]
    best = np.full(n0 * n1 * n2, np.inf, np.float32)
    for s in range(points.shape[0]):
        p = points[s]
        c0 = int((p[0] - lo[0]) / cell)
        c1 = int((p[1] - lo[1]) / cell)
        c2 = int((p[2] - lo[2]) / cell)
        for i in range(max(c0 - band, 0), min(c0 + band + 1, n0)):
            d0 = (lo[0] + (i + 0.5) * cell - p[0]) ** 2
            for j in range(max(c1 - band, 0), min(c1 + band + 1, n1)):
                d1 = d0 + (lo[1] + (j + 0.5) * cell - p[1]) ** 2
                for k in range(max(c2 - band, 0), min(c2 + band + 1, n2)):
                    d = d1 + (lo[2] + (k + 0.5) * cell - p[2]) ** 2
                    at = (i * n1 + j) * n2 + k
                    if d < best[at]:
                        best[at] = d
                        out[at] = s
    return out


@njit(**_OPTS)
def _cell_of(x, lo, dims, cell):
    """Flat index of the cell holding x (3,), clamped into the grid."""
    c0 = min(max(int(np.floor((x[0] - lo[0]) / cell)), 0), dims[0] - 1)
    c1 = min(max(int(np.floor((x[1] - lo[1]) / cell)), 0), dims[1] - 1)
    c2 = min(max(int(np.floor((x[2] - lo[2]) / cell)), 0), dims[2] - 1)
    return (c0 * dims[1] + c1) * dims[2] + c2


@njit(**_OPTS)
def _look_up(x, points, fine, lo, dims, cell, coarse, clo, cdims, ccell):
    """Distances (n,) and indices (n,) of the looked-up sample of each of x (n, 3)."""
    n = x.shape[0]
    dist = np.empty(n)
    idx = np.empty(n, np.int64)
    for i in range(n):
        j = -1
        inside = True
        for a in range(3):
            if x[i, a] < lo[a] or x[i, a] >= lo[a] + dims[a] * cell:
                inside = False
        if inside:
            j = fine[_cell_of(x[i], lo, dims, cell)]
        if j < 0:
            j = coarse[_cell_of(x[i], clo, cdims, ccell)]
        idx[i] = j
        dist[i] = np.sqrt((x[i, 0] - points[j, 0]) ** 2 + (x[i, 1] - points[j, 1]) ** 2
                          + (x[i, 2] - points[j, 2]) ** 2)
    return dist, idx


class NearestGrid:
    """Approximate nearest samples of a point set: `data` (N, 3) and `query(x)` -> (distances
    (n,), indices (n,)), as geometry.nearest.NearestTree's k = 1. Build with `of(tree)`."""

    def __init__(self, data: np.ndarray, coarse_nearest):
        """`coarse_nearest(centres (m, 3))` -> indices (m,): exact nearest samples (a tree's)."""
        self.data = np.ascontiguousarray(data, dtype=np.float64)
        pad = (BAND + 0.5) * CELL
        self._lo = self.data.min(0) - pad
        self._dims = np.ceil((self.data.max(0) + pad - self._lo) / CELL).astype(np.int64)
        # int16 indices (a 4,096-point sample's table is ~0.2 MB), wider for larger point sets.
        index = np.int16 if len(self.data) <= np.iinfo(np.int16).max else np.int32
        self._fine = _splat(self.data, self._lo, self._dims, CELL, BAND, np.full(int(np.prod(self._dims)), -1, index))
        # The coarse table spans the fine one and a margin (points beyond it are clamped to its
        # border cells: far enough that only their distance, not their sample, matters).
        self._clo = self._lo - COARSE_CELL
        self._cdims = np.ceil((self._dims * CELL + 2 * COARSE_CELL) / COARSE_CELL).astype(np.int64)
        axes = [self._clo[a] + (np.arange(self._cdims[a]) + 0.5) * COARSE_CELL for a in range(3)]
        centres = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        self._coarse = np.asarray(coarse_nearest(centres), dtype=np.int32)

    @staticmethod
    def of(tree) -> "NearestGrid":
        """The grid of a NearestTree's points (its exact queries fill the coarse table)."""
        return NearestGrid(tree.data, lambda c: tree.query(c)[1])

    def query(self, x: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if k != 1:
            raise ValueError("a NearestGrid answers k = 1 only")
        return _look_up(np.ascontiguousarray(x, dtype=np.float64), self.data, self._fine, self._lo, self._dims, CELL,
                        self._coarse, self._clo, self._cdims, COARSE_CELL)

    def __len__(self) -> int:
        return len(self.data)
