"""Training data for the local-code model, cached per part and lattice size (.npz), built in
worker processes and resumable.

Per part and lattice: the active nodes, every node's inside/outside bit, the encoder's stencil
samples (exact distance and nearest-point offset on the half-spacing lattice) and target samples:
half uniform in active cells, half near the surface (Gaussian offsets of 0.002-0.02, canonical
units), with their exact signed distances.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadfinder.implicit import grid as G
from cadfinder.workers import fill_cache

CACHE_VERSION = 1
TARGET_SAMPLES = 40_000
NEAR_SIGMAS = (0.002, 0.006, 0.02)


def part_arrays(mesh, lattice: G.Lattice, distance=None, samples: int = TARGET_SAMPLES, seed: int = 0,
                cells: np.ndarray | None = None) -> dict:
    """Everything training needs of one part (canonical frame) on one lattice."""
    from cadfinder.geometry.sdf import MeshDistance, sample_surface

    md = distance or MeshDistance(mesh)
    if cells is None:
        cells = G.active_cells(lattice, md.unsigned)
    nodes = G.active_nodes(lattice, cells)
    st = G.stencil_samples(lattice, nodes, md.signed, md.closest)
    inside = md.signed(lattice.positions(lattice.unravel(np.arange(lattice.size**3)))) < 0
    rng = np.random.default_rng(seed)
    n_cell = samples // 2
    c = cells[rng.integers(0, len(cells), n_cell)]
    in_cells = lattice.positions(c) + rng.random((n_cell, 3)) * lattice.spacing
    surf, _ = sample_surface(mesh, samples - n_cell, rng)
    near = surf + rng.normal(size=surf.shape) * rng.choice(NEAR_SIGMAS, size=len(surf))[:, None]
    pts = np.clip(np.concatenate([in_cells, near]), -G.BOUND, G.BOUND).astype(np.float32)
    return {"version": np.int32(CACHE_VERSION), "grid": np.int32(lattice.size), "nodes": nodes.astype(np.int64),
            "inside": np.packbits(inside), "stencil_keys": st.keys.astype(np.int64),
            "stencil_values": st.values.astype(np.float16), "points": pts, "sdf": md.signed(pts).astype(np.float32)}


@dataclass(frozen=True)
class CacheTask:
    mesh_path: str
    out_path: str
    grid: int
    seed: int


def _build_one(task: CacheTask) -> str:
    from cadfinder.deepsdf.dataset import canonical_mesh

    mesh, _ = canonical_mesh(Path(task.mesh_path))
    arrays = part_arrays(mesh, G.Lattice(task.grid), seed=task.seed)
    tmp = Path(task.out_path).with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, task.out_path)
    return task.out_path


def _as_tuple_task(args) -> str:
    return _build_one(CacheTask(*args))


def build_cache(entries: list[tuple[str, Path, int]], cache_dir: str | Path, jobs: int | None = None,
                progress: bool = True) -> list[Path]:
    """entries: (part number, mesh path, lattice size); returns the cache files in that order,
    building those that are missing."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(str(mesh), str(cache_dir / f"{pn}.g{grid}.npz"), grid, i) for i, (pn, mesh, grid) in enumerate(entries)]
    fill_cache(_as_tuple_task, tasks, "implicit training data", jobs, progress)
    return [Path(t[1]) for t in tasks]


def _fine_nodes(args) -> tuple[str, int]:
    from cadfinder.deepsdf.dataset import canonical_mesh
    from cadfinder.geometry.sdf import MeshDistance

    pn, mesh_path, size = args
    mesh, _ = canonical_mesh(Path(mesh_path))
    lat = G.Lattice(size)
    return pn, int(len(G.active_nodes(lat, G.active_cells(lat, MeshDistance(mesh).unsigned))))


def fitting_fine_lattice(parts, size: int, cache_dir: str | Path, jobs: int | None = None,
                         progress: bool = True) -> set[str]:
    """Part numbers (of deepsdf.dataset.CatalogPart) whose codes on the `size` lattice could fit
    the stored-size budget, so that ingestion may encode them there (codes.plan_lattices); the
    node counts are cached in cache_dir."""
    import json
    import sys

    from tqdm import tqdm

    from cadfinder.implicit.codes import MAX_BYTES, MIN_BYTES_PER_NODE
    from cadfinder.workers import process_pool

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    counts_file = cache_dir / f"nodes_g{size}.json"
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    todo = [(p.part_number, str(p.mesh_path), size) for p in parts if p.part_number not in counts]
    if todo:
        with process_pool(jobs) as pool:
            for pn, n in tqdm(pool.map(_fine_nodes, todo, chunksize=4), total=len(todo), desc=f"{size}^3 lattice sizes",
                              unit="part", disable=not progress, file=sys.stderr):
                counts[pn] = n
        tmp = counts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(counts))
        os.replace(tmp, counts_file)
    return {p.part_number for p in parts if counts[p.part_number] * MIN_BYTES_PER_NODE <= MAX_BYTES}


class PartSamples:
    """One cached part on one lattice, in memory."""

    def __init__(self, path: str | Path):
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION:
                raise ValueError(f"{path}: cache version {int(z['version'])}, expected {CACHE_VERSION}")
            self.lattice = G.Lattice(int(z["grid"]))
            self.nodes = z["nodes"]
            self.inside = np.unpackbits(z["inside"])[: self.lattice.size**3].astype(bool)
            self.stencil_keys = z["stencil_keys"]
            self.stencil_values = z["stencil_values"].astype(np.float32)
            self.points = z["points"]
            self.sdf = z["sdf"]

    def stencils(self, node_rows: np.ndarray) -> np.ndarray:
        """(U, 4, S, S, S) encoder input of the given rows of `nodes`."""
        keys = G.stencil_keys(self.lattice, self.nodes[node_rows])
        vals = self.stencil_values[np.searchsorted(self.stencil_keys, keys)]
        s = G.STENCIL
        return vals.reshape(len(node_rows), s, s, s, 4).transpose(0, 4, 1, 2, 3)
