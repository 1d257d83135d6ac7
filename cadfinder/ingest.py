"""`cadfinder ingest`: read part files, compute their implicit form and metadata, store them.

Per part: read (mm) -> canonical frame -> surface samples -> DeepSDF latent from the encoder
(optionally refined against SDF samples) and the implicit form's local codes -> metadata (size,
volume, mass, feature counts from a genome) -> thumbnail and mesh -> one transaction. The heavy
work runs in worker processes; the database writes stay in this process. A file whose content
hash is already stored for its part is skipped, so an interrupted ingest resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cadfinder import stored
from cadfinder.errors import CadfinderError, InputError
from cadfinder.geometry.readers import MESH_SUFFIXES, PART_SUFFIXES
from cadfinder.workers import process_pool

SURFACE_POINTS = 4096  # stored with normals for the point-to-plane re-rank
ASSEMBLY_SIDECAR_KEYS = ("name", "description", "family", "material", "access_group", "revision")
MESH_PREFERENCE = [".stl", ".ply", ".obj", ".off", ".glb", ".gltf", ".step", ".stp", ".iges", ".igs"]


@dataclass
class PartFile:
    path: Path
    sidecar: Path | None
    part_number: str
    content_hash: str
    assembly: bool = False  # a STEP file with assembly structure (cadfinder.assembly_files)


@dataclass
class IngestSummary:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped, "failed": self.failed,
                "cancelled": self.cancelled, "errors": self.errors, "warnings": self.warnings[:50]}


def _hash(path: Path, sidecar: Path | None) -> tuple[str, bool]:
    """The content hash of a part file and its sidecar, and whether it is a STEP assembly (seen
    in the same pass over the file)."""
    from cadfinder.assembly_files import AssemblyScan

    h = hashlib.sha256()
    scan = AssemblyScan() if path.suffix.lower() in (".step", ".stp") else None
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            if scan is not None:
                scan.feed(chunk)
    if sidecar is not None:
        h.update(b"\0sidecar\0" + sidecar.read_bytes())
    return h.hexdigest(), scan is not None and scan.found


def _read_sidecar(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path.name}: sidecar is not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(f"{path.name}: sidecar is not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise InputError(f"{path.name}: sidecar must be a JSON object")
    return data


def discover(paths: list[str | Path]) -> tuple[list[PartFile], list[str]]:
    """Part files under the given files/folders, one per stem (meshes preferred over STEP for
    speed when both exist, as a catalog folder has), with sidecars and content hashes."""
    errors = []
    by_key: dict[tuple[Path, str], Path] = {}
    for p in map(Path, paths):
        if not p.exists():
            errors.append(f"{p}: no such file or folder")
            continue
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
        for f in files:
            suffix = f.suffix.lower()
            if suffix not in PART_SUFFIXES:
                if p.is_file():
                    errors.append(f"{f}: not a part file ({', '.join(sorted(PART_SUFFIXES))})")
                continue
            key = (f.parent, f.stem)
            old = by_key.get(key)
            if old is None or MESH_PREFERENCE.index(suffix) < MESH_PREFERENCE.index(old.suffix.lower()):
                by_key[key] = f
    out = []
    for (parent, stem), f in sorted(by_key.items()):
        side = parent / f"{stem}.json"
        side = side if side.exists() else None
        try:
            pn = str(_read_sidecar(side).get("part_number") or stem)
            out.append(PartFile(f, side, pn, *_hash(f, side)))
        except (InputError, OSError) as e:
            errors.append(str(e))
    return out, errors


# ---- worker side ----------------------------------------------------------------------------

_models = None
_clip = {}


def _worker_clip(clip_file: str | None, clip_arch: str | None):
    """The CLIP model for view embeddings in this worker (None: ingest without them)."""
    if not clip_file:
        return None
    if clip_file not in _clip:
        import torch

        from cadfinder.embeddings.model import load

        torch.set_num_threads(1)
        _clip[clip_file] = load(clip_file, "cpu", arch=clip_arch or None)
    return _clip[clip_file]


def _worker_models(weights_dir: str, refine_steps: int):
    """(point-cloud encoder, DeepSDF decoder or None, local-code model, its version) in this worker."""
    global _models
    if _models is None:
        import torch

        torch.set_num_threads(1)
        from cadfinder.deepsdf.encoder import load_encoder
        from cadfinder.deepsdf.train import load_decoder
        from cadfinder.implicit.train import load_model
        from cadfinder.models import IMPLICIT_FILE, implicit_version

        enc = load_encoder(Path(weights_dir) / "encoder.safetensors")
        dec = load_decoder(Path(weights_dir) / "deepsdf.safetensors")[0] if refine_steps else None
        implicit_file = Path(weights_dir) / IMPLICIT_FILE
        _models = (enc, dec, load_model(implicit_file)[0], implicit_version(implicit_file))
    return _models


def process_part(pf: PartFile, weights_dir: str, refine_steps: int = 0, thumbnails: bool = True,
                 clip: tuple[str, str] | None = None) -> dict:
    """Everything but the database write for one part (the row's columns, and its scan views
    and view embeddings for their tables); raises InputError for a bad file."""
    import trimesh

    from cadfinder.geometry.normalize import catalog_frame

    meta = _read_sidecar(pf.sidecar)
    mesh, warnings = _read_part_mesh(pf, meta)
    frame = catalog_frame(mesh.vertices)
    canon = trimesh.Trimesh(frame.to_canonical(mesh.vertices), mesh.faces, process=False)
    genome, counts = _valid_genome(meta, pf, warnings)
    name, description = str(meta.get("name") or pf.path.stem), str(meta.get("description") or "")
    views = None
    cm = _worker_clip(*clip) if clip else None
    if cm is not None:
        from cadfinder.embeddings.part_views import embed_part

        views = embed_part(cm, canon)
    return {
        "part_number": pf.part_number,
        "revision": str(meta.get("revision") or "A"),
        "name": name,
        "family": meta.get("family") or (genome or {}).get("family"),
        "description": description,
        **_physical_columns(mesh, meta),
        "units": "mm",
        "norm_offset": frame.offset.tolist(),
        "norm_scale": float(frame.scale),
        "genome": json.dumps(genome) if genome else None,
        "feature_counts": json.dumps(counts),
        "source_file": str(meta.get("source") or pf.path)[:1000],
        "content_hash": pf.content_hash,
        **_display_columns(mesh, pf, thumbnails, warnings),
        "access_group": str(meta.get("access_group") or "all"),
        "kind": "assembly" if meta.get("kind") == "assembly" else "part",
        **_shape_columns(canon, weights_dir, refine_steps),
        "ingest_warnings": warnings,
        "views": views,
    }


def _read_part_mesh(pf: PartFile, meta: dict):
    """The part's mesh in millimetres (a mesh file's units from its sidecar; STEP and IGES carry
    their own) and the reader's warnings."""
    from cadfinder.geometry.readers import read_mesh

    units = meta.get("units") if isinstance(meta.get("units"), str) else None
    if pf.path.suffix.lower() not in MESH_SUFFIXES:
        units = None
    read = read_mesh(pf.path, units=units)
    return read.mesh, list(read.warnings)


