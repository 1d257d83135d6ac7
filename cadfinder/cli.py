"""The `cadfinder` command line: everything the app does, headless.

Errors are one clear line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from cadfinder import __version__
from cadfinder.errors import CadfinderError, DiskError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _settings(args):
    from cadfinder import settings

    try:
        return settings.load()
    except ValueError as e:
        raise CadfinderError(str(e)) from None


def _print(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, default=str))
        return
    _print_items(obj, "")


def _print_items(obj: dict, indent: str) -> None:
    """key: value lines; a dict's items indented under its key, a list of dicts one line each."""
    for key, value in obj.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_items(value, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{indent}{key}:")
            for item in value:
                print(f"{indent}  " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            print(f"{indent}{key}: {value}")


# ---- db -------------------------------------------------------------------------------------


def cmd_db_init(args) -> int:
    from cadfinder.db import lifecycle

    _print(lifecycle.init(_settings(args), args.db), args.json)
    return 0


def cmd_db_migrate(args) -> int:
    from cadfinder.db import lifecycle

    _print(lifecycle.migrate(_settings(args), args.db), args.json)
    return 0


def cmd_db_status(args) -> int:
    from cadfinder.db import lifecycle

    _print(lifecycle.status(_settings(args), args.db), args.json)
    return 0


def cmd_db_reindex(args) -> int:
    from cadfinder.db import lifecycle

    s = _settings(args)
    if args.m:
        s.index.hnsw_m = args.m
    if args.ef_construction:
        s.index.hnsw_ef_construction = args.ef_construction
    s.validate()
    names = lifecycle.reindex(s, args.db, progress=lambda m: print(m, file=sys.stderr))
    _print({"rebuilt": names}, args.json)
    return 0


# ---- catalog / genome -------------------------------------------------------------------------


def cmd_catalog_build(args) -> int:
    from cadfinder.catalog import build

    kinds = build.VARIETY_ORDER if args.variety else build.FAMILY_ORDER
    if args.unseen is None:
        unseen = build.VARIETY_UNSEEN if args.variety else ()
    else:
        unseen = [k.strip() for k in args.unseen.split(",") if k.strip()]
    m = build.build(args.out, count=args.count, seed=args.seed, jobs=args.jobs, progress=not args.quiet,
                    kinds=kinds, unseen=unseen)
    fam = {}
    for p in m["parts"]:
        fam[p["family"]] = fam.get(p["family"], 0) + 1
    summary = {"out": str(args.out), "parts": len(m["parts"]), "families": fam,
               "unseen_families": m["unseen_families"], "failures": m["failures"]}
    _print(summary, args.json)
    return 0 if m["complete"] else 1


def cmd_catalog_check(args) -> int:
    from cadfinder.catalog import build

    r = build.check(args.out)
    _print(r, args.json)
    return 0 if not r["problems"] else 1


def _load_genome(path: str) -> dict:
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise CadfinderError(f"{path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise CadfinderError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise CadfinderError(f"{path}: not a genome (JSON nested too deeply)") from None
    # A catalog sidecar carries the genome under "genome".
    return data["genome"] if isinstance(data, dict) and "genome" in data and "schema" not in data else data


def cmd_genome_validate(args) -> int:
    from cadfinder.genome.validate import validate

    bad = 0
    for path in args.files:
        problems = validate(_load_genome(path))
        bad += bool(problems)
        print(f"{path}: " + ("ok" if not problems else "\n  ".join(["invalid"] + problems)))
    return 1 if bad else 0


def cmd_genome_instantiate(args) -> int:
    from pathlib import Path

    from cadfinder.bridge import cadquery_backend
    from cadfinder.genome.instantiate import with_parameters

    genome = _load_genome(args.file)
    changes = {}
    for a in args.set or []:
        k, sep, v = a.partition("=")
        try:
            changes[k] = float(v)
        except ValueError:
            raise CadfinderError(f"--set needs name=number, not {a!r}") from None
    if changes:
        genome = with_parameters(genome, **changes)
    _print(cadquery_backend.build(genome, args.out, args.name or Path(args.file).stem), args.json)
    return 0


# ---- models -----------------------------------------------------------------------------------


def _models_dir():
    from cadfinder import settings

    return settings.data_dir() / "models"


def _catalog_arg(args):
    from pathlib import Path

    cat = Path(args.catalog) if args.catalog else demo_catalog_dir()
    if not (cat / "catalog.json").exists():
        raise CadfinderError(f"{cat} holds no catalog: run `cadfinder catalog build {cat}` first")
    return cat


def cmd_train_decoder(args) -> int:
    from pathlib import Path

    from cadfinder.deepsdf import dataset, train
    from cadfinder.deepsdf.config import load_config

    try:
        cfg = load_config(args.config)
    except ValueError as e:
        raise CadfinderError(str(e)) from None
    cat = _catalog_arg(args)
    parts = [p for p in dataset.catalog_parts(cat) if p.split == "train" or args.all_parts]
    out = Path(args.out) if args.out else _models_dir() / "deepsdf"
    cache = Path(args.cache) if args.cache else cat / ".sdf_cache"
    files = dataset.build_cache(parts, cache, progress=not args.quiet)
    path = train.train(cfg, files, [p.part_number for p in parts], out, resume=args.resume, device=args.device,
                       seed=args.seed, epochs=args.epochs, progress=not args.quiet)
    _print({"weights": str(path), "shapes": len(parts), "config": cfg.name}, args.json)
    return 0


def cmd_train_implicit(args) -> int:
    from pathlib import Path

    from cadfinder.deepsdf import dataset as catalog_data
    from cadfinder.implicit import dataset, train
    from cadfinder.implicit.model import LocalConfig

    cat = _catalog_arg(args)
    held = [f for f in (args.hold_out_families or "").split(",") if f]
    parts = [p for p in catalog_data.catalog_parts(cat) if p.split == "train" and p.family not in held]
    if not parts:
        raise CadfinderError(f"no training parts in {cat} outside the held-out families {held}")
    cfg = LocalConfig()
    out = Path(args.out) if args.out else _models_dir() / "implicit"
    cache = Path(args.cache) if args.cache else cat / ".implicit_cache"
    # Every part on the coarse lattice; those whose codes could fit the stored-size budget on the
    # fine one as well, so the model learns both scales.
    fine = dataset.fitting_fine_lattice(parts, max(cfg.grids), cache, progress=not args.quiet)
    entries = [(p.part_number, p.mesh_path, min(cfg.grids)) for p in parts]
    entries += [(p.part_number, p.mesh_path, max(cfg.grids)) for p in parts if p.part_number in fine]
    files = dataset.build_cache(entries, cache, progress=not args.quiet)
    path = train.train(cfg, files, out, resume=args.resume, device=args.device, seed=args.seed, epochs=args.epochs,
                       progress=not args.quiet, extra={"held_out_families": held, "catalog": str(cat)})
    _print({"weights": str(path), "parts": len(parts), "fine_lattice_parts": len(fine), "held_out_families": held},
           args.json)
    return 0


def scan_bank_path(cat, n_parts: int, per_part: int):
    return cat / f".scan_bank_{n_parts}x{per_part}.npy"


def cmd_train_encoder(args) -> int:
    from pathlib import Path

    from cadfinder.deepsdf import dataset, encoder, train

    cat = _catalog_arg(args)
    out = Path(args.out) if args.out else _models_dir() / "deepsdf"
    bundle = Path(args.decoder) if args.decoder else out / "deepsdf.safetensors"
    _, latents, names, _ = train.load_decoder(bundle)
    by_pn = {p.part_number: p for p in dataset.catalog_parts(cat)}
    missing = [n for n in names if n not in by_pn]
    if missing:
        raise CadfinderError(f"{len(missing)} shapes of {bundle} are not in {cat} (e.g. {missing[0]})")
    bank = encoder.build_scan_bank([by_pn[n].mesh_path for n in names], scan_bank_path(cat, len(names), args.scans),
                                   per_part=args.scans, seed=args.seed, progress=not args.quiet)
    path = encoder.train_encoder(bank, latents, out / "encoder.safetensors", epochs=args.epochs, seed=args.seed,
                                 device=str(train.pick_device(args.device)), progress=not args.quiet)
    _print({"weights": str(path), "shapes": len(names), "scans": int(bank.shape[0] * bank.shape[1])}, args.json)
    return 0


def cmd_eval_recon(args) -> int:
    from cadfinder import models
    from cadfinder.deepsdf import dataset
    from cadfinder.implicit import evaluate
    from cadfinder.implicit.train import load_model

    s = _settings(args)
    cat = _catalog_arg(args)
    path = models.weights_dir(s) / models.IMPLICIT_FILE
    model, meta = load_model(models.require(path), str(models.device(s)))
    baseline = (models.decoder(s)[0], models.encoder(s)) if args.baseline else None
    report = evaluate.evaluate(model, dataset.catalog_parts(cat), meta.get("held_out_families", []),
                               per_set=args.parts, outside=args.outside, reference=args.reference,
                               baseline=baseline, progress=not args.json)
    report["weights"] = str(path)
    if args.json:
        print(json.dumps(report))
    else:
        print(report["units"])
        for name, st in report["sets"].items():
            print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in st["summary"].items()))
    return 0


def cmd_eval_retrieval(args) -> int:
    from cadfinder import library, models, retrieval_eval, search

    s = _settings(args)
    cat = _catalog_arg(args)
    with (library.connect(s, args.db) as conn,
          search.Searcher(conn, models.encoder(s), ef_search=s.index.hnsw_ef_search,
                          candidates=args.candidates) as searcher):
        try:
            report = retrieval_eval.evaluate(searcher, conn, cat, n_queries=args.queries, k=args.k,
                                             progress=not args.json, kinds=args.kinds, oracle=not args.no_oracle)
        except ValueError as e:
            raise CadfinderError(str(e)) from None
    residuals = report.pop("residuals")
    if args.calibrate:
        from cadfinder import calibration

        cal = retrieval_eval.fit_calibration(residuals)
        report["calibration"] = cal | {"written": str(calibration.save(calibration.GEOMETRIC, cal))}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"library: {report['library_size']} parts; queries: parts no model trained on "
              "(heldout: of families seen in training; unseen_family: of families left out whole)")
        for split, rows in report["results"].items():
            for kind, row in rows.items():
                print(f"{split} {kind}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                      for k, v in row.items()))
        if "calibration" in report:
            print(f"calibration: {report['calibration']}")
    return 0


def cmd_mesh(args) -> int:
    """Decode a part's implicit form (or a search latent from a .npy file) into a mesh file."""
    import time
    from pathlib import Path

    import numpy as np
    import torch

    from cadfinder import models, stored

    s = _settings(args)
    frame = None
    stats: dict = {}
    t = time.perf_counter()
    if args.latent:
        from cadfinder.deepsdf import meshing

        decoder = models.decoder(s)[0]
        try:
            z = torch.from_numpy(np.load(args.latent, allow_pickle=False).astype(np.float32)).reshape(-1)
        except (OSError, ValueError) as e:
            raise CadfinderError(f"{args.latent}: cannot read a latent vector ({e})") from None
        if z.numel() != decoder.cfg.latent_dim:
            raise CadfinderError(f"{args.latent}: a latent has {decoder.cfg.latent_dim} values, not {z.numel()}")
        stem, source = Path(args.latent).stem, "search latent (DeepSDF decoder)"
        t = time.perf_counter()
        try:
            mesh = meshing.latent_to_mesh(decoder, z, res=args.res, coarse_to_fine=not args.dense, stats=stats)
        except ValueError as e:  # no surface in the field, or a resolution coarse-to-fine cannot reach
            raise CadfinderError(f"cannot mesh this latent: {e}") from None
    else:
        from cadfinder.implicit import decode
        from cadfinder.library import lookup_implicit

        found = lookup_implicit(s, args.db, args.part)
        if found is None:
            raise CadfinderError(f"no part {args.part!r} with an implicit form in the library "
                                 "(`cadfinder embed` encodes parts ingested before it existed)")
        blob, frame = found
        model = models.implicit(s)[0]
        stem, source = args.part, "implicit form (local codes)"
        t = time.perf_counter()
        try:
            mesh = decode.codes_to_mesh(model, blob, res=args.res, stats=stats)
        except ValueError as e:
            raise CadfinderError(f"cannot mesh {args.part}: {e}") from None
    elapsed = time.perf_counter() - t
    if frame is not None:
        mesh.vertices = stored.part_frame(frame["offset"], frame["scale"]).to_mm(mesh.vertices)
    out = Path(args.out or f"{stem}.stl")
    mesh.export(out)
    _print({"mesh": str(out), "source": source, "vertices": len(mesh.vertices), "faces": len(mesh.faces),
            "units": "mm" if frame is not None else "canonical (unit sphere)", "seconds": round(elapsed, 3),
            "sdf_evaluations": stats.get("evaluated", args.res**3)}, args.json)
    return 0


# ---- ingest / search -------------------------------------------------------------------------


def cmd_ingest(args) -> int:
    from cadfinder import ingest, library, models

    s = _settings(args)
    if bool(args.paths) == bool(args.creo):
        raise CadfinderError("give part files or folders, or --creo FOLDER_OR_PATTERN (one of the two)")
    weights_dir = models.weights_dir(s)
    models.encoder(s)  # fail early and clearly when weights are missing
    common = dict(jobs=args.jobs, refine_steps=args.refine, thumbnails=not args.no_thumbnails,
                  clip=None if args.no_views else models.clip_spec(s))
    with library.writer(s, args.db) as conn:
        if args.creo:
            from cadfinder import creo_ingest

            _bridge_settings(s, args)
            summary = creo_ingest.ingest_creo(conn, args.creo, s.bridge, weights_dir,
                                              args.export_dir or creo_ingest.export_dir(s),
                                              progress=not args.quiet, **common)
        else:
            summary = ingest.ingest(conn, args.paths, weights_dir, progress=not args.quiet, **common)
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print(f"added {summary.added}, updated {summary.updated}, skipped {summary.skipped} (unchanged), "
              f"failed {summary.failed}")
        for e in summary.errors:
            print(f"  failed: {e}", file=sys.stderr)
        for w in summary.warnings[:20]:
            print(f"  warning: {w}", file=sys.stderr)
    return 0 if summary.failed == 0 else 3


def _print_result(res, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res.as_dict()), flush=True)
        return
    print(f"{res.query}:  ({', '.join(f'{k} {v:.0f} ms' for k, v in res.timings_ms.items())})")
    for i, r in enumerate(res.results, 1):
        mass = f"{r.mass_kg:.3f} kg" if r.mass_kg is not None else "-"
        print(f"  {i:2d}. {r.part_number:12s} {r.score:6.3f}  {r.name[:48]:48s} {r.family or '-':10s} "
              f"{r.material or '-':16s} {mass}")
    for w in res.warnings:
        print(f"  warning: {w}", file=sys.stderr)


