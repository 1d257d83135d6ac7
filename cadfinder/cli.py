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


# ---- demo -----------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    """Prepare the demo library on the embedded database and report what is there."""
    from cadfinder.db import lifecycle

    s = _settings(args)
    st = lifecycle.status(s, args.db)
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

    sub.add_parser("demo", parents=[common], help="prepare the demo library and report on it").set_defaults(
        func=cmd_demo
    )

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