def _valid_genome(meta: dict, pf: PartFile, warnings: list[str]) -> tuple[dict | None, dict]:
    """The sidecar's genome if it validates (else None, with a warning) and its feature counts."""
    from cadfinder.genome.validate import feature_counts, validate

    genome = meta.get("genome")
    if not isinstance(genome, dict):
        return None, {}
    problems = validate(genome)
    if problems:
        warnings.append(f"{pf.path.name}: genome ignored: {problems[0]}")
        return None, {}
    return genome, feature_counts(genome)


def _physical_columns(mesh, meta: dict) -> dict:
    """Material, mass (the sidecar's, else volume x density), volume, area, bounds, sizes
    (largest first) and centre of mass, in mm, mm^2, mm^3 and kg."""
    from cadfinder.catalog import materials

    material = materials.canonical(meta.get("material")) if meta.get("material") else None
    volume = float(mesh.volume) if mesh.is_watertight else None
    mass = meta.get("mass_kg")
    if mass is None and volume is not None:
        mass = materials.mass_kg(volume, material)
    lo, hi = mesh.bounds
    extents = sorted((hi - lo).tolist(), reverse=True)
    com = mesh.center_mass if mesh.is_watertight else mesh.centroid
    return {"material": material, "mass_kg": mass, "volume_mm3": volume, "surface_area_mm2": float(mesh.area),
            "bbox_min": lo.tolist(), "bbox_max": hi.tolist(),
            "size_x_mm": extents[0], "size_y_mm": extents[1], "size_z_mm": extents[2],
            "center_of_mass": np.asarray(com, float).tolist()}


