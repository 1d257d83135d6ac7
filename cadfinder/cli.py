"""The `cadfinder` command line: everything the app does, headless.

Errors are one clear line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from cadfinder import __version__
from cadfinder.errors import CadfinderError

EXIT_ERROR = 1
EXIT_USAGE = 2
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
    for key, value in obj.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{key}:")
            for item in value:
                print("  " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            print(f"{key}: {value}")


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
    from cadfinder.db import connection, indexes, lifecycle

    s = _settings(args)
    if args.m:
        s.index.hnsw_m = args.m
    if args.ef_construction:
        s.index.hnsw_ef_construction = args.ef_construction
    s.validate()
    lifecycle.ensure_ready(s, args.db)
    t = connection.target(s, uri=args.db, role="maintenance")
    with connection.connect(t) as conn:
        names = indexes.rebuild(conn, s.index, progress=lambda m: print(m, file=sys.stderr))
    _print({"rebuilt": names}, args.json)
    return 0


# ---- catalog / genome -------------------------------------------------------------------------


def cmd_catalog_build(args) -> int:
    from cadfinder.catalog import build

    m = build.build(args.out, count=args.count, seed=args.seed, jobs=args.jobs, progress=not args.quiet)
    fam = {}
    for p in m["parts"]:
        fam[p["family"]] = fam.get(p["family"], 0) + 1
    summary = {"out": str(args.out), "parts": len(m["parts"]), "families": fam, "failures": m["failures"]}
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

    from cadfinder.catalog.build import describe_instance
    from cadfinder.genome.instantiate import instantiate, with_parameters

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
    inst = instantiate(genome)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or Path(args.file).stem
    mesh = inst.mesh()
    inst.export_step(out / f"{stem}.step")
    mesh.export(out / f"{stem}.stl")
    info = {"step": str(out / f"{stem}.step"), "stl": str(out / f"{stem}.stl")} | describe_instance(inst, genome, mesh)
    _print(info, args.json)
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


# ---- demo -----------------------------------------------------------------------------------


def demo_catalog_dir():
    from cadfinder import settings

    return settings.data_dir() / "demo_catalog"


def cmd_demo(args) -> int:
    """Prepare the demo library: database, demo catalog of parts; then report what is there."""
    from cadfinder.catalog import build
    from cadfinder.db import lifecycle

    s = _settings(args)
    st = lifecycle.status(s, args.db)
    out = demo_catalog_dir()
    print(f"demo catalog: {out} ({args.count} parts, built once, resumable)", file=sys.stderr)
    m = build.build(out, count=args.count, seed=0, progress=not args.json)
    st["demo_catalog"] = {"path": str(out), "parts": len(m["parts"]), "complete": m["complete"]}
    _print(st, args.json)
    return 0


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
    import dataclasses

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
    del dataclasses
    return 0


# ---- parser ---------------------------------------------------------------------------------


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

    cat = sub.add_parser("catalog", help="build and check the demo catalog of parts")
    cats = cat.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    cb = cats.add_parser("build", parents=[common], help="generate parts (genome, STEP, STL, metadata)")
    cb.add_argument("out", help="output folder (resumes if it holds an unfinished build)")
    cb.add_argument("--count", type=int, default=1000)
    cb.add_argument("--seed", type=int, default=0)
    cb.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
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

    tr = sub.add_parser("train", help="train the models (DeepSDF decoder, point-cloud encoder)")
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

    demo = sub.add_parser("demo", parents=[common], help="prepare the demo library and report on it")
    demo.add_argument("--count", type=int, default=1000, help="parts in the demo catalog")
    demo.set_defaults(func=cmd_demo)

    st = sub.add_parser("settings", help="show or change settings")
    sts = st.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    sts.add_parser("show", help="print the settings as JSON").set_defaults(func=cmd_settings_show)
    ss = sts.add_parser("set", help="set section.key=value and save")
    ss.add_argument("assignments", nargs="+", metavar="SECTION.KEY=VALUE")
    ss.set_defaults(func=cmd_settings_set)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except CadfinderError as e:
        print(f"cadfinder: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cadfinder: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