def cmd_search(args) -> int:
    import time

    from cadfinder import library, models, pipeline, queries, search
    from cadfinder.errors import InputError

    s = _settings(args)
    where = search.parse_filters((args.where or []) + ([f"kind={args.kind}"] if args.kind != "any" else []))
    t = time.perf_counter()
    queries_given = ([("pointcloud", q) for q in args.pointcloud or []] + [("mesh", q) for q in args.mesh or []]
                     + [("like", q) for q in args.like or []] + [("text", q) for q in args.text or []]
                     + [("sketch", q) for q in args.sketch or []])
    if not queries_given:
        raise CadfinderError("give at least one query: --pointcloud FILE, --mesh FILE, --like PART_NUMBER, "
                             "--text TEXT or --sketch IMAGE")
    geometric = any(kind in ("pointcloud", "mesh") for kind, _ in queries_given)
    semantic = args.and_text or any(kind in ("text", "sketch") for kind, _ in queries_given)
    encoder = models.encoder(s) if geometric else None
    clip = models.clip(s) if semantic else None
    sentences = models.sentences(s) if args.and_text or any(kind == "text" for kind, _ in queries_given) else None
    import cadfinder.geometry.readers  # noqa: F401  (its imports count as model load, not as query time)

    load_ms = 1000 * (time.perf_counter() - t)
    failed = 0
    with (library.connect(s, args.db) as conn,
          search.Searcher(conn, encoder, ef_search=s.index.hnsw_ef_search, candidates=args.candidates) as searcher):
        engines = queries.Engines(geometry=lambda: searcher, clip=lambda: clip, sentences=lambda: sentences)
        for kind, q in queries_given:
            try:
                t = time.perf_counter()
                if kind == "like":
                    steps = queries.like(engines, q, args.k, where)
                elif kind == "text":
                    steps = queries.text(engines, q, args.k, where)
                elif kind == "sketch":
                    from cadfinder.embeddings.model import image_to_grey

                    steps = queries.sketch(engines, image_to_grey(q), args.k, where, label=q, with_text=args.and_text)
                else:
                    pts, warnings = search.load_query_points(q, units=args.units)
                    steps = queries.points(engines, pts, args.k, where, label=q, with_text=args.and_text,
                                           rerank=not args.no_rerank, metric=not args.any_scale)
                load = 1000 * (time.perf_counter() - t)
                res = pipeline.run(steps, conn)
                if kind in ("pointcloud", "mesh"):
                    res.warnings = warnings + res.warnings
                if kind == "like" and args.and_text:
                    res.warnings.append("--and-text applies to sketch, point-cloud and mesh queries only")
            except InputError as e:
                failed += 1
                if args.json:
                    print(json.dumps({"query": q, "results": [], "error": str(e), "timings_ms": {}}), flush=True)
                else:
                    print(f"{q}: error: {e}", file=sys.stderr)
                continue
            res.timings_ms = {"load": load, **res.timings_ms, "total": res.timings_ms["total"] + load,
                              "model_load": load_ms}
            load_ms = 0.0
            _print_result(res, args.json)
    return 0 if failed == 0 else 1