def _display_columns(mesh, pf: PartFile, thumbnails: bool, warnings: list[str]) -> dict:
    """The exact mesh as stored (PLY, mm) and the thumbnail (PNG; a failed render is a warning,
    never a lost part)."""
    mesh_data, mesh_format = stored.pack_mesh(mesh)
    thumb = None
    if thumbnails:
        try:
            from cadfinder.thumbnails import render_png

            thumb = render_png(mesh)
        except Exception as e:
            warnings.append(f"{pf.path.name}: no thumbnail ({e})")
    return {"thumbnail_png": thumb, "mesh_format": mesh_format, "mesh_data": mesh_data}


def _shape_columns(canon, weights_dir: str, refine_steps: int) -> dict:
    """What search and the preview compute from the canonical mesh: the 256-d search latent
    (optionally refined by the decoder), the implicit form's codes, the surface sample the
    re-rank fits, and the 48 scan views."""
    from cadfinder.deepsdf.encoder import encode
    from cadfinder.geometry import scan_views, signature
    from cadfinder.geometry.sdf import area_weighted_half, sample_surface
    from cadfinder.implicit.codes import encode_mesh

    surf, surf_normals = sample_surface(canon, SURFACE_POINTS, np.random.default_rng(0))
    enc, dec, implicit_model, implicit_version = _worker_models(weights_dir, refine_steps)
    z = encode(enc, [surf])[0]
    if refine_steps and dec is not None:
        from cadfinder.deepsdf.infer import fit_latent
        from cadfinder.geometry.sdf import SamplingRecipe, sample_sdf

        s = sample_sdf(canon, SamplingRecipe(total=20_000, surface=500), seed=0)
        z, _ = fit_latent(dec, s.points, s.sdf, iterations=refine_steps, samples_per_step=2048, init=z)
    view_descriptors, view_frames = scan_views.part_views(canon)
    return {"sdf_latent": z.numpy().astype(np.float32),
            "implicit_codes": encode_mesh(implicit_model, canon).to_bytes(), "implicit_version": implicit_version,
            "surface_sample": stored.pack_surface(surf, surf_normals),
            "encoder_version": Path(weights_dir).name,
            "view_descriptors": view_descriptors, "view_frames": view_frames, "view_version": scan_views.VERSION,
            "shape_signature": signature.signature(*area_weighted_half(surf, surf_normals)),
            "signature_version": signature.VERSION}


def _safe_process(pf, weights_dir, refine_steps, thumbnails, clip=None):
    try:
        return pf, process_part(pf, weights_dir, refine_steps, thumbnails, clip), None
    except InputError as e:
        return pf, None, str(e)
    except Exception as e:  # an unexpected failure in one file must not stop the batch
        return pf, None, f"{pf.path.name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


# ---- database side --------------------------------------------------------------------------

COLUMNS = ("part_number", "revision", "name", "family", "description", "material", "mass_kg", "volume_mm3",
           "surface_area_mm2", "bbox_min", "bbox_max", "size_x_mm", "size_y_mm", "size_z_mm", "center_of_mass",
           "units", "norm_offset", "norm_scale", "genome", "feature_counts", "source_file", "content_hash",
           "thumbnail_png", "mesh_format", "mesh_data", "access_group", "sdf_latent", "surface_sample",
           "encoder_version", "ingest_warnings", "view_version", "implicit_codes",
           "implicit_version", "shape_signature", "signature_version", "kind")  # view descriptors: their own table


def _upsert(conn, row: dict) -> str:
    """Insert or update one part in its own transaction; returns 'added' or 'updated'."""
    from psycopg import sql

    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    vals = sql.SQL(", ").join(sql.Placeholder(c) for c in COLUMNS)
    updates = sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                                 for c in COLUMNS if c not in ("part_number", "revision"))
    # A rewritten row's words may have changed: they are embedded again after the ingestion (embed_words).
    q = sql.SQL("INSERT INTO cad_models ({}) VALUES ({}) ON CONFLICT (part_number, revision) DO UPDATE SET {}, "
                "modified_at = now(), description_embedding = NULL, description_model = NULL "
                "RETURNING (xmax = 0)").format(cols, vals, updates)
    with conn.transaction():
        inserted = conn.execute(q, {c: row[c] for c in COLUMNS}).fetchone()[0]
        model_id = conn.execute("SELECT id FROM cad_models WHERE part_number = %s AND revision = %s",
                                (row["part_number"], row["revision"])).fetchone()[0]
        store_views(conn, model_id, row["view_descriptors"], row["view_frames"])
        if row.get("views") is not None:
            from cadfinder.embeddings.part_views import store

            store(conn, model_id, row["views"])
        else:
            conn.execute("DELETE FROM part_views WHERE model_id = %s", (model_id,))
            conn.execute("UPDATE cad_models SET image_embedding = NULL, clip_version = NULL "
                         "WHERE id = %s", (model_id,))
    return "added" if inserted else "updated"


