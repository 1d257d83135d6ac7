"""Comparing two shapes given as point samples in the same frame."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def shape_distance(a: np.ndarray, b: np.ndarray, stride: int = 1, a_tree: cKDTree | None = None,
                   b_tree: cKDTree | None = None) -> float:
    """Symmetric mean nearest-neighbour distance: the larger of a->b and b->a, each measured from
    every `stride`-th point (trees may be passed in when the caller has them)."""
    a_tree = a_tree or cKDTree(a)
    b_tree = b_tree or cKDTree(b)
    return float(max(b_tree.query(a[::stride])[0].mean(), a_tree.query(b[::stride])[0].mean()))
