"""Canonical frames: catalog parts into the unit sphere (DeepSDF), queries by PCA with hypotheses.

A `Frame` maps millimetres to canonical coordinates and back:
    canonical = ((p_mm - offset) @ rotation) / scale,   p_mm = (canonical * scale) @ rotation.T + offset
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cadfinder.geometry import kernels

# DeepSDF leaves a small margin inside the unit sphere so decoded surfaces never touch the bound.
UNIT_SPHERE_MARGIN = 1.03


@dataclass(frozen=True)
class Frame:
    offset: np.ndarray  # (3,) mm
    scale: float  # mm per canonical unit
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: canonical axes in mm frame

    def to_canonical(self, p: np.ndarray) -> np.ndarray:
        return ((np.asarray(p, dtype=np.float64) - self.offset) @ self.rotation) / self.scale

    def to_mm(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) * self.scale) @ self.rotation.T + self.offset

    def as_dict(self) -> dict:
        return {"offset": self.offset.tolist(), "scale": float(self.scale), "rotation": self.rotation.tolist()}

    @staticmethod
    def from_dict(d: dict) -> "Frame":
        return Frame(np.asarray(d["offset"], float), float(d["scale"]), np.asarray(d.get("rotation", np.eye(3)), float))


def catalog_frame(vertices: np.ndarray) -> Frame:
    """The frame DeepSDF uses for training shapes: bounding-box centre, farthest vertex at 1/1.03."""
    v = np.asarray(vertices, dtype=np.float64)
    centre = (v.min(axis=0) + v.max(axis=0)) / 2
    radius = float(np.linalg.norm(v - centre, axis=1).max())
    if radius <= 0:
        raise ValueError("degenerate geometry: all vertices coincide")
    return Frame(centre, radius * UNIT_SPHERE_MARGIN)


def _proper_sign_flips() -> list[np.ndarray]:
    flips = []
    for sx in (1, -1):
        for sy in (1, -1):
            flips.append(np.diag([sx, sy, sx * sy]).astype(float))  # det = +1
    return flips


def pca_frames(points: np.ndarray, robust_quantile: float = 0.98) -> list[Frame]:
    """Pose/scale hypotheses for a query in unknown pose: PCA axes, largest variance first.

    The first hypothesis fixes each axis sign by the skewness (third moment) of the projections;
    the other three are the remaining proper sign flips, for when skewness is unreliable
    (symmetric parts, partial scans). Scale is a high quantile of the distance from the centroid,
    which a few outliers in a scan do not move.
    """
    p = np.asarray(points, dtype=np.float64)
    centre = p.mean(axis=0)
    d = p - centre
    cov = d.T @ d / len(p)
    evals, evecs = np.linalg.eigh(cov)
    axes = evecs[:, ::-1].copy()
    proj = d @ axes
    skew = (proj**3).mean(axis=0)
    for i in range(2):
        if skew[i] < 0:
            axes[:, i] *= -1
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    radius = float(np.quantile(np.linalg.norm(d, axis=1), robust_quantile)) * UNIT_SPHERE_MARGIN
    if radius <= 0:
        raise ValueError("degenerate point cloud: all points coincide")
    return [Frame(centre, radius, axes @ f) for f in _proper_sign_flips()]


def octahedral_rotations() -> list[np.ndarray]:
    """The 24 proper rotations that map coordinate axes onto coordinate axes."""
    import itertools

    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if np.linalg.det(m) > 0:
                out.append(m)
    return out


@dataclass
class Registration:
    """dst ~ scale * src @ rotation.T + translation; residual is the trimmed mean distance."""

    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    residual: float

    def apply(self, p: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(p) @ self.rotation.T + self.translation


def _umeyama_batch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid fits for a batch: src, dst (H, K, 3) -> rotations (H, 3, 3), translations (H, 3)."""
    mu_s, mu_d = src.mean(1, keepdims=True), dst.mean(1, keepdims=True)
    cov = np.einsum("hki,hkj->hij", dst - mu_d, src - mu_s)
    u, _, vt = np.linalg.svd(cov)
    d = np.ones((len(src), 3))
    d[:, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ (d[:, :, None] * vt)
    return rot, mu_d[:, 0] - np.einsum("hij,hj->hi", rot, mu_s[:, 0])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross of broadcastable (..., 3) arrays, the same products and differences without its
    axis handling (a third of its time on the re-rank's small batches, called ~5,000 times a query)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def icp(src: np.ndarray, rot: np.ndarray, trans: np.ndarray, scales: np.ndarray, tree,
        dst_normals: np.ndarray | None = None, iterations: int = 1, trim: float = 0.8
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trimmed ICP for H pose hypotheses at once: dst ~ scales[h] * src @ rot[h].T + trans[h].

    Each step makes one nearest-neighbour query for all hypotheses. With `dst_normals` the steps
    and residuals are point-to-plane, so a residual measures distance to the surface rather than
    to the nearest sample (whose spacing would otherwise set a floor under every residual). Only
    the `trim` closest fraction of pairs counts, so missing regions and outliers do not drag the
    fit. Scales stay fixed. Returns the rotations, translations and residuals after `iterations`
    steps (residual: trimmed mean distance, measured after the last step).
    """
    dst = tree.data
    x = np.asarray(src, dtype=np.float64)
    n = len(x)
    keep = max(min(6, n), int(trim * n))
    scales = np.asarray(scales, dtype=np.float64)
    if dst_normals is not None:  # compiled: kernels.icp_plane
        x, dst, dst_normals = (np.ascontiguousarray(a, dtype=np.float64) for a in (x, dst, dst_normals))
        rot, trans = np.array(rot, dtype=np.float64), np.array(trans, dtype=np.float64)
        for it in range(iterations + 1):
            moved = kernels.transform(rot, trans, scales, x)
            dist, idx = tree.query(moved.reshape(-1, 3))
            res = kernels.icp_plane(moved, dist.reshape(len(rot), n), idx.reshape(len(rot), n).astype(np.int64),
                                    dst, dst_normals, keep, 0.05, rot, trans, it < iterations)
        return rot, trans, res

    def residuals(rot, trans):
        moved = np.einsum("hij,nj->hni", rot, x) * scales[:, None, None] + trans[:, None]
        dist, idx = tree.query(moved.reshape(-1, 3))
        dist, idx = dist.reshape(len(rot), n), idx.reshape(len(rot), n)
        sel = np.argpartition(dist, keep - 1, axis=1)[:, :keep]
        return moved, idx, sel, np.take_along_axis(dist, sel, 1).mean(1)

    for _ in range(iterations):
        moved, idx, sel, _ = residuals(rot, trans)
        ps = dst[np.take_along_axis(idx, sel, 1)]
        src_sel = np.take_along_axis(np.broadcast_to(x, moved.shape) * scales[:, None, None], sel[:, :, None], 1)
        rot, trans = _umeyama_batch(src_sel, ps)
    return rot, trans, residuals(rot, trans)[3]


def register(src: np.ndarray, dst: np.ndarray, dst_normals: np.ndarray | None = None, with_scale: bool = True,
             iterations: int = 12, trim: float = 0.8, dst_tree=None, max_points: int = 300,
             start_iterations: int = 4, keep_starts: int = 4, seed: int = 0, src_frame: Frame | None = None,
             dst_frame: Frame | None = None, scale: float | None = None,
             extra_starts: list[tuple[np.ndarray, np.ndarray]] = ()) -> Registration:
    """Align a (partial) point set onto a complete one: trimmed ICP from 24 PCA-based starts.

    The starts pair the two PCA frames under every axis permutation and sign, since a partial
    scan's principal axes may come in another order than the whole part's; all starts iterate
    together (one nearest-neighbour query per step), the best `keep_starts` go on for a few
    more steps, then the best continues alone. Frames may be passed in when the caller has them
    (a query compared with many candidates).

    The steps are those of `icp` (point-to-plane with `dst_normals`, trimmed). The scale is
    `scale` when the caller knows it (a scan in real units against a part of known size), else
    the ratio of the robust PCA radii, fixed during ICP: letting a trimmed one-sided fit choose
    the scale makes it shrink the scan (measured: a 10-13% bias), since a smaller copy always
    lies closer to some surface. `extra_starts` adds (rotation, translation) poses to try, e.g. "the query is already
    in the part's own coordinates".
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    src = np.asarray(src, dtype=np.float64)
    if len(src) > max_points:
        src = src[rng.choice(len(src), max_points, replace=False)]
    dst = np.asarray(dst, dtype=np.float64)
    tree = dst_tree or cKDTree(dst)
    fs = src_frame or pca_frames(src)[0]
    fd = dst_frame or pca_frames(dst)[0]
    if scale is None:
        scale = fd.scale / fs.scale if with_scale else 1.0
    qs = np.array(octahedral_rotations())
    rot = np.einsum("ij,hjk,lk->hil", fd.rotation, qs, fs.rotation)  # A_d Q A_s^T
    trans = fd.offset[None] - np.einsum("hij,j->hi", rot, scale * fs.offset)
    if len(extra_starts):
        rot = np.concatenate([rot, np.array([r for r, _ in extra_starts])])
        trans = np.concatenate([trans, np.array([t for _, t in extra_starts])])

    def run(rot, trans, steps):
        return icp(src, rot, trans, np.full(len(rot), scale), tree, dst_normals, steps, trim)

    rot, trans, res = run(rot, trans, 2)
    top = np.argsort(res)[:keep_starts]
    rot, trans, res = run(rot[top], trans[top], max(0, start_iterations - 2))
    best = int(np.argmin(res))
    rot, trans, res = run(rot[best : best + 1], trans[best : best + 1], iterations)
    final = float(res[0])
    return Registration(rot[0], scale, trans[0], final)