def store_views(conn, model_id, descriptors: np.ndarray, frames: np.ndarray) -> None:
    """Replace a part's scan-view descriptors (inside the caller's transaction)."""
    from pgvector import HalfVector

    conn.execute("DELETE FROM scan_view_descriptors WHERE model_id = %s", (model_id,))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO scan_view_descriptors (model_id, view, descriptor, frame) VALUES (%s, %s, %s, %s)",
                        [(model_id, i, HalfVector(d), f.tolist()) for i, (d, f) in enumerate(zip(descriptors, frames))])


def _views_of_stored(args):
    from cadfinder.geometry import scan_views
    from cadfinder.stored import canonical_mesh

    model_id, pn, blob, fmt, off, scale, _ = args
    try:
        return model_id, pn, scan_views.part_views(canonical_mesh(blob, fmt, off, scale)), None
    except Exception as e:  # one unreadable stored mesh must not stop the rest
        return model_id, pn, None, f"{pn}: {type(e).__name__}: {e}"


def _implicit_of_stored(args):
    from cadfinder.stored import canonical_mesh
    from cadfinder.implicit.codes import encode_mesh

    model_id, pn, blob, fmt, off, scale, weights_dir = args
    try:
        _, _, model, version = _worker_models(weights_dir, 0)
        codes = encode_mesh(model, canonical_mesh(blob, fmt, off, scale))
        return model_id, pn, (codes.to_bytes(), version), None
    except Exception as e:  # one unreadable stored mesh must not stop the rest
        return model_id, pn, None, f"{pn}: {type(e).__name__}: {e}"


def _backfill_stored(conn, ids: list, work, store, desc: str, jobs: int | None, progress: bool, batch: int,
                     extra=None) -> tuple[int, int, list[str]]:
    """Run `work` over the stored meshes of the given parts in worker processes and `store` each
    result in its own transaction (so an interrupted run resumes); returns (done, failed, errors)."""
    from tqdm import tqdm

    done, failed, errors = 0, 0, []
    if not ids:  # nothing to do: do not start worker processes (seconds each) for it
        return done, failed, errors
    bar = tqdm(total=len(ids), desc=desc, unit="part", disable=not progress, file=sys.stderr)
    with process_pool(jobs) as pool:
        for start in range(0, len(ids), batch):
            rows = conn.execute("SELECT id, part_number, mesh_data, mesh_format, norm_offset, norm_scale "
                                "FROM cad_models WHERE id = ANY(%s)", (ids[start:start + batch],)).fetchall()
            conn.commit()
            for model_id, pn, result, err in pool.map(work, [(*r, extra) for r in rows]):
                bar.update()
                if err:
                    failed += 1
                    errors.append(err)
                    continue
                with conn.transaction():
                    store(conn, model_id, result)
                done += 1
    bar.close()
    return done, failed, errors


def backfill_views(conn, jobs: int | None = None, progress: bool = True, batch: int = 64) -> dict:
    """Scan-view descriptors for parts that lack them or have another version's, computed from
    the stored meshes (libraries ingested before they existed); resumable, one part per
    transaction. Returns counts."""
    from cadfinder.geometry import scan_views

    ids = [r[0] for r in conn.execute(
        "SELECT id FROM cad_models WHERE mesh_data IS NOT NULL AND view_version IS DISTINCT FROM %s "
        "ORDER BY part_number", (scan_views.VERSION,)).fetchall()]
    conn.commit()

    def store(c, model_id, views):
        store_views(c, model_id, *views)
        c.execute("UPDATE cad_models SET view_version = %s WHERE id = %s", (scan_views.VERSION, model_id))

    done, failed, errors = _backfill_stored(conn, ids, _views_of_stored, store, "scan views", jobs, progress, batch)
    return {"scan_views": done, "failed": failed, "errors": errors[:20], "view_version": scan_views.VERSION}