def cmd_embed(args) -> int:
    from cadfinder import library, models
    from cadfinder.embeddings.part_views import backfill
    from cadfinder.ingest import backfill_implicit, backfill_signatures, backfill_views, embed_words

    s = _settings(args)
    clip = models.clip(s)
    models.implicit(s)  # a clear error now if the weights are missing, not one per part
    with library.writer(s, args.db) as conn:
        implicit = backfill_implicit(conn, models.weights_dir(s), progress=not args.quiet)
        scans = backfill_views(conn, progress=not args.quiet)
        signatures = backfill_signatures(conn)
        words = embed_words(conn)
        out = backfill(conn, clip, everything=args.all, progress=not args.quiet)
    for step in (implicit, scans, signatures):
        out["failed"] += step.pop("failed")
        out["errors"] = step.pop("errors") + out["errors"]
    _print(out | scans | implicit | signatures | words, args.json)
    return 0 if out["failed"] == 0 else 3


def cmd_train_clip(args) -> int:
    from pathlib import Path

    from cadfinder.deepsdf.train import pick_device
    from cadfinder.embeddings.train import train

    cats = [_catalog_arg(argparse.Namespace(catalog=c)) for c in (args.catalog or [None])]
    out = Path(args.out) if args.out else _models_dir().parent / "clip"
    path = train(cats, out, steps=args.steps, batch=args.batch, init=args.init, arch=args.arch,
                 resume=args.resume, device=str(pick_device(args.device)), seed=args.seed, progress=not args.quiet)
    print(f"saved {path}\nuse it: cadfinder settings set models.clip_weights={path} && cadfinder embed")
    return 0


def cmd_eval_clip(args) -> int:
    from cadfinder import calibration, library, models
    from cadfinder.embeddings.evaluate import calibrate, evaluate

    s = _settings(args)
    clip = models.clip(s)
    with library.connect(s, args.db) as conn:
        out = evaluate(conn, clip, _catalog_arg(args), queries=args.queries, k=args.k,
                       ef_search=s.index.hnsw_ef_search, progress=not args.json)
    pairs = out.pop("score_pairs")
    if args.calibrate:
        try:
            values, report = calibrate(pairs)
        except ValueError as e:
            raise CadfinderError(str(e)) from None
        path = calibration.save(calibration.SEMANTIC, values)
        out["calibration"] = {"values": values, "held_out_queries": report, "written": str(path)}
    _print(out, args.json)
    return 0


