"""How well an instantiated genome matches the part's implicit shape and the designer's query:
Chamfer distance, 95th percentile and maximum deviation in millimetres.

Against the implicit shape the distances are point-to-triangle both ways
(`implicit.metrics.surface_distances`): the decoded implicit form now lies within a few tenths of
a millimetre of the part, closer than a point sample of either surface is dense."""

from __future__ import annotations

import numpy as np

SAMPLES = 20_000


def compare_to_implicit(instance_mesh, implicit_mesh) -> dict:
    """Chamfer (mean of both one-sided mean distances), 95th percentile and maximum, in the
    meshes' units (mm)."""
    from cadfinder.implicit.metrics import surface_distances

    d = surface_distances(instance_mesh, implicit_mesh, n=SAMPLES)
    return {"chamfer_mm": d["chamfer"], "p95_deviation_mm": d["p95"], "max_deviation_mm": d["max"]}


def validate(instance_mesh, implicit_mesh=None, query_points: np.ndarray | None = None) -> dict:
    """Deviation of the instantiated B-rep's tessellation from the implicit shape (its decoded codes,
    in mm) and, when given, from the query points (already in the part's frame)."""
    from cadfinder.implicit.metrics import point_to_mesh

    out = {}
    if implicit_mesh is not None:
        out["vs_implicit"] = compare_to_implicit(instance_mesh, implicit_mesh)
    if query_points is not None and len(query_points):
        d = point_to_mesh(query_points, instance_mesh)
        out["vs_query"] = {"mean_mm": float(d.mean()), "max_deviation_mm": float(d.max()),
                           "p95_deviation_mm": float(np.percentile(d, 95))}
    return out
