"""SDF training data: per-part samples cached on disk (float16 .npz), built in parallel, resumable."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadfinder.geometry.sdf import SamplingRecipe, SdfSamples, sample_sdf
from cadfinder.workers import fill_cache

TRAIN_RECIPE = SamplingRecipe(total=60_000, surface=8_000)


@dataclass(frozen=True)
class CatalogPart:
    part_number: str
    family: str
    split: str
    mesh_path: Path


def catalog_parts(catalog: str | Path) -> list[CatalogPart]:
    """The parts of a built catalog, in manifest order."""
    catalog = Path(catalog)
    manifest = json.loads((catalog / "catalog.json").read_text())
    return [CatalogPart(p["part_number"], p["family"], p["split"], catalog / f"{p['part_number']}.stl")
            for p in manifest["parts"]]


def canonical_mesh(mesh_path: Path):
    """A part's mesh in its canonical (unit-sphere) frame, and that frame."""
    import trimesh

    from cadfinder.geometry.normalize import catalog_frame

    mesh = trimesh.load(mesh_path, process=True)
    frame = catalog_frame(mesh.vertices)
    return trimesh.Trimesh(frame.to_canonical(mesh.vertices), mesh.faces, process=False), frame


def _sample_one(args) -> str:
    mesh_path, out_path, seed = args
    if Path(out_path).exists():
        return out_path
    mesh, _ = canonical_mesh(Path(mesh_path))
    samples = sample_sdf(mesh, TRAIN_RECIPE, seed)
    tmp = Path(out_path).with_suffix(".tmp.npz")
    samples.save(tmp)
    os.replace(tmp, out_path)
    return out_path


def build_cache(parts: list[CatalogPart], cache_dir: str | Path, jobs: int | None = None,
                progress: bool = True) -> list[Path]:
    """SDF samples for every part (skipping those already cached); returns the cache files."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [(str(p.mesh_path), str(cache_dir / f"{p.part_number}.npz"), i) for i, p in enumerate(parts)]
    fill_cache(_sample_one, todo, "sdf samples", jobs, progress)
    return [Path(t[1]) for t in todo]


class SampleBank:
    """All shapes' samples in memory (float16 on disk, float32 here) for fast random batches."""

    def __init__(self, files: list[Path]):
        self.points, self.sdf, self.surface = [], [], []
        for f in files:
            s = SdfSamples.load(f)
            self.points.append(s.points)
            self.sdf.append(s.sdf)
            self.surface.append(s.surface_points)
        self.n = len(files)

    def batch(self, shape_ids: np.ndarray, per_shape: int, rng: np.random.Generator):
        """(points (B, S, 3), sdf (B, S)) with S random samples of each shape."""
        pts = np.empty((len(shape_ids), per_shape, 3), np.float32)
        sdf = np.empty((len(shape_ids), per_shape), np.float32)
        for k, i in enumerate(shape_ids):
            idx = rng.integers(0, len(self.sdf[i]), per_shape)
            pts[k] = self.points[i][idx]
            sdf[k] = self.sdf[i][idx]
        return pts, sdf
