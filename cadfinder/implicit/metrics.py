"""How faithfully a decoded surface reproduces a part: distances, topology and through-holes.

All inputs are meshes in the same frame (the part's canonical frame, or millimetres); distances
come back in the mesh's units and as a percentage of the exact part's bounding-box diagonal.

- Distances are point-to-triangle (not point-to-point: with 50,000 samples on a large part the
  spacing between samples alone would be as large as the errors measured): Chamfer distance is
  the mean of the two one-sided mean distances, the 95th percentile is over both sides pooled.
- Genus: of the largest connected component (by area), from its Euler characteristic.
- Through-holes: what a designer sees through the part along each of its three axes. Rays cast
  along an axis on a fine grid give a silhouette; a region where rays pass through the part's
  silhouette without hitting it (a miss enclosed by hits) is a through-hole, its diameter the
  largest circle inscribed in it (a slot's width). A hole is kept when the decoded surface lets
  at least `KEPT_FRACTION` of the exact hole's rays through, enclosed as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import ndimage

SAMPLES = 50_000
HOLE_PIXELS = 400  # rays per side of each axis' grid: 0.25 % of the diagonal of a cube's face
KEPT_FRACTION = 0.3
MIN_HOLE_PIXELS = 3  # inscribed diameter, in pixels, below which an enclosed miss is noise


def _scene(mesh: trimesh.Trimesh):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    return scene


def point_to_mesh(points: np.ndarray, mesh: trimesh.Trimesh, scene=None) -> np.ndarray:
    """(N,) unsigned distance from each point (N, 3) to the mesh's triangles."""
    import open3d as o3d

    scene = scene or _scene(mesh)
    return scene.compute_distance(o3d.core.Tensor(np.asarray(points, np.float32))).numpy().astype(np.float64)


def diagonal(mesh: trimesh.Trimesh) -> float:
    lo, hi = mesh.bounds
    return float(np.linalg.norm(hi - lo))


def surface_distances(exact: trimesh.Trimesh, decoded: trimesh.Trimesh, n: int = SAMPLES,
                      seed: int = 0) -> dict:
    """Chamfer distance, 95th percentile and maximum, both in mesh units and % of the diagonal."""
    a, _ = trimesh.sample.sample_surface(exact, n, seed=seed)
    b, _ = trimesh.sample.sample_surface(decoded, n, seed=seed + 1)
    d_ab = point_to_mesh(a, decoded)
    d_ba = point_to_mesh(b, exact)
    both = np.concatenate([d_ab, d_ba])
    diag = diagonal(exact)
    chamfer = float((d_ab.mean() + d_ba.mean()) / 2)
    p95 = float(np.percentile(both, 95))
    return {"chamfer": chamfer, "p95": p95, "max": float(both.max()),
            "chamfer_pct": 100 * chamfer / diag, "p95_pct": 100 * p95 / diag}


def genus(mesh: trimesh.Trimesh) -> int | None:
    """Genus of the largest connected component (None if it is not a closed surface)."""
    parts = mesh.split(only_watertight=False)
    if not len(parts):
        return None
    big = max(parts, key=lambda m: m.area)
    if not big.is_watertight:
        return None
    return int(round((2 - big.euler_number) / 2))


@dataclass
class HoleMap:
    """Where the rays along one axis pass through the part's silhouette."""

    axis: int
    origin: np.ndarray  # (2,) lower corner of the ray grid in the two other axes
    pixel: float  # ray spacing, mesh units
    enclosed: np.ndarray  # (P, P) bool: rays that miss and are enclosed by rays that hit
    labels: np.ndarray  # (P, P) int: connected enclosed regions (0: none)
    diameters: np.ndarray  # (n_regions,) inscribed diameter of each region, mesh units


