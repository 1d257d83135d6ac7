"""Parametric adaptation: fit a retrieved genome's numeric parameters (within their bounds, same
topology) so that its instantiated part matches a query point cloud or mesh.

Derivative-free: Nelder-Mead over the continuous parameters scaled to [0, 1], on the
symmetric point-to-plane Chamfer distance (mm) between the query and the open-kernel instance
(reported as well: the plain point-to-point Chamfer). Integer
parameters (counts of holes, teeth, knuckles) are kept: they define the topology. The query is
first put into the part's frame by a rigid fit (point-to-plane ICP) and the fit is refined
as the shape changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cadfinder.errors import CadfinderError

QUERY_POINTS = 20_000
PART_POINTS = 20_000  # dense, so the sampling itself adds little to the distance
FAILED = 1e6  # objective for parameter sets the kernel cannot build
TRUST = 1.5


@dataclass
class Adaptation:
    genome: dict
    before_mm: float
    after_mm: float
    evaluations: int
    seconds: float
    changed: dict = field(default_factory=dict)  # parameter -> (old, new)
    query_in_part_frame: np.ndarray | None = None
    fit_before_mm: float = 0.0  # the objective: point-to-plane Chamfer
    fit_after_mm: float = 0.0

    @property
    def improvement(self) -> float:
        return self.before_mm / max(self.after_mm, 1e-9)

    def as_dict(self) -> dict:
        return {"chamfer_before_mm": round(self.before_mm, 4), "chamfer_after_mm": round(self.after_mm, 4),
                "improvement": round(self.improvement, 2), "plane_chamfer_before_mm": round(self.fit_before_mm, 4),
                "plane_chamfer_after_mm": round(self.fit_after_mm, 4), "evaluations": self.evaluations,
                "seconds": round(self.seconds, 1),
                "changed": {k: [round(a, 4), round(b, 4)] for k, (a, b) in self.changed.items()}}


def free_parameters(genome: dict) -> list[str]:
    """Continuous parameters with finite bounds (what adaptation may change)."""
    out = []
    for k, p in genome.get("parameters", {}).items():
        if p.get("integer") or p.get("unit") == "count":
            continue
        if isinstance(p.get("min"), (int, float)) and isinstance(p.get("max"), (int, float)) and p["max"] > p["min"]:
            out.append(k)
    return out


def open_kernel_mesh(genome: dict):
    """The genome built by the open kernel, tessellated (trimesh, mm)."""
    from cadfinder.genome.instantiate import instantiate

    return instantiate(genome).mesh()


def _sample(genome: dict, n: int, seed: int = 0, instancer=open_kernel_mesh):
    import trimesh

    mesh = instancer(genome)
    pts, idx = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(pts), np.asarray(mesh.face_normals[idx])


def _chamfer(q: np.ndarray, p: np.ndarray) -> float:
    """Symmetric point-to-point Chamfer distance (mm)."""
    return float((cKDTree(p).query(q)[0].mean() + cKDTree(q).query(p)[0].mean()) / 2)


def estimate_normals(pts: np.ndarray, k: int = 12) -> np.ndarray:
    """Unit normals of a point cloud from its k nearest neighbours (sign does not matter here)."""
    _, idx = cKDTree(pts).query(pts, k=min(k, len(pts)))
    nb = pts[idx] - pts[idx].mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", nb, nb))
    return vecs[:, :, 0]


def plane_chamfer(q: np.ndarray, qn: np.ndarray, q_tree: cKDTree, p: np.ndarray, pn: np.ndarray) -> float:
    """Symmetric point-to-plane Chamfer (mm): each point's distance to the tangent plane at its
    nearest neighbour on the other side. Unlike point-to-point distances it does not grow with
    the sample spacing, so two samplings of the same surface score ~0."""
    i = cKDTree(p).query(q)[1]
    to_part = np.abs(np.einsum("ij,ij->i", q - p[i], pn[i]))
    j = q_tree.query(p)[1]
    to_query = np.abs(np.einsum("ij,ij->i", p - q[j], qn[j]))
    return float((to_part.mean() + to_query.mean()) / 2)


def _align(query: np.ndarray, pts: np.ndarray, normals: np.ndarray, own_frame: bool):
    """Rigid fit of the query onto the part (metric: the query is in mm); returns the moved query."""
    from cadfinder.geometry.normalize import pca_frames, register

    if own_frame:  # a query exported from CAD or made in the part's frame: keep it unless ICP finds better
        starts = [(np.eye(3), np.zeros(3))]
    else:
        starts = []
    tree = cKDTree(pts)
    fit = register(query, pts, dst_normals=normals, dst_tree=tree, with_scale=False, scale=1.0,
                   src_frame=pca_frames(query)[0], dst_frame=pca_frames(pts)[0], extra_starts=starts)
    return fit.apply(query)


def adapt(genome: dict, query: np.ndarray, max_evaluations: int = 150, seed: int = 0,
          progress=None, instancer=open_kernel_mesh) -> Adaptation:
    """Fit the genome to the query (mm). `progress(evaluations, best_chamfer)` after each evaluation.
    `instancer(genome)` builds a parameter set as a mesh (mm): the open kernel, or Creo
    (creo_backend.CreoInstancer) for a part whose feature tree only Creo rebuilds; it raises
    GenomeError for a set that does not build."""
    import functools
    import copy

    from scipy.optimize import minimize

    from cadfinder.genome.instantiate import GenomeError

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    q = np.asarray(query, float)
    if len(q) > QUERY_POINTS:
        q = q[rng.choice(len(q), QUERY_POINTS, replace=False)]
    names = free_parameters(genome)
    if not names:
        raise CadfinderError("this genome has no continuous parameters with bounds to adapt")
    v0 = np.array([genome["parameters"][k]["value"] for k in names], float)
    # Search within the genome's bounds and within a factor TRUST of the retrieved values: an
    # adaptation stays near the part that was found (and cannot swap, say, a bore with an outside).
    lo = np.maximum([genome["parameters"][k]["min"] for k in names], v0 / TRUST)
    hi = np.minimum([genome["parameters"][k]["max"] for k in names], v0 * TRUST)
    hi = np.maximum(hi, lo + 1e-6)
    x0 = (v0 - lo) / (hi - lo)
    _sample_ = functools.partial(_sample, instancer=instancer)
    pts, nrm = _sample_(genome, PART_POINTS)
    aligned = _align(q, pts, nrm, own_frame=True)
    q = aligned if _chamfer(aligned, pts) < _chamfer(q, pts) else q
    state = {"q": q, "qn": estimate_normals(q), "qt": cKDTree(q)}

    def fit(p, pn):
        return plane_chamfer(state["q"], state["qn"], state["qt"], p, pn)

    before = fit(pts, nrm)
    before_p2p = _chamfer(q, pts)
    state |= {"n": 0, "best": before, "best_x": x0.copy()}

    def make(x):
        g = copy.deepcopy(genome)
        for k, v, a, b in zip(names, np.clip(x, 0, 1), lo, hi):
            g["parameters"][k]["value"] = round(float(a + v * (b - a)), 4)
        return g

    def objective(x):
        state["n"] += 1
        if np.any(x < -1e-9) or np.any(x > 1 + 1e-9):
            return FAILED + float(np.sum(np.clip(-x, 0, None) + np.clip(x - 1, 0, None)))
        try:
            p, pn = _sample_(make(x), PART_POINTS)
        except (GenomeError, ValueError, RuntimeError):
            return FAILED
        c = fit(p, pn)
        if c < state["best"]:
            state["best"], state["best_x"] = c, x.copy()
        if progress:
            progress(state["n"], state["best"])
        return c

    # Nelder-Mead in two rounds (a local search from the retrieved values, first steps 10% of
    # each range); after the first round the query's pose is re-fitted to the improved shape.
    for round_, share in enumerate((0.6, 0.4)):
        budget = max(10, int(max_evaluations * share))
        start = state["best_x"].copy()
        simplex = [start] + [np.clip(start + 0.1 * (1 if start[i] < 0.9 else -1) * np.eye(len(names))[i], 0, 1)
                             for i in range(len(names))]
        minimize(objective, start, method="Nelder-Mead",
                 options={"maxfev": budget, "initial_simplex": np.array(simplex), "xatol": 1e-3, "fatol": 1e-4})
        if round_ == 0:
            p, n = _sample_(make(state["best_x"]), PART_POINTS)
            realigned = _align(state["q"], p, n, own_frame=True)
            if _chamfer(realigned, p) < _chamfer(state["q"], p):
                state |= {"q": realigned, "qn": estimate_normals(realigned), "qt": cKDTree(realigned)}
                state["best"] = fit(p, n)
    best = make(state["best_x"])
    changed = {k: (genome["parameters"][k]["value"], best["parameters"][k]["value"]) for k in names
               if abs(genome["parameters"][k]["value"] - best["parameters"][k]["value"]) > 1e-6}
    after_p2p = _chamfer(state["q"], _sample_(best, PART_POINTS, seed=1)[0])
    return Adaptation(best, before_p2p, after_p2p, state["n"], time.perf_counter() - t0, changed, state["q"],
                      before, state["best"])
