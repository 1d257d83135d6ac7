"""`cadfinder catalog build`: a deterministic, parallel, resumable library of demo parts.

Layout of OUT (flat, so `cadfinder ingest OUT` reads it as any folder of parts):
    <PN>.step   exact B-rep from the open kernel
    <PN>.stl    watertight tessellation, millimetres
    <PN>.json   sidecar: part number, name, family, material, description, metadata, genome
    catalog.json  manifest: seed, count, families, unseen families, and each part's split
A part's split is `train`, `heldout` (every tenth part: kept out of model training, its family
seen) or `unseen_family` (every part of a family left out of training whole). The demo catalog
draws from the twelve demo families; `--variety` from the kinds of `catalog.variety`.
A part is complete when its sidecar exists (written last, atomically), so an interrupted build
resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadfinder.catalog import families, materials, variety
from cadfinder.errors import CadfinderError, GenomeError
from cadfinder.workers import process_pool

GENERATOR_VERSION = 1
FAMILY_ORDER = list(families.FAMILIES)
VARIETY_ORDER = list(variety.KINDS)
# Kinds a variety catalog leaves out of training whole, for the leave-families-out split: one of
# each sort (standard part, turned, machined, sheet, cast, random), so no sort is all unseen.
VARIETY_UNSEEN = ("standoff", "sprocket", "knob", "circlip", "pillow_block", "gusset_bracket", "pipe_elbow",
                  "turned_part")
PREFIX = families.PREFIX | variety.PREFIX
HELDOUT_EVERY = 10  # every 10th part is held out of model training, for honest evaluation
MAX_ATTEMPTS = 12


def part_number(family: str, index: int) -> str:
    return f"{PREFIX[family]}-{index:05d}"


def split_of(index: int, family: str = "", unseen: tuple[str, ...] = ()) -> str:
    if family in unseen:
        return "unseen_family"
    return "heldout" if index % HELDOUT_EVERY == HELDOUT_EVERY - 1 else "train"


def generate(family: str, rng: np.random.Generator) -> tuple[dict, str, str]:
    """(genome, name, description) of one random part of a demo family or a variety kind."""
    return (families.generate if family in families.FAMILIES else variety.generate)(family, rng)


@dataclass(frozen=True)
class PartJob:
    out: str
    seed: int
    index: int
    families: tuple[str, ...] = tuple(FAMILY_ORDER)
    unseen: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return self.families[self.index % len(self.families)]

    @property
    def split(self) -> str:
        return split_of(self.index, self.family, self.unseen)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def describe_instance(inst, genome: dict, mesh=None) -> dict:
    """Metadata of an instantiated genome: size, volume, mass, centre of mass, feature counts."""
    from cadfinder.genome.validate import feature_counts

    # OpenCascade's bounding boxes are padded by tolerances: take the tessellation's.
    lo, hi = (mesh if mesh is not None else inst.mesh()).bounds.tolist()
    volume = inst.volume_mm3
    return {
        "units": "mm",
        "volume_mm3": round(volume, 3),
        "surface_area_mm2": round(inst.area_mm2, 3),
        "mass_kg": round(materials.mass_kg(volume, genome.get("material")) or 0.0, 6),
        "bbox_min": [round(v, 4) for v in lo],
        "bbox_max": [round(v, 4) for v in hi],
        "center_of_mass": [round(float(v), 4) for v in inst.center_of_mass()],
        "feature_counts": feature_counts(genome),
    }


def build_part(job: PartJob) -> dict:
    """Generate, instantiate and write one part; returns its manifest entry."""
    from cadfinder.genome.instantiate import instantiate

    family = job.family
    pn = part_number(family, job.index)
    out = Path(job.out)
    sidecar = out / f"{pn}.json"
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
            return {"part_number": pn, "family": family, "split": job.split, "status": "exists",
                    "attempt": meta.get("catalog", {}).get("attempt", 0)}
        except (OSError, json.JSONDecodeError):
            pass  # rebuild a damaged sidecar
    last_error = None
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([job.seed, job.index, attempt])
        genome, name, desc = generate(family, rng)
        try:
            inst = instantiate(genome)
            mesh = inst.mesh()
            if not mesh.is_watertight:
                raise GenomeError("tessellation is not watertight")
        except GenomeError as e:
            last_error = e
            continue
        meta = {"part_number": pn, "revision": "A", "name": name, "family": family,
                "material": genome["material"], "description": desc, **describe_instance(inst, genome, mesh),
                "genome": genome, "files": {"step": f"{pn}.step", "mesh": f"{pn}.stl"},
                "catalog": {"seed": job.seed, "index": job.index, "attempt": attempt,
                            "generator_version": GENERATOR_VERSION, "split": job.split}}
        inst.export_step(out / f"{pn}.step")
        _write_atomic(out / f"{pn}.stl", mesh.export(file_type="stl"))
        _write_atomic(sidecar, json.dumps(meta, indent=1).encode())
        return {"part_number": pn, "family": family, "split": job.split, "status": "built",
                "attempt": attempt}
    raise CadfinderError(f"{pn}: no valid {family} in {MAX_ATTEMPTS} attempts ({last_error})")


def build(out: str | Path, count: int = 1000, seed: int = 0, jobs: int | None = None,
          progress: bool = True, on_progress=None, cancelled=None, kinds: list[str] | None = None,
          unseen: tuple[str, ...] | list[str] = ()) -> dict:
    """Build (or finish building) a catalog of `count` parts in `out`; returns the manifest.

    `kinds` are the families drawn in turn (default the twelve demo families); parts of the
    `unseen` ones get split `unseen_family`. `on_progress(done, count, part_number)` reports each
    part; `cancelled()` returning True stops after the parts already running (the manifest says
    incomplete; building again resumes)."""
    from tqdm import tqdm

    if count < 1:
        raise CadfinderError("--count must be at least 1")
    kinds = list(kinds or FAMILY_ORDER)
    unknown = [k for k in [*kinds, *unseen] if k not in PREFIX]
    if unknown:
        raise CadfinderError(f"no part kind {unknown[0]!r} (kinds: {', '.join(PREFIX)})")
    unseen = tuple(k for k in kinds if k in set(unseen))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "catalog.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("seed") != seed or old.get("generator_version") != GENERATOR_VERSION:
            raise CadfinderError(f"{out} holds a catalog built with seed {old.get('seed')}; "
                                 f"use another folder for seed {seed}")
        if old.get("families", FAMILY_ORDER) != kinds or tuple(old.get("unseen_families", ())) != unseen:
            raise CadfinderError(f"{out} holds a catalog of other part kinds or another unseen split; "
                                 "use another folder")
    plan = {"seed": seed, "count": count, "generator_version": GENERATOR_VERSION, "families": kinds,
            "unseen_families": list(unseen)}
    # Record the plan before building so a resumed run knows the seed.
    _write_atomic(manifest_path, json.dumps(plan | {"complete": False, "parts": []}).encode())
    jobs = jobs or os.cpu_count() or 1
    entries: dict[int, dict] = {}
    failures = []
    todo = [PartJob(str(out), seed, i, tuple(kinds), unseen) for i in range(count)]
    bar = tqdm(total=count, desc="catalog", unit="part", disable=not progress, file=sys.stderr)
    stopped = False

    def record(job, fn):
        try:
            entries[job.index] = fn()
        except CadfinderError as e:
            failures.append(str(e))
        bar.update()
        if on_progress is not None:  # (a disabled tqdm does not count)
            on_progress(len(entries) + len(failures), count, part_number(job.family, job.index))

    if jobs == 1:
        for job in todo:
            if cancelled is not None and cancelled():
                stopped = True
                break
            record(job, lambda: build_part(job))
    else:
        with process_pool(jobs) as pool:
            futures = {pool.submit(build_part, job): job for job in todo}
            try:
                for fut in as_completed(futures):
                    if cancelled is not None and cancelled():
                        stopped = True
                        for f in futures:
                            f.cancel()
                        break
                    record(futures[fut], fut.result)
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                raise
    bar.close()
    parts = [entries[i] | {"index": i} for i in sorted(entries)]
    for p in parts:
        p.pop("status", None)
    manifest = plan | {"complete": not failures and not stopped, "parts": parts, "failures": failures}
    _write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())
    return manifest


def check(out: str | Path) -> dict:
    """Verify a built catalog: every genome validates, every STEP opens, every mesh is watertight."""
    import trimesh

    from cadfinder.genome.validate import validate
    from cadfinder.geometry.readers import read_cad

    out = Path(out)
    manifest = json.loads((out / "catalog.json").read_text())
    problems = []
    per_family: dict[str, int] = {}
    for p in manifest["parts"]:
        pn = p["part_number"]
        meta = json.loads((out / f"{pn}.json").read_text())
        for msg in validate(meta["genome"]):
            problems.append(f"{pn}: {msg}")
        try:
            shape = read_cad(out / f"{pn}.step")
            if abs(shape.Volume() - meta["volume_mm3"]) > 1e-3 * meta["volume_mm3"]:
                problems.append(f"{pn}: STEP volume {shape.Volume():.1f} differs from {meta['volume_mm3']:.1f}")
        except Exception as e:  # report, do not stop
            problems.append(f"{pn}: STEP does not open: {e}")
        mesh = trimesh.load(out / f"{pn}.stl", process=True)
        if not mesh.is_watertight:
            problems.append(f"{pn}: mesh is not watertight")
        per_family[p["family"]] = per_family.get(p["family"], 0) + 1
    return {"parts": len(manifest["parts"]), "families": per_family, "problems": problems}
