"""Nearest-neighbour queries over a fixed point set: the re-rank's inner loop.

A thin wrapper of pykdtree's KD-tree with scipy's cKDTree interface as the re-rank uses it
(`data`, `query(x, k)` -> distances and indices). Measured side by side on the re-rank's own
queries (a part's 4,096-point surface sample, 600-8,000 query points, k 1 and 8; 2-core CPU):
pykdtree 0.07-3.1 ms, small_gicp's KdTree 0.09-4.2 ms, scipy's cKDTree 0.21-7.0 ms; building
a tree 0.23 ms against 0.59 ms. pykdtree parallelises a query with OpenMP.
"""

from __future__ import annotations

import numpy as np
from pykdtree.kdtree import KDTree


class NearestTree:
    """Nearest neighbours among `data` (N, 3) points."""

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data, dtype=np.float64)
        self._tree = KDTree(self.data)
        self._grid = None

    @property
    def grid(self):
        """The same points' look-up table of approximate nearest neighbours
        (geometry.nearest_grid), made on first use and kept with the tree."""
        if self._grid is None:
            from cadfinder.geometry.nearest_grid import NearestGrid

            self._grid = NearestGrid.of(self)
        return self._grid

    def query(self, x: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of the k nearest points to each of x (n, 3): (n,) arrays for
        k = 1, else (n, k), nearest first."""
        dist, idx = self._tree.query(np.ascontiguousarray(x, dtype=np.float64), k)
        return dist, idx.astype(np.intp)

    def __len__(self) -> int:
        return len(self.data)
