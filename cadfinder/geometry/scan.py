"""Simulated 3D scans of a mesh: partial views with self-occlusion, sensor noise, uneven density,
random pose and scale. Used by tests, by evaluations and as training augmentation.

Visibility is a point z-buffer: dense surface samples are projected onto a pixel grid facing
the view direction and only those within a small depth tolerance of each pixel's nearest
sample survive, so far sides and cavities hidden behind walls disappear as they would for a
real structured-light or laser scanner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from cadfinder.geometry import kernels
from cadfinder.geometry.sdf import sample_surface


@dataclass(frozen=True)
class ScanSettings:
    points: int = 5000
    views: int = 1  # how many scanner positions are merged
    noise: float = 0.004  # sensor noise along the ray, as a fraction of the part's size
    grazing_dropout: bool = True  # surfaces seen at a grazing angle return fewer points
    uneven: float = 0.6  # 0: even density; 1: strongly varying density across the part
    outliers: float = 0.002  # fraction of stray points
    resolution: int = 160  # z-buffer pixels across the part
    dense: int = 100_000  # surface samples the visible points are drawn from
    random_pose: bool = False
    scale_range: tuple[float, float] = (1.0, 1.0)


@dataclass
class Scan:
    points: np.ndarray  # (N, 3): rotation @ p * scale + translation, of the visible part
    normals: np.ndarray  # (N, 3) true surface normals, in the scan's pose (for tests)
    rotation: np.ndarray  # (3, 3) applied to the part
    scale: float
    translation: np.ndarray
    view_dirs: np.ndarray  # (V, 3), in the part's own frame


def visible(points: np.ndarray, normals: np.ndarray, view_dir: np.ndarray, resolution: int) -> np.ndarray:
    """Mask of points a scanner looking along `view_dir` sees (z-buffer, orthographic); with
    view directions (H, 3), the masks (H, N) of H scanners at once.

    Each sample is drawn as a small disc in its tangent plane (a surfel) over its own pixel and
    the eight around it, so sparse samples of a front surface still hide what lies behind it;
    a sample is visible when its plane's depth at its pixel centre is the nearest there. Depths
    compared at common pixel centres keep steep surfaces visible: a point splat (one depth for
    the whole neighbourhood) hid every surface tilted more than ~55 degrees behind its own
    neighbours.
    """
    views = np.ascontiguousarray(np.atleast_2d(np.asarray(view_dir, float)))
    mask = kernels.visible(np.ascontiguousarray(points, dtype=np.float64),
                           np.ascontiguousarray(normals, dtype=np.float64), views, int(resolution))
    return mask[0] if np.ndim(view_dir) == 1 else mask


def simulate_scan(mesh: trimesh.Trimesh, settings: ScanSettings = ScanSettings(), seed: int = 0) -> Scan:
    """A partial, noisy, unevenly sampled scan of `mesh` in the given or a random pose."""
    rng = np.random.default_rng(seed)
    size = float(np.linalg.norm(mesh.extents))
    dense, normals = sample_surface(mesh, max(settings.dense, settings.points * 20), rng)
    dirs = []
    keep = np.zeros(len(dense), dtype=bool)
    for _ in range(settings.views):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        dirs.append(d)
        vis = visible(dense, normals, d, settings.resolution)
        if settings.grazing_dropout:
            cos = np.abs(normals @ d)
            vis &= rng.random(len(dense)) < 0.15 + 0.85 * cos
        keep |= vis
    if settings.uneven > 0:
        # A smooth random density field across the part: stripes of a random low frequency.
        w = rng.normal(size=3)
        phase = (dense - dense.mean(0)) @ w / size * 2 * np.pi * rng.uniform(0.5, 1.5)
        keep &= rng.random(len(dense)) < (1 - settings.uneven) + settings.uneven * (0.5 + 0.5 * np.sin(phase))
    idx = np.flatnonzero(keep)
    if len(idx) < 10:
        idx = np.flatnonzero(visible(dense, normals, dirs[0], settings.resolution))
    idx = rng.choice(idx, settings.points, replace=len(idx) < settings.points)
    pts, nrm = dense[idx], normals[idx]
    if settings.noise > 0:
        ray = np.array(dirs)[rng.integers(0, len(dirs), len(pts))]
        pts = pts + ray * rng.normal(0, settings.noise * size, (len(pts), 1))
        pts = pts + rng.normal(0, settings.noise * size * 0.3, pts.shape)
    n_out = int(settings.outliers * len(pts))
    if n_out:
        lo, hi = mesh.bounds
        pts[:n_out] = rng.uniform(lo - 0.1 * size, hi + 0.1 * size, (n_out, 3))
    rot = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix() if settings.random_pose else np.eye(3)
    scale = float(rng.uniform(*settings.scale_range))
    trans = rng.normal(0, size, 3) if settings.random_pose else np.zeros(3)
    pts = (pts @ rot.T) * scale + trans
    return Scan(pts, nrm @ rot.T, rot, scale, trans, np.array(dirs))