def backfill_signatures(conn, batch: int = 256) -> dict:
    """Shape signatures (the duplicate analysis's candidates) for parts that lack them or have
    another version's, from their stored surface samples: milliseconds a part, in this process;
    one batch per transaction, so an interrupted run resumes."""
    from cadfinder.geometry import signature
    from cadfinder.geometry.sdf import area_weighted_half

    ids = [r[0] for r in conn.execute(
        "SELECT id FROM cad_models WHERE surface_sample IS NOT NULL AND signature_version IS DISTINCT FROM %s",
        (signature.VERSION,)).fetchall()]
    conn.commit()
    done, errors = 0, []
    for start in range(0, len(ids), batch):
        rows = conn.execute("SELECT id, part_number, surface_sample FROM cad_models WHERE id = ANY(%s)",
                            (ids[start:start + batch],)).fetchall()
        with conn.transaction():
            for model_id, pn, blob in rows:
                try:
                    sig = signature.signature(*area_weighted_half(*stored.unpack_surface(blob)))
                except ValueError as e:
                    errors.append(f"{pn}: {e}")
                    continue
                conn.execute("UPDATE cad_models SET shape_signature = %s, signature_version = %s WHERE id = %s",
                             (sig, signature.VERSION, model_id))
                done += 1
    return {"shape_signatures": done, "failed": len(errors), "errors": errors[:20],
            "signature_version": signature.VERSION}


def backfill_implicit(conn, weights_dir: str | Path, jobs: int | None = None, progress: bool = True,
                      batch: int = 64) -> dict:
    """The implicit form's codes for parts that lack them or were encoded by other weights, from
    their stored meshes; resumable, one part per transaction. Returns counts."""
    from cadfinder.models import IMPLICIT_FILE, implicit_version

    version = implicit_version(Path(weights_dir) / IMPLICIT_FILE)
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM cad_models WHERE mesh_data IS NOT NULL AND implicit_version IS DISTINCT FROM %s "
        "ORDER BY part_number", (version,)).fetchall()]
    conn.commit()

    def store(c, model_id, result):
        c.execute("UPDATE cad_models SET implicit_codes = %s, implicit_version = %s WHERE id = %s", (*result, model_id))

    done, failed, errors = _backfill_stored(conn, ids, _implicit_of_stored, store, "implicit form", jobs, progress,
                                            batch, extra=str(weights_dir))
    return {"implicit_codes": done, "failed": failed, "errors": errors[:20], "implicit_version": version}


def ingest(conn, paths: list[str | Path], weights_dir: str | Path, jobs: int | None = None,
           refine_steps: int = 0, thumbnails: bool = True, progress: bool = True,
           clip: tuple[str, str] | None = None, on_progress=None, cancelled=None,
           order=None, worker=None, trees: list | None = None) -> IngestSummary:
    """Ingest part files/folders into the library through an open (admin) connection.

    `clip` = (weights file, architecture) adds view embeddings for image/text/sketch search.
    `on_progress(done, total, part_number)` reports each finished part (the app's progress bar);
    `cancelled()` returning True stops after the parts already running (re-run resumes).
    `order`, a key on the part files, sets the order they are ingested in (default: by path).
    `worker` replaces the per-part function run in the worker processes (tests inject crashes).
    `trees`, assemblies' placements from a reader of its own (Creo), are stored after the files.
    STEP assembly files are split into their parts and whole shapes (cadfinder.assembly_files),
    and their trees stored once every part is in."""
    summary = IngestSummary()
    files, errors = discover(paths)
    summary.failed += len(errors)
    summary.errors += errors
    if not files and not errors:
        raise CadfinderError("no part files found (" + ", ".join(sorted(PART_SUFFIXES)) + ")")
    with tempfile.TemporaryDirectory(prefix="cadfinder_assemblies_") as staging:
        files, step_trees = _split_assemblies(files, Path(staging), summary)
        _ingest_files(conn, files, weights_dir, jobs, refine_steps, thumbnails, progress, clip, on_progress,
                      cancelled, order, worker, summary)
        if not summary.cancelled:
            store_trees(conn, step_trees + list(trees or []), summary)
            embed_words(conn)
    return summary


def embed_words(conn) -> dict:
    """The sentence encoder's embeddings of the words of parts that lack them (cadfinder.embeddings.part_words)."""
    from cadfinder import models
    from cadfinder.embeddings import part_words

    return part_words.backfill(conn, models.sentences)


