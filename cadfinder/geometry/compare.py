"""Comparing shapes: two point samples in one frame (the re-rank's check), and two parts in any
pose, size and handedness (the duplicate analysis)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import trimesh
from scipy.spatial import cKDTree


def shape_distance(a: np.ndarray, b: np.ndarray, stride: int = 1, a_tree: cKDTree | None = None,
                   b_tree: cKDTree | None = None) -> float:
    """Symmetric mean nearest-neighbour distance: the larger of a->b and b->a, each measured from
    every `stride`-th point (trees may be passed in when the caller has them)."""
    a_tree = a_tree or cKDTree(a)
    b_tree = b_tree or cKDTree(b)
    return float(max(b_tree.query(a[::stride])[0].mean(), a_tree.query(b[::stride])[0].mean()))


def surface_moments(mesh: trimesh.Trimesh) -> tuple[np.ndarray, float]:
    """The (3,) area-weighted centroid of a mesh's surface and its RMS radius about it, exact
    (integrated over the triangles: a sample's estimates move by a few per cent between two
    samplings, which was the floor under every copy's distance)."""
    t = np.asarray(mesh.triangles, dtype=np.float64)
    area = np.asarray(mesh.area_faces, dtype=np.float64)
    total = area.sum()
    if not total > 0:
        raise ValueError("degenerate mesh: no surface area")
    c = (area[:, None] * t.mean(axis=1)).sum(axis=0) / total
    d = t - c
    s = d.sum(axis=1)
    # the integral of |x|^2 over a triangle: area / 12 * (sum |v_i|^2 + |v_0 + v_1 + v_2|^2)
    second = (area * ((d**2).sum(axis=(1, 2)) + (s**2).sum(axis=1)) / 12).sum() / total
    return c, float(np.sqrt(second))


@dataclass
class Shape:
    """A part as the duplicate analysis compares it, scaled to its own surface: centred on its
    surface centroid, RMS radius 1. points, normals: (N, 3) area-weighted surface sample; mesh:
    its exact tessellation in the same frame; size_mm: its RMS radius in millimetres."""

    points: np.ndarray
    normals: np.ndarray
    mesh: trimesh.Trimesh
    size_mm: float

    @cached_property
    def tree(self):
        """A NearestTree over `points`, built on first use (a part is in several pairs)."""
        from cadfinder.geometry.nearest import NearestTree

        return NearestTree(self.points)

    @cached_property
    def surface(self):
        """Distances to `mesh` (an sdf.MeshDistance), built on first use."""
        from cadfinder.geometry.sdf import MeshDistance

        return MeshDistance(self.mesh)

    @staticmethod
    def of(points: np.ndarray, normals: np.ndarray, mesh: trimesh.Trimesh, mm_per_unit: float = 1.0) -> "Shape":
        """From a sample and a mesh in one frame (any unit; `mm_per_unit` converts it)."""
        c, r = surface_moments(mesh)
        return Shape((np.asarray(points, float) - c) / r, np.asarray(normals, float),
                     trimesh.Trimesh((mesh.vertices - c) / r, mesh.faces, process=False), r * float(mm_per_unit))


@dataclass
class SurfaceMatch:
    """Two parts compared under any rotation: distances in RMS radii of the parts (each scaled to
    its own surface's RMS radius 1); `mirrored_distance` compares the first part's mirror image;
    the size ratio is the larger RMS radius over the smaller, in mm."""

    distance: float
    mirrored_distance: float
    size_ratio: float


FIT_POINTS = 300  # points of A that are fitted (of its area-weighted half)
START_STEPS, FIT_STEPS, KEEP_STARTS = 2, 10, 2
MIRROR = np.diag([-1.0, 1.0, 1.0])
ROUND = 0.85  # two principal variances within this ratio: their axes are set by sampling noise
_TURNS = np.radians([0.0, 15.0, 30.0, 45.0, 60.0, 75.0])  # about an axis of symmetry (90 degree steps are in the flips)


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


def match_surfaces(a: Shape, b: Shape, mirror_below: float = np.inf) -> SurfaceMatch:
    """Compare part A with part B in any pose, at any size, and A's mirror image with B.

    A's sample is registered onto B's (`_fit`); the distance is then measured against the exact
    meshes: the mean distance of A's points from B's surface and of B's points from A's surface
    (B's points taken back into A's frame, which a rigid motion and a mirror leave distances
    unchanged by), the larger of the two (open3d's RaycastingScene). The mirror image is tried
    only when the direct distance is at least `mirror_below` (its distance is inf otherwise).
    """
    distances = []
    for handed in (np.eye(3), MIRROR):
        if handed is MIRROR and distances[0] < mirror_below:
            distances.append(float("inf"))
            break
        src = a.points @ handed
        rot, trans = _fit(src, b.points, b.normals, b.tree)
        there = float(b.surface.unsigned(src @ rot.T + trans).mean())
        back = float(a.surface.unsigned((b.points - trans) @ rot @ handed).mean())
        distances.append(max(there, back))
    sizes = sorted((a.size_mm, b.size_mm))
    return SurfaceMatch(distances[0], distances[1], sizes[1] / max(sizes[0], 1e-12))