def cmd_duplicates(args) -> int:
    from pathlib import Path

    from cadfinder import duplicate_report, duplicates, library, pipeline, search

    s = _settings(args)
    filters = search.parse_filters(args.where)

    def progress(p):
        if not args.quiet and isinstance(p, duplicates.Progress):
            print(f"\r{p.stage}: {p.done}/{p.total}", end="", file=sys.stderr, flush=True)

    with library.connect(s, args.db) as conn:
        a = pipeline.run(duplicates.analyse(threshold=args.threshold or duplicates.THRESHOLD,
                                            neighbours=args.neighbours or duplicates.NEIGHBOURS, filters=filters),
                         conn, on_partial=progress)
        if not args.quiet:
            print(file=sys.stderr)
        if args.csv:
            Path(args.csv).write_text(duplicate_report.to_csv(a), encoding="utf-8")
        if args.html:
            names = [m.part_number for g in a.groups for m in g.members]
            thumbs = {r[0]: bytes(r[1]) for r in conn.execute(duplicate_report.THUMBNAILS, (names,)).fetchall()}
            Path(args.html).write_text(duplicate_report.to_html(a, thumbs), encoding="utf-8")
    for e in a.errors[:20]:
        print(f"cadfinder: not compared: {e}", file=sys.stderr)
    if args.json:
        print(json.dumps(a.to_dict()))
        return 0
    print(f"{len(a.groups)} group(s) of near-duplicates among {a.parts} parts (mean surface distance <= "
          f"{a.threshold:g} RMS radii; {a.candidates} candidate pairs compared in {a.seconds:.1f} s)")
    for n, g in enumerate(a.groups, 1):
        kinds = "; ".join(duplicate_report.KIND_LABELS[k] for k in g.kinds)
        print(f"  {n:3d}. {kinds}: " + ", ".join(f"{m.part_number} ({m.name})" for m in g.members))
        for name, values in list(g.differing.items())[:6]:
            print(f"       {name}: " + " | ".join("-" if v is None else str(v) for v in values))
    for path in (args.csv, args.html):
        if path:
            print(f"written {path}")
    return 0


def cmd_map_build(args) -> int:
    import time

    from cadfinder import library, library_map, pipeline

    s = _settings(args)
    with library.writer(s, args.db) as conn:
        t = time.perf_counter()
        placed = pipeline.run(library_map.build(), conn)
    _print({"placed": placed, "seconds": round(time.perf_counter() - t, 1)}, args.json)
    return 0


def cmd_map_show(args) -> int:
    from pathlib import Path

    import numpy as np

    from cadfinder import library, library_map, map_view, pipeline, search

    s = _settings(args)
    filters = search.parse_filters(args.where)
    with library.connect(s, args.db) as conn:
        lmap = pipeline.run(library_map.load(), conn)
        kept = pipeline.run(library_map.kept_by(filters), conn) if filters else None
    if len(lmap) == 0:
        raise CadfinderError("the library has no map yet: an admin makes it with `cadfinder map build`")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CadfinderError(f"--size needs WIDTHxHEIGHT in pixels, not {args.size!r}") from None
    view = map_view.MapView(lmap, (w, h))
    view.set_colour_by(args.colour_by)
    view.set_kept(kept)
    if args.png:
        from PIL import Image

        Image.fromarray(view.render()).save(args.png)
    if args.csv:
        import csv

        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["part_number", "x", "y", "family", "material", "mass_kg", "kept"])
            for k, pn in enumerate(lmap.part_numbers):
                out.writerow([pn, f"{lmap.xy[k, 0]:.4f}", f"{lmap.xy[k, 1]:.4f}", lmap.family[k] or "",
                              lmap.material[k] or "", "" if np.isnan(lmap.mass_kg[k]) else lmap.mass_kg[k],
                              int(view.kept[k])])
    info = {"parts": len(lmap), "not_on_map": lmap.missing, "made_at": lmap.made_at,
            "kept_by_filters": int(view.kept.sum()), "legend": [name for name, _ in view.legend.entries][:20]}
    for path in (args.png, args.csv):
        if path:
            info.setdefault("written", []).append(str(Path(path)))
    _print(info, args.json)
    return 0


def cmd_access(args) -> int:
    import psycopg

    from cadfinder import access, library, pipeline, search
    from cadfinder.db import connection
    from cadfinder.errors import InputError

    s = _settings(args)
    try:
        if args.access_command == "list":
            with library.connect(s, args.db) as conn:
                out = pipeline.run(access.overview(), conn)
            if args.json:
                print(json.dumps(out))
            else:
                print("parts per group (those you can see): " + ", ".join(f"{g} {n}" for g, n in out["groups"].items()))
                for g in out["grants"]:
                    print(f"  {g['group']:20s} -> {g['grantee']:20s} ({g['parts']} parts, since {g['granted_at']})")
            return 0
        if args.access_command == "add-login":
            with connection.connect(connection.target(s, uri=args.db, role="maintenance")) as conn:
                created = access.add_login(conn, args.name, admin=args.admin)
            _print({"login": args.name, "created": created, "role": "admin" if args.admin else "designer"}, args.json)
            return 0
        with library.writer(s, args.db) as conn:
            if args.access_command == "grant":
                out = {"group": args.group, "grantee": args.to,
                       "granted": pipeline.run(access.grant(args.group, args.to), conn)}
            elif args.access_command == "revoke":
                out = {"group": args.group, "grantee": args.from_,
                       "revoked": pipeline.run(access.revoke(args.group, args.from_), conn)}
            else:
                moved = pipeline.run(access.assign(args.group, args.parts, search.parse_filters(args.where)), conn)
                out = {"group": args.group, "parts_moved": moved}
    except InputError as e:
        raise CadfinderError(str(e)) from None
    except psycopg.errors.InsufficientPrivilege:
        raise CadfinderError("managing access needs an admin login") from None
    _print(out, args.json)
    return 0


# ---- bridge ---------------------------------------------------------------------------------


def _library_part(s, uri, part_number: str) -> dict:
    from cadfinder import library
    from cadfinder.db import revisions

    with library.connect(s, uri) as conn:
        row = conn.execute("SELECT genome, implicit_codes, norm_offset, norm_scale FROM cad_models "
                           "WHERE part_number = %s " + revisions.LATEST, (part_number,)).fetchone()
    if row is None:
        raise CadfinderError(f"no part {part_number!r} in the library")
    if not row[0]:
        raise CadfinderError(f"part {part_number!r} has no genome (it was ingested from a mesh): nothing to open")
    return {"genome": dict(row[0]), "implicit_codes": bytes(row[1]) if row[1] is not None else None,
            "offset": row[2], "scale": row[3]}


def _implicit_mesh(s, part: dict):
    """The part's implicit form decoded, in millimetres, or None."""
    from cadfinder import models, stored
    from cadfinder.implicit import decode

    if part["implicit_codes"] is None:
        return None
    mesh = decode.codes_to_mesh(models.implicit(s)[0], part["implicit_codes"], res=129)
    mesh.vertices = stored.part_frame(part["offset"], part["scale"]).to_mm(mesh.vertices)
    return mesh