def _split_assemblies(files: list[PartFile], staging: Path, summary: IngestSummary) -> tuple[list[PartFile], list]:
    """STEP assemblies replaced by their parts and whole shapes (staged as files); returns the
    files to ingest and the assembly trees to store once they are in."""
    from cadfinder.assembly_files import explode

    out, trees = [], []
    for i, pf in enumerate(files):
        try:
            side = _read_sidecar(pf.sidecar) if pf.assembly else {}
            if not pf.assembly or "creo_model" in side:  # Creo's tree comes from bom.get_paths
                out.append(pf)
                continue
            folder = staging / f"{i:05d}"
            records = explode(pf.path, pf.part_number, folder)
            meta = {k: v for k, v in side.items() if k in ASSEMBLY_SIDECAR_KEYS}
            for staged_side in folder.glob("*.json"):  # the assembly's own sidecar data; its access group for all
                data = json.loads(staged_side.read_text())
                data.update(meta if data["part_number"] == pf.part_number else
                            {k: v for k, v in meta.items() if k == "access_group"})
                data["source"] = f"{pf.path}#{data['part_number']}"
                staged_side.write_text(json.dumps(data, sort_keys=True))
            staged, errs = discover([folder])
            out += staged
            summary.failed += len(errs)
            summary.errors += errs
            trees += records
        except (InputError, OSError) as e:
            summary.failed += 1
            summary.errors.append(str(e))
    return out, trees


def store_trees(conn, trees: list[dict], summary: IngestSummary) -> None:
    """Store each assembly's placements ({"part_number", "placements"}); a failure is counted
    and named in the summary, the rest go on."""
    from cadfinder import assemblies

    for t in trees:
        try:
            assemblies.store(conn, t["part_number"], t["placements"])
        except InputError as e:
            summary.failed += 1
            summary.errors.append(str(e))


def _ingest_files(conn, files, weights_dir, jobs, refine_steps, thumbnails, progress, clip, on_progress, cancelled,
                  order, worker, summary: IngestSummary) -> None:
    from tqdm import tqdm

    worker = worker or _safe_process
    stored = dict(conn.execute("SELECT part_number, content_hash FROM cad_models WHERE part_number = ANY(%s)",
                               ([f.part_number for f in files],)).fetchall())
    conn.commit()
    todo = []
    for f in files:
        if stored.get(f.part_number) == f.content_hash:
            summary.skipped += 1
        else:
            todo.append(f)
    if order is not None:
        todo.sort(key=order)
    bar = tqdm(total=len(todo), desc="ingest", unit="part", disable=not progress or not todo, file=sys.stderr)
    wd = str(weights_dir)
    finished: list[str] = []

    def record(pf, row, err):
        if err:
            summary.failed += 1
            summary.errors.append(err)
        else:
            summary.warnings += row["ingest_warnings"]
            outcome = _upsert(conn, row)
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        bar.update()
        if on_progress is not None:
            finished.append(pf.part_number)  # (a disabled tqdm does not count)
            on_progress(len(finished), len(todo), pf.part_number)

    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(todo) <= 2:
        for pf in todo:
            if cancelled is not None and cancelled():
                summary.cancelled = True
                break
            record(*worker(pf, wd, refine_steps, thumbnails, clip))
    else:
        # A worker that dies (a crash in a native reader or the renderer, the X server refusing a
        # GL context) breaks the whole pool: the parts it took with it are tried again in a
        # fresh pool, then each in a pool of its own, so one bad file fails alone.
        pending = todo
        for rnd in range(3):
            pending = _ingest_round(pending, jobs, rnd == 2, worker, record, summary, cancelled,
                                    (wd, refine_steps, thumbnails, clip))
            if not pending or summary.cancelled:
                break
        for pf in pending:
            record(pf, None, f"{pf.path.name}: the worker process died while ingesting it, three times "
                             f"(a crash in a file reader or the thumbnail renderer)")
    bar.close()


def _ingest_round(parts: list, jobs: int, isolated: bool, worker, record, summary, cancelled, args) -> list:
    """One pass of parts over a process pool (with `isolated`, a fresh one-worker pool per part);
    returns the parts whose worker died."""
    from concurrent.futures.process import BrokenProcessPool

    died = []
    for batch in ([[pf] for pf in parts] if isolated else [parts]):
        with process_pool(1 if isolated else jobs) as pool:
            futures = {pool.submit(worker, pf, *args): pf for pf in batch}
            try:
                for fut in as_completed(futures):
                    if cancelled is not None and cancelled():
                        summary.cancelled = True
                        for f in futures:
                            f.cancel()
                        return []
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        died.append(futures[fut])
                        continue
                    record(*result)
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                raise
    return died
