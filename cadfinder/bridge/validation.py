"""How well an instantiated genome matches the part's implicit shape and the designer's query:
Chamfer distance and maximum deviation in millimetres."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

SAMPLES = 20_000


def surface_points(mesh, n: int = SAMPLES, seed: int = 0) -> np.ndarray:
    import trimesh

    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(pts)


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Symmetric Chamfer (mean of both one-sided mean distances) and Hausdorff, same units as input."""
    da = cKDTree(b).query(a)[0]
    db = cKDTree(a).query(b)[0]
    return {"chamfer_mm": float((da.mean() + db.mean()) / 2), "max_deviation_mm": float(max(da.max(), db.max())),
            "p95_deviation_mm": float(np.percentile(np.concatenate([da, db]), 95))}


def validate(instance_mesh, implicit_mesh=None, query_points: np.ndarray | None = None) -> dict:
    """Deviation of the instantiated B-rep's tessellation from the implicit shape (decoded latent,
    in mm) and, when given, from the query points (already in the part's frame)."""
    inst = surface_points(instance_mesh)
    out = {}
    if implicit_mesh is not None:
        out["vs_implicit"] = compare(inst, surface_points(implicit_mesh, seed=1))
    if query_points is not None and len(query_points):
        d = cKDTree(inst).query(query_points)[0]
        out["vs_query"] = {"mean_mm": float(d.mean()), "max_deviation_mm": float(d.max()),
                           "p95_deviation_mm": float(np.percentile(d, 95))}
    return out