def _bridge_settings(s, args):
    if getattr(args, "creoson_url", None):
        s.bridge.creoson_url = args.creoson_url
    return s


def cmd_open(args) -> int:
    import trimesh

    from cadfinder import bridge
    from cadfinder.bridge.validation import validate

    s = _bridge_settings(_settings(args), args)
    part = _library_part(s, args.db, args.part)
    backend = args.backend or s.bridge.backend
    out = bridge.open_genome(part["genome"], backend, s, out_dir=args.out or ".", name=args.part)
    if backend == "cadquery" and not args.no_validate:
        out["validation"] = validate(trimesh.load(out["stl"]), _implicit_mesh(s, part))
    _print(out, args.json)
    return 0


def cmd_adapt(args) -> int:
    import json as json_mod
    from pathlib import Path

    from cadfinder import bridge, search
    from cadfinder.bridge import safety
    from cadfinder.bridge.adapt import adapt
    from cadfinder.genome.validate import is_creo_tree

    s = _bridge_settings(_settings(args), args)
    part = _library_part(s, args.db, args.part)
    pts, warnings = search.load_query_points(args.to, units=args.units)
    new_pn = safety.part_number(args.part_number or f"{args.part}-ADAPT")

    def report(n, best):
        if not args.json and n % 10 == 0:
            print(f"  evaluation {n}: fit {best:.3f} mm", file=sys.stderr)

    validation = None
    if is_creo_tree(part["genome"]):  # only Creo rebuilds it: every evaluation is a Creo regeneration
        from cadfinder import creo_ingest
        from cadfinder.bridge.creo_backend import CreoInstancer
        from cadfinder.bridge.validation import validate

        if (args.backend or "creo") != "creo":
            raise CadfinderError(f"{args.part} was ingested from Creo: only Creo can adapt it (--backend creo)")
        args.backend = "creo"
        work = creo_ingest.export_dir(s) / "adapt"
        work.mkdir(parents=True, exist_ok=True)
        with CreoInstancer(part["genome"], s.bridge, str(work)) as build:
            a = adapt(part["genome"], pts, max_evaluations=args.evaluations, progress=report, instancer=build)
            validation = validate(build(a.genome), _implicit_mesh(s, part), a.query_in_part_frame)
    else:
        a = adapt(part["genome"], pts, max_evaluations=args.evaluations, progress=report)
    genome = dict(a.genome)
    genome["name"] = f"{genome.get('name', args.part)} (adapted from {args.part})"
    out_dir = Path(args.out or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    # A sidecar like the catalog's: `cadfinder ingest OUT` adds the new part with its genome.
    sidecar = {"part_number": new_pn, "name": genome["name"], "family": genome.get("family"),
               "material": genome.get("material"), "adapted_from": args.part,
               "description": f"adapted from {args.part}: " + ", ".join(f"{k} {a_:g} -> {b:g}"
                                                                           for k, (a_, b) in a.changed.items()),
               "genome": genome}
    gpath = safety.inside(out_dir, f"{new_pn}.json")
    gpath.write_text(json_mod.dumps(sidecar, indent=1))
    result = {"part_number": new_pn, "adapted_from": args.part, "genome": str(gpath), **a.as_dict(),
              "warnings": warnings}
    result["opened"] = bridge.open_genome(genome, args.backend or "cadquery", s, out_dir=str(out_dir), name=new_pn,
                                          new_part_number=new_pn)
    if validation is not None:
        result["validation"] = validation
    _print(result, args.json)
    return 0


# ---- assemblies ------------------------------------------------------------------------------


def cmd_assembly_tree(args) -> int:
    from cadfinder import assemblies, library

    with library.connect(_settings(args), args.db) as conn:
        t = assemblies.tree(conn, args.part)
    if t is None:
        raise CadfinderError(f"no part or assembly {args.part} in the library (or not visible to this login)")
    if args.json:
        print(json.dumps(t))
        return 0

    def show(node, indent):
        place = f"  [{node['path']}]" if indent else ""
        print(f"{indent}{node['part_number']}  {node['name'] or ''}  ({node['kind']}){place}")
        for c in node["children"]:
            show(c, indent + "  ")

    show(t, "")
    return 0


def cmd_where_used(args) -> int:
    from cadfinder import assemblies, library, models, pipeline, queries, search

    s = _settings(args)
    parts = [args.part]
    with library.connect(s, args.db) as conn:
        if args.similar:
            with search.Searcher(conn, models.encoder(s), ef_search=s.index.hnsw_ef_search) as searcher:
                engines = queries.Engines(geometry=lambda: searcher, clip=lambda: None)
                res = pipeline.run(queries.like(engines, args.part, args.similar, []), conn)
            parts += [r.part_number for r in res.results]
        used = assemblies.where_used(conn, parts)
    if args.json:
        print(json.dumps({"parts": parts, "used_in": used}))
        return 0
    if not used:
        print(f"{', '.join(parts)}: in no assembly of the library")
    for u in used:
        how = "directly" if u["depth"] == 1 else f"{u['depth']} levels down"
        print(f"{u['assembly']:16s} {u['name'][:40]:40s} {u['part']} x{u['quantity']} ({how})")
    return 0


def cmd_bridge_test(args) -> int:
    from cadfinder import bridge

    s = _bridge_settings(_settings(args), args)
    if args.backend:
        s.bridge.backend = args.backend
    print(bridge.check(s))
    return 0


# ---- demo -----------------------------------------------------------------------------------


def demo_catalog_dir():
    from cadfinder import demo

    return demo.catalog_dir()


def cmd_demo(args) -> int:
    """Prepare the demo library: database, demo catalog of parts; then report what is there."""
    from cadfinder import demo

    s = _settings(args)
    st = demo.prepare(s, args.db, count=args.count, ingest_parts=not args.no_ingest, progress=not args.json)
    _print(st, args.json)
    if not args.json:
        print("\ntry:  cadfinder search --text \"flange with 8 bolt holes\" --k 5   or   cadfinder gui",
              file=sys.stderr)
    return 0


def cmd_gui(args) -> int:
    from cadfinder.gui import app

    s = _settings(args)
    return app.run(s, args.db, screenshot_path=args.screenshot, text=args.query_text,
                   pointcloud=args.query_pointcloud, sketch=args.query_sketch, demo=args.demo)


# ---- settings -------------------------------------------------------------------------------


def cmd_settings_show(args) -> int:
    import dataclasses

    from cadfinder import settings

    s = _settings(args)
    out = dataclasses.asdict(s)
    out["database"]["uri"] = settings.strip_password(out["database"]["uri"])
    out["_file"] = str(settings.settings_path())
    print(json.dumps(out, indent=2))
    return 0


def cmd_settings_set(args) -> int:
    """Set one `section.key=value` setting and save."""
    from cadfinder import settings

    s = _settings(args)
    for assignment in args.assignments:
        key, sep, value = assignment.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not hasattr(s, section) or not hasattr(getattr(s, section), name):
            raise CadfinderError(f"unknown setting {key!r} (see `cadfinder settings show`)")
        group = getattr(s, section)
        kind = type(getattr(group, name))
        try:
            setattr(group, name, kind(value))
        except ValueError:
            raise CadfinderError(f"{key} needs a {kind.__name__}, not {value!r}") from None
    try:
        path = settings.save(s)
    except ValueError as e:
        raise CadfinderError(str(e)) from None
    print(f"saved {path}")
    return 0


# ---- parser ---------------------------------------------------------------------------------


def _database_commands(sub, common) -> None:
    """Commands for the library database: init, migrate, status, reindex."""
    db = sub.add_parser("db", help="set up, upgrade and inspect the library database")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbs.add_parser("init", parents=[common], help="create roles, schema and indexes").set_defaults(func=cmd_db_init)
    dbs.add_parser("migrate", parents=[common], help="apply pending schema migrations").set_defaults(
        func=cmd_db_migrate
    )
    dbs.add_parser("status", parents=[common], help="server, pgvector, schema, rows and indexes").set_defaults(
        func=cmd_db_status
    )
    ri = dbs.add_parser("reindex", parents=[common], help="rebuild the HNSW indexes")
    ri.add_argument("--m", type=int, help="HNSW m (default: from settings)")
    ri.add_argument("--ef-construction", type=int, help="HNSW ef_construction (default: from settings)")
    ri.set_defaults(func=cmd_db_reindex)


def _catalog_commands(sub, common) -> None:
    """Commands for the demo catalog and part genomes."""
    cat = sub.add_parser("catalog", help="build and check a catalog of generated parts (demo or variety)")
    cats = cat.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    cb = cats.add_parser("build", parents=[common], help="generate parts (genome, STEP, STL, metadata)")
    cb.add_argument("out", help="output folder (resumes if it holds an unfinished build)")
    cb.add_argument("--count", type=int, default=1000)
    cb.add_argument("--seed", type=int, default=0)
    cb.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    cb.add_argument("--variety", action="store_true",
                    help="draw from the 24 kinds beyond the demo families (standard, turned, machined, random parts)")
    cb.add_argument("--unseen", metavar="KIND,...",
                    help="kinds left out of model training whole (default with --variety: one of each sort; "
                         "'' for none)")
    cb.add_argument("--quiet", action="store_true", help="no progress bar")
    cb.set_defaults(func=cmd_catalog_build)
    cc = cats.add_parser("check", parents=[common], help="validate genomes, STEP files and meshes of a catalog")
    cc.add_argument("out")
    cc.set_defaults(func=cmd_catalog_check)

    gen = sub.add_parser("genome", help="validate or instantiate a part genome (JSON)")
    gens = gen.add_subparsers(dest="genome_command", metavar="ACTION", required=True)
    gv = gens.add_parser("validate", help="check genome files against the schema")
    gv.add_argument("files", nargs="+")
    gv.set_defaults(func=cmd_genome_validate)
    gi = gens.add_parser("instantiate", parents=[common], help="build a genome with the open kernel: STEP + STL")
    gi.add_argument("file")
    gi.add_argument("--out", default=".")
    gi.add_argument("--name", help="output file stem (default: the input's)")
    gi.add_argument("--set", action="append", metavar="PARAM=VALUE", help="change a parameter first")
    gi.set_defaults(func=cmd_genome_instantiate)


def _training_commands(sub, common) -> None:
    """Commands for training the models."""
    tr = sub.add_parser("train", help="train the models (implicit form, DeepSDF decoder, point-cloud encoder, CLIP)")
    trs = tr.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    td = trs.add_parser("decoder", parents=[common], help="the DeepSDF auto-decoder and catalog latents")
    td.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    td.add_argument("--config", default="compact", help="compact, reference, or a TOML file")
    td.add_argument("--out", help="output folder (default: DATA/models/deepsdf)")
    td.add_argument("--cache", help="SDF sample cache folder (default: CATALOG/.sdf_cache)")
    td.add_argument("--epochs", type=int, help="override the config's epochs")
    td.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    td.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    td.add_argument("--seed", type=int, default=0)
    td.add_argument("--all-parts", action="store_true", help="train on held-out parts too")
    td.add_argument("--quiet", action="store_true")
    td.set_defaults(func=cmd_train_decoder)

    te = trs.add_parser("encoder", parents=[common], help="the point-cloud encoder (needs a trained decoder)")
    te.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    te.add_argument("--out", help="output folder (default: DATA/models/deepsdf)")
    te.add_argument("--decoder", help="decoder bundle (default: OUT/deepsdf.safetensors)")
    te.add_argument("--scans", type=int, default=8, help="simulated scans per training part")
    te.add_argument("--epochs", type=int, default=20)
    te.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    te.add_argument("--seed", type=int, default=0)
    te.add_argument("--quiet", action="store_true")
    te.set_defaults(func=cmd_train_encoder)

    ti = trs.add_parser("implicit", parents=[common], help="the local-code model of every part's implicit form")
    ti.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    ti.add_argument("--out", help="output folder (default: DATA/models/implicit)")
    ti.add_argument("--cache", help="training data cache folder (default: CATALOG/.implicit_cache)")
    ti.add_argument("--hold-out-families", default="pulley,hinge",
                    help="families kept out of training entirely, for an honest evaluation (comma-separated)")
    ti.add_argument("--epochs", type=int, default=15)
    ti.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    ti.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ti.add_argument("--seed", type=int, default=0)
    ti.add_argument("--quiet", action="store_true")
    ti.set_defaults(func=cmd_train_implicit)

    tc = trs.add_parser("clip", parents=[common], help="the CLIP-style text/image/sketch model")
    tc.add_argument("--catalog", action="append",
                    help="catalog folder, repeatable: trains on all their training parts (default: the demo catalog)")
    tc.add_argument("--out", help="output folder (default: DATA/models/clip)")
    tc.add_argument("--steps", type=int, default=900)
    tc.add_argument("--batch", type=int, default=96)
    tc.add_argument("--init", help="fine-tune from these pretrained open_clip weights (safetensors)")
    tc.add_argument("--arch", default="cadfinder-domain",
                    help="architecture: cadfinder-domain, or the open_clip name of --init's weights (e.g. ViT-B-32)")
    tc.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    tc.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--quiet", action="store_true")
    tc.set_defaults(func=cmd_train_clip)


def _evaluation_commands(sub, common) -> None:
    """Commands for measuring the models and the search."""
    ev = sub.add_parser("eval", help="measure model and retrieval quality")
    evs = ev.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    er = evs.add_parser("recon", parents=[common],
                        help="how faithfully the implicit form reproduces held-out, unseen-family and outside parts")
    er.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    er.add_argument("--parts", type=int, default=24, help="parts per catalog set (held-out, unseen families)")
    er.add_argument("--outside", type=int, default=24, help="parts of no catalog family, built for the run")
    er.add_argument("--reference", action="store_true",
                    help="also a raw narrow-band distance grid of the same storage (what the codes approach)")
    er.add_argument("--baseline", action="store_true",
                    help="also the global 256-d search latent decoded by the DeepSDF decoder (slow)")
    er.set_defaults(func=cmd_eval_recon)

    ert = evs.add_parser("retrieval", parents=[common], help="exact-part recall on held-out parts (ingested)")
    ert.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    ert.add_argument("--queries", type=int, default=100, help="parts used as queries, per split")
    ert.add_argument("--k", type=int, default=10)
    ert.add_argument("--candidates", type=int, default=30)
    ert.add_argument("--kinds", nargs="+", choices=["full_mesh", "partial_scan_catalog_pose",
                                                     "partial_scan_random_pose_true_size", "partial_scan_random_pose"])
    ert.add_argument("--no-oracle", action="store_true", help="skip the look-alike oracle")
    ert.add_argument("--calibrate", action="store_true", help="refit the score calibration and save it")
    ert.set_defaults(func=cmd_eval_retrieval)

    ec = evs.add_parser("clip", parents=[common],
                        help="text and sketch family precision on the ingested demo library, unseen phrasings")
    ec.add_argument("--catalog", help="catalog folder (default: the demo catalog)")
    ec.add_argument("--queries", type=int, default=96, help="queries per kind")
    ec.add_argument("--k", type=int, default=10)
    ec.add_argument("--calibrate", action="store_true",
                    help="refit the text and sketch score calibrations (on training parts' queries) and save them")
    ec.set_defaults(func=cmd_eval_clip)


def _library_commands(sub, common) -> None:
    """Commands for the library: decode, ingest, search, embed, duplicates, the demo."""
    me = sub.add_parser("mesh", parents=[common], help="decode a part's implicit form (or a search latent) into a mesh")
    src = me.add_mutually_exclusive_group(required=True)
    src.add_argument("part", nargs="?", help="part number")
    src.add_argument("--latent", help="a .npy file holding one 256-d search latent (decoded by the DeepSDF decoder)")
    me.add_argument("--out", help="output mesh file (default: <part or latent>.stl)")
    me.add_argument("--res", type=int, default=129, help="grid resolution: 65, 129 or 257")
    me.add_argument("--dense", action="store_true", help="--latent only: evaluate the dense grid (for comparison)")
    me.set_defaults(func=cmd_mesh)

    ing = sub.add_parser("ingest", parents=[common], help="add part files or folders (STEP assemblies too), or a "
                         "Creo library through CREOSON, to the library")
    ing.add_argument("paths", nargs="*", metavar="PATH")
    ing.add_argument("--creo", metavar="FOLDER_OR_PATTERN",
                     help="ingest Creo models over CREOSON: a folder as Creo sees it, or a pattern like "
                          "C:/plm/brk*.prt (family-table instances and assemblies included)")
    ing.add_argument("--export-dir", help="where Creo writes STEP for --creo (default: settings "
                                          "bridge.creo_export_dir, else the data folder)")
    ing.add_argument("--creoson-url", help="override bridge.creoson_url")
    ing.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    ing.add_argument("--refine", type=int, default=0, metavar="STEPS",
                     help="refine each encoder latent by this many auto-decoder steps (slower, closer fit)")
    ing.add_argument("--no-thumbnails", action="store_true")
    ing.add_argument("--no-views", action="store_true", help="skip the view embeddings (text/sketch search)")
    ing.add_argument("--quiet", action="store_true")
    ing.set_defaults(func=cmd_ingest)

    se = sub.add_parser("search", parents=[common], help="find parts by text, sketch, point cloud, mesh or example")
    se.add_argument("--pointcloud", nargs="+", metavar="FILE", help="scans / point clouds (several allowed)")
    se.add_argument("--mesh", nargs="+", metavar="FILE", help="mesh or CAD files (several allowed)")
    se.add_argument("--like", nargs="+", metavar="PART_NUMBER", help="parts like these library parts")
    se.add_argument("--text", nargs="+", metavar="TEXT", help='descriptions, e.g. "flange with six bolt holes"')
    se.add_argument("--sketch", nargs="+", metavar="IMAGE", help="hand sketches (PNG/JPEG, dark lines on light)")
    se.add_argument("--and-text", metavar="TEXT",
                    help="combine this text with each sketch / point-cloud / mesh query (hybrid search)")
    se.add_argument("--k", type=int, default=10)
    se.add_argument("--where", action="append", metavar="EXPR",
                    help="filter, e.g. material=aluminium, family=flange, mass_kg<2.5, feature=hole (repeatable)")
    se.add_argument("--kind", choices=["part", "assembly", "any"], default="any", help="parts, assemblies or both")
    se.add_argument("--units", help="units of the query files (default: mm, or the file's own)")
    se.add_argument("--candidates", type=int, default=30, help="nearest latents re-ranked geometrically")
    se.add_argument("--no-rerank", action="store_true", help="latent distance only (faster, less exact)")
    se.add_argument("--any-scale", action="store_true",
                    help="the query's size means nothing (unknown units): match shape at any scale")
    se.set_defaults(func=cmd_search)

    em = sub.add_parser("embed", parents=[common], help="compute what a part lacks: its shape signature, implicit form (for the "
                        "current local-code model), scan-view descriptors (partial-scan search) and view/text "
                        "embeddings for the current CLIP model")
    em.add_argument("--all", action="store_true", help="re-embed every part, not only missing or outdated ones")
    em.add_argument("--quiet", action="store_true")
    em.set_defaults(func=cmd_embed)

    du = sub.add_parser("duplicates", parents=[common], help="report near-duplicate parts in the library")
    du.add_argument("--threshold", type=float, default=None,
                    help="mean surface distance in RMS radii of the parts (default 0.003)")
    du.add_argument("--neighbours", type=int, default=None, help="shape-signature neighbours compared per part (8)")
    du.add_argument("--where", action="append", help="only parts this filter keeps (as for search), repeatable")
    du.add_argument("--csv", help="write the groups as CSV (one row per part)")
    du.add_argument("--html", help="write a self-contained HTML report with thumbnails")
    du.add_argument("--quiet", action="store_true", help="no progress on stderr")
    du.set_defaults(func=cmd_duplicates)

    ac = sub.add_parser("access", help="access groups: who may see which parts (admin)")
    acs = ac.add_subparsers(dest="access_command", metavar="ACTION", required=True)
    acs.add_parser("list", parents=[common], help="grants and the parts per group").set_defaults(func=cmd_access)
    ag = acs.add_parser("grant", parents=[common], help="let a login (or role) see a group's parts")
    ag.add_argument("group")
    ag.add_argument("--to", required=True, metavar="LOGIN")
    ag.set_defaults(func=cmd_access)
    ar = acs.add_parser("revoke", parents=[common], help="take a group away from a login")
    ar.add_argument("group")
    ar.add_argument("--from", dest="from_", required=True, metavar="LOGIN")
    ar.set_defaults(func=cmd_access)
    aa = acs.add_parser("assign", parents=[common], help="put parts into a group (part numbers and/or --where)")
    aa.add_argument("group")
    aa.add_argument("parts", nargs="*")
    aa.add_argument("--where", action="append", help="the parts this filter keeps (as for search), repeatable")
    aa.set_defaults(func=cmd_access)
    al = acs.add_parser("add-login", parents=[common], help="create a designer login (--admin: an admin one)")
    al.add_argument("name")
    al.add_argument("--admin", action="store_true")
    al.set_defaults(func=cmd_access)

    mp = sub.add_parser("map", help="the library map: every part placed by shape similarity")
    mps = mp.add_subparsers(dest="map_command", metavar="ACTION", required=True)
    mps.add_parser("build", parents=[common], help="project every part's shape latent to 2-D and store the map "
                   "(admin; after ingesting)").set_defaults(func=cmd_map_build)
    ms = mps.add_parser("show", parents=[common], help="the stored map: a picture and/or the positions")
    ms.add_argument("--png", help="write the map as a PNG picture")
    ms.add_argument("--csv", help="write each part's position, family, material and mass")
    ms.add_argument("--colour-by", default="family", choices=("family", "material", "mass"))
    ms.add_argument("--size", default="1200x900", help="picture size in pixels, WIDTHxHEIGHT")
    ms.add_argument("--where", action="append", help="dim the parts this filter drops (as for search), repeatable")
    ms.set_defaults(func=cmd_map_show)

    demo = sub.add_parser("demo", parents=[common], help="prepare the demo library and report on it")
    demo.add_argument("--count", type=int, help="parts in the demo catalog (default 1000)")
    demo.add_argument("--no-ingest", action="store_true", help="build the catalog but do not ingest it")
    demo.set_defaults(func=cmd_demo)


def _bridge_commands(sub, common) -> None:
    """Commands for the bridge: open in Creo or the open kernel, adapt, test."""
    op = sub.add_parser("open", parents=[common], help="open a library part's genome in Creo or the open kernel")
    op.add_argument("part", metavar="PART_NUMBER")
    op.add_argument("--backend", choices=["creo", "cadquery"], help="default: settings bridge.backend")
    op.add_argument("--out", help="cadquery: folder for the STEP and STL (default: .)")
    op.add_argument("--creoson-url", help="override bridge.creoson_url")
    op.add_argument("--no-validate", action="store_true", help="skip the comparison with the implicit shape")
    op.set_defaults(func=cmd_open)

    ad = sub.add_parser("adapt", parents=[common], help="fit a part's parameters to a scan or mesh, as a new part")
    ad.add_argument("part", metavar="PART_NUMBER")
    ad.add_argument("--to", required=True, metavar="QUERY_FILE", help="point cloud or mesh to fit (mm)")
    ad.add_argument("--out", help="folder for the new genome, STEP and STL (default: .)")
    ad.add_argument("--part-number", help="the new part's number (default: PART_NUMBER-ADAPT)")
    ad.add_argument("--evaluations", type=int, default=200, help="open-kernel evaluations allowed")
    ad.add_argument("--units", help="units of the query file (default: mm)")
    ad.add_argument("--backend", choices=["creo", "cadquery"], help="open the result with (default: cadquery)")
    ad.add_argument("--creoson-url", help="override bridge.creoson_url")
    ad.set_defaults(func=cmd_adapt)

    asm = sub.add_parser("assembly", help="assemblies: component trees and where a part is used")
    asms = asm.add_subparsers(dest="sub", required=True)
    at = asms.add_parser("tree", parents=[common], help="the component tree of an assembly")
    at.add_argument("part", metavar="PART_NUMBER")
    at.set_defaults(func=cmd_assembly_tree)
    aw = asms.add_parser("where-used", parents=[common], help="the assemblies that contain a part")
    aw.add_argument("part", metavar="PART_NUMBER")
    aw.add_argument("--similar", type=int, default=0, metavar="K",
                    help="also the assemblies that contain any of the K parts most like it")
    aw.set_defaults(func=cmd_where_used)

    br = sub.add_parser("bridge", help="the Creo / open-kernel bridge")
    brs = br.add_subparsers(dest="sub", required=True)
    bt = brs.add_parser("test", parents=[common], help="check the configured bridge (Creo over CREOSON)")
    bt.add_argument("--backend", choices=["creo", "cadquery"])
    bt.add_argument("--creoson-url", help="override bridge.creoson_url")
    bt.set_defaults(func=cmd_bridge_test)


def _app_commands(sub, common) -> None:
    """Commands for the app and its settings."""
    gui = sub.add_parser("gui", parents=[common], help="open the desktop app (the default with no command)")
    gui.add_argument("--screenshot", metavar="PATH", help="run one query, save a window screenshot and exit")
    gui.add_argument("--query-text", metavar="TEXT")
    gui.add_argument("--query-pointcloud", metavar="FILE")
    gui.add_argument("--query-sketch", metavar="IMAGE")
    gui.add_argument("--demo", action="store_true",
                     help="on an empty embedded library, fill it with the demo library in the background")
    gui.set_defaults(func=cmd_gui)

    st = sub.add_parser("settings", help="show or change settings")
    sts = st.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    sts.add_parser("show", help="print the settings as JSON").set_defaults(func=cmd_settings_show)
    ss = sts.add_parser("set", help="set section.key=value and save")
    ss.add_argument("assignments", nargs="+", metavar="SECTION.KEY=VALUE")
    ss.set_defaults(func=cmd_settings_set)

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URI", help="use this PostgreSQL server instead of the configured one")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    p = argparse.ArgumentParser(
        prog="cadfinder",
        description="Shape search for mechanical CAD parts. With no command, opens the desktop app.",
    )
    p.add_argument("--version", action="version", version=f"cadfinder {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in (_database_commands, _catalog_commands, _training_commands, _evaluation_commands,
                  _library_commands, _bridge_commands, _app_commands):
        group(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(["gui"] if argv == [] or (argv is None and len(sys.argv) == 1) else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    import psycopg

    try:
        return args.func(args)
    except CadfinderError as e:
        print(f"cadfinder: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.OperationalError as e:  # the server went away (or its disk filled) mid-command
        from cadfinder.db.connection import explain

        err = explain(e)
        tail = "" if isinstance(err, DiskError) else (
            "; what was done is kept, and the same command resumes once the server is back")
        print(f"cadfinder: error: {err}{tail}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.Error as e:  # refused by the server (a designer login writing, a read-only standby)
        from cadfinder.db.connection import explain

        print(f"cadfinder: error: {explain(e)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:  # a file of cadfinder's own (settings, exports) on a full or read-only disk
        where = f" ({e.filename})" if e.filename else ""
        print(f"cadfinder: error: {e.strerror or e}{where}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cadfinder: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