def hole_map(mesh: trimesh.Trimesh, axis: int, bounds: np.ndarray, pixels: int = HOLE_PIXELS,
             scene=None) -> HoleMap:
    """Cast a pixels x pixels grid of rays along `axis` over `bounds` ((2, 3): the exact part's box,
    so that the decoded and exact maps share their grid)."""
    import open3d as o3d

    scene = scene or _scene(mesh)
    other = [k for k in range(3) if k != axis]
    lo, hi = bounds[0], bounds[1]
    side = float(max(hi[other] - lo[other])) * 1.04
    pixel = side / pixels
    centre = (lo + hi) / 2
    origin = centre[other] - side / 2
    u = origin[0] + (np.arange(pixels) + 0.5) * pixel
    v = origin[1] + (np.arange(pixels) + 0.5) * pixel
    uu, vv = np.meshgrid(u, v, indexing="ij")
    rays = np.zeros((pixels * pixels, 6), np.float32)
    rays[:, other[0]] = uu.ravel()
    rays[:, other[1]] = vv.ravel()
    rays[:, axis] = lo[axis] - 0.1 * (hi[axis] - lo[axis]) - 1e-3
    rays[:, 3 + axis] = 1.0
    hit = np.isfinite(scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()).reshape(pixels, pixels)
    miss = ~hit
    labels, n = ndimage.label(miss)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = miss & ~np.isin(labels, border)
    labels, n = ndimage.label(enclosed)
    dist = ndimage.distance_transform_edt(enclosed)
    diam = (np.asarray(ndimage.maximum(dist, labels, np.arange(1, n + 1))) * 2 * pixel) if n else np.zeros(0)
    return HoleMap(axis, origin, pixel, enclosed, labels, np.atleast_1d(diam).astype(float))


@dataclass
class Hole:
    axis: int
    diameter: float  # inscribed, mesh units
    pixels: np.ndarray  # (P, P) bool mask on the axis' ray grid


def through_holes(mesh: trimesh.Trimesh, min_diameter: float, pixels: int = HOLE_PIXELS) -> list[Hole]:
    """The through-holes of a part seen along its three axes, at least `min_diameter` across."""
    scene = _scene(mesh)
    bounds = np.asarray(mesh.bounds, float)
    holes = []
    for axis in range(3):
        hm = hole_map(mesh, axis, bounds, pixels, scene)
        for k, d in enumerate(hm.diameters):
            if d >= min_diameter and d >= MIN_HOLE_PIXELS * hm.pixel:
                holes.append(Hole(axis, float(d), hm.labels == k + 1))
    return holes


def holes_kept(holes: list[Hole], exact: trimesh.Trimesh, decoded: trimesh.Trimesh,
               pixels: int = HOLE_PIXELS) -> list[bool]:
    """For each exact through-hole: does the decoded surface let its rays through?"""
    if not holes:
        return []
    scene = _scene(decoded)
    bounds = np.asarray(exact.bounds, float)
    maps = {a: hole_map(decoded, a, bounds, pixels, scene) for a in {h.axis for h in holes}}
    return [bool((maps[h.axis].enclosed & h.pixels).sum() >= KEPT_FRACTION * h.pixels.sum()) for h in holes]


HOLE_MIN_DIAGONAL_FRACTION = 0.02  # the target: every through-hole >= 2 % of the diagonal


def compare(exact: trimesh.Trimesh, decoded: trimesh.Trimesh | None, seed: int = 0,
            holes: list[Hole] | None = None) -> dict:
    """Every figure of `cadfinder eval recon` for one part (decoded None: nothing was decoded)."""
    diag = diagonal(exact)
    if holes is None:
        holes = through_holes(exact, HOLE_MIN_DIAGONAL_FRACTION * diag)
    g_exact = genus(exact)
    row = {"genus_exact": g_exact, "holes": len(holes)}
    if decoded is None or len(decoded.faces) == 0:
        return row | {"genus_decoded": None, "genus_match": False, "holes_kept": 0, "chamfer_pct": float("nan"),
                      "p95_pct": float("nan")}
    kept = holes_kept(holes, exact, decoded)
    g_dec = genus(decoded)
    return row | {"genus_decoded": g_dec, "genus_match": g_dec == g_exact, "holes_kept": int(sum(kept)),
                  **surface_distances(exact, decoded, seed=seed)}
