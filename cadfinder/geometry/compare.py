"""Comparing two shapes given as point samples in the same frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


def shape_distance(a: np.ndarray, b: np.ndarray, stride: int = 1, a_tree: cKDTree | None = None,
                   b_tree: cKDTree | None = None) -> float:
    """Symmetric mean nearest-neighbour distance: the larger of a->b and b->a, each measured from
    every `stride`-th point (trees may be passed in when the caller has them)."""
    a_tree = a_tree or cKDTree(a)
    b_tree = b_tree or cKDTree(b)
    return float(max(b_tree.query(a[::stride])[0].mean(), a_tree.query(b[::stride])[0].mean()))


def surface_distance(a: np.ndarray, a_normals: np.ndarray, b: np.ndarray, b_normals: np.ndarray,
                     near: float = 0.1, quantile: float | None = None) -> float:
    """Symmetric mean point-to-surface distance of two surface samples in one frame.

    Each point's distance is to the tangent plane of its nearest sample on the other surface
    (where that sample lies within `near`; farther, the plain distance), so two different samplings
    of one surface measure close to zero instead of the samples' spacing. (N, 3) and (M, 3)
    points with unit normals; the distance is in their unit.
    """
    def one_way(x, tree, y, y_normals):
        d, i = tree.query(x)
        plane = np.abs(((x - y[i]) * y_normals[i]).sum(axis=1))
        d = np.where(d < near, plane, d)
        return float(d.mean() if quantile is None else np.quantile(d, quantile))

    from cadfinder.geometry.nearest import NearestTree

    return max(one_way(a, NearestTree(b), b, b_normals), one_way(b, NearestTree(a), a, a_normals))


@dataclass
class SurfaceMatch:
    """Two parts compared under any rotation: distances in RMS radii of the parts (each scaled to
    its own RMS radius 1); `mirrored_distance` compares the first part's mirror image; the
    size ratio is the larger RMS radius over the smaller, in mm."""

    distance: float
    mirrored_distance: float
    size_ratio: float


FIT_POINTS = 300  # points of A that are fitted (of its area-weighted half)
START_STEPS, FIT_STEPS, KEEP_STARTS = 2, 10, 2
MIRROR = np.diag([-1.0, 1.0, 1.0])
ROUND = 0.85  # two principal variances within this ratio: their axes are set by sampling noise
_TURNS = np.radians([0.0, 30.0, 60.0])  # about an axis of symmetry (90 degree steps are in the flips)


def _unit_rms(p: np.ndarray) -> np.ndarray:
    c = p - p.mean(axis=0)
    return c / np.sqrt((c**2).sum(axis=1).mean())


def _principal(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3) principal axes as columns (largest variance first, right-handed) and their (3,)
    variances, of points centred on the origin."""
    var, axes = np.linalg.eigh(p.T @ p / len(p))
    axes = axes[:, ::-1].copy()
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    return axes, var[::-1]


def _starts(axes_a: np.ndarray, var_a: np.ndarray, axes_b: np.ndarray) -> np.ndarray:
    """(H, 3, 3) rotations taking A's principal axes onto B's: the four proper sign flips, with the
    axes of nearly equal variance also swapped and turned (a turned part's two other axes are set
    by sampling noise, and holes around its axis can hold ICP in a wrong turn)."""
    import itertools

    from scipy.spatial.transform import Rotation

    perms, turn_axes = [(0, 1, 2)], []
    for i, j, k in ((0, 1, 2), (1, 2, 0)):
        if var_a[j] > ROUND * var_a[i]:
            p = [0, 1, 2]
            p[i], p[j] = j, i
            perms.append(tuple(p))
            turn_axes.append(k)
    if len(turn_axes) == 2:  # round all over: any axis may be any
        perms = list(itertools.permutations(range(3)))
    out = []
    for perm, signs in itertools.product(perms, itertools.product((1, -1), repeat=2)):
        m = np.zeros((3, 3))
        m[range(3), perm] = (*signs, 1)
        if np.linalg.det(m) < 0:
            m[2] *= -1
        for k in turn_axes or [None]:
            for angle in _TURNS if k is not None else (0.0,):
                turn = Rotation.from_rotvec(angle * np.eye(3)[k]).as_matrix() if k is not None else np.eye(3)
                out.append(axes_b @ turn @ m @ axes_a.T)
    return np.array(out)


def _fit(src: np.ndarray, b: np.ndarray, b_normals: np.ndarray, tree) -> np.ndarray:
    """The rotation that best lays src (N, 3) onto b by trimmed point-to-plane ICP from the
    principal-axis starts (both centred, both RMS radius 1)."""
    from cadfinder.geometry.normalize import icp

    axes_a, var_a = _principal(src)
    axes_b, _ = _principal(b)
    rot = _starts(axes_a, var_a, axes_b)
    x = src[np.random.default_rng(0).choice(len(src), min(FIT_POINTS, len(src)), replace=False)]
    trans = np.zeros((len(rot), 3))
    rot, trans, res = icp(x, rot, trans, np.ones(len(rot)), tree, b_normals, START_STEPS)
    top = np.argsort(res)[:KEEP_STARTS]
    rot, trans, res = icp(x, rot[top], trans[top], np.ones(len(top)), tree, b_normals, FIT_STEPS)
    best = int(np.argmin(res))
    return rot[best], trans[best]


def match_surfaces(a: np.ndarray, a_normals: np.ndarray, b: np.ndarray, b_normals: np.ndarray,
                   a_size: float, b_size: float, mirror_below: float = np.inf) -> SurfaceMatch:
    """Compare part A with part B in any pose, at any size, and A's mirror image with B.

    a, b: (N, 3) area-weighted surface samples with unit normals, each in its own frame; a_size,
    b_size: the parts' RMS radii in mm. Both are scaled to RMS radius 1 and A is registered onto
    B (`_fit`). The mirror image is tried only when the direct distance is at least
    `mirror_below` (its distance is inf otherwise).
    """
    from cadfinder.geometry.nearest import NearestTree

    a, b = _unit_rms(np.asarray(a, float)), _unit_rms(np.asarray(b, float))
    tree = NearestTree(b)
    distances = []
    for handed in (np.eye(3), MIRROR):
        if handed is MIRROR and distances[0] < mirror_below:
            distances.append(float("inf"))
            break
        src, src_normals = a @ handed, a_normals @ handed
        rot, trans = _fit(src, b, b_normals, tree)
        distances.append(surface_distance(src @ rot.T + trans, src_normals @ rot.T, b, b_normals))
    sizes = sorted((float(a_size), float(b_size)))
    return SurfaceMatch(distances[0], distances[1], sizes[1] / max(sizes[0], 1e-12))
