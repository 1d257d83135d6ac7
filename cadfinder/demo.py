"""The demo library: the 1,000-part demo catalog built once and ingested into the library."""

from __future__ import annotations

import json
import sys

from cadfinder import settings as settings_mod


DEMO_PARTS = 1000


def catalog_dir():
    return settings_mod.data_dir() / "demo_catalog"


def _planned_count() -> int | None:
    """The part count of the demo catalog begun in this data dir, or None."""
    try:
        return int(json.loads((catalog_dir() / "catalog.json").read_text())["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unfinished(settings, uri: str | None = None) -> bool:
    """True when the demo library was begun in this data dir (by `cadfinder demo` or the app) and
    not all of its catalog is in the library: the app then resumes filling it."""
    from cadfinder import library

    if settings.database.uri or uri:  # the demo lives on the embedded database only
        return False
    try:
        manifest = json.loads((catalog_dir() / "catalog.json").read_text())
    except (OSError, ValueError):
        return False
    if not manifest.get("complete"):
        return True
    names = [p["part_number"] for p in manifest.get("parts", [])]
    with library.connect(settings, uri) as conn:
        have = conn.execute("SELECT count(DISTINCT part_number) FROM cad_models WHERE part_number = ANY(%s)",
                            (names,)).fetchone()[0]
    return have < len(names)


def catalog_order(part_file) -> str:
    """Ingest the demo parts in catalog order (BRK-00000, FLG-00001, ...): the families fill in
    evenly, so a library still filling already answers for every family."""
    return part_file.part_number.rsplit("-", 1)[-1]


def prepare(settings, uri: str | None = None, count: int | None = None, ingest_parts: bool = True,
            progress: bool = True, on_progress=None, cancelled=None) -> dict:
    """Build the demo catalog of `count` parts (default: as many as one begun here planned, else
    DEMO_PARTS; resumable) and ingest it; add view embeddings parts lack. Returns the library
    status with what was done.

    `on_progress(stage, done, total)` reports each part, stage "building" then "ingesting" (the
    app's status bar); `cancelled()` returning True stops after the parts already running, and a
    later call resumes."""
    from cadfinder.catalog import build
    from cadfinder.db import lifecycle

    def report(stage):
        return None if on_progress is None else (lambda done, total, _part: on_progress(stage, done, total))

    count = count or _planned_count() or DEMO_PARTS
    st = lifecycle.status(settings, uri)
    out = catalog_dir()
    if progress:
        print(f"demo catalog: {out} ({count} parts, built once, resumable)", file=sys.stderr)
    m = build.build(out, count=count, seed=0, progress=progress, on_progress=report("building"), cancelled=cancelled)
    cat = {"path": str(out), "parts": len(m["parts"]), "complete": m["complete"]}
    if not ingest_parts or (cancelled is not None and cancelled()):
        return st | {"demo_catalog": cat}
    from cadfinder import ingest, library, models

    models.encoder(settings)
    clip = models.clip_spec(settings)
    with library.writer(settings, uri) as conn:
        summary = ingest.ingest(conn, [out], models.weights_dir(settings), progress=progress, clip=clip,
                                on_progress=report("ingesting"), cancelled=cancelled, order=catalog_order)
        embedded = None
        if clip is not None and not summary.cancelled:
            from cadfinder.embeddings.part_views import backfill

            embedded = backfill(conn, models.clip(settings), progress=progress)["embedded"]
        mapped = None
        if not summary.cancelled:
            from cadfinder import library_map, pipeline

            if pipeline.run(library_map.load(), conn).missing:
                if on_progress is not None:
                    on_progress("mapping", 0, 1)
                mapped = pipeline.run(library_map.build(), conn)
    done = {k: v for k, v in summary.as_dict().items() if k not in ("errors", "warnings")}
    if embedded is not None:
        done["view_embeddings_added"] = embedded
    if mapped is not None:
        done["parts_on_map"] = mapped
    return lifecycle.status(settings, uri) | {"demo_catalog": cat, "ingest": done}
