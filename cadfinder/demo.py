"""The demo library: the 1,000-part demo catalog built once and ingested into the library."""

from __future__ import annotations

import sys

from cadfinder import settings as settings_mod


def catalog_dir():
    return settings_mod.data_dir() / "demo_catalog"


def prepare(settings, uri: str | None = None, count: int = 1000, ingest_parts: bool = True,
            progress: bool = True) -> dict:
    """Build the demo catalog (resumable) and ingest it; add view embeddings parts lack.
    Returns the library status with what was done."""
    from cadfinder.catalog import build
    from cadfinder.db import lifecycle

    st = lifecycle.status(settings, uri)
    out = catalog_dir()
    if progress:
        print(f"demo catalog: {out} ({count} parts, built once, resumable)", file=sys.stderr)
    m = build.build(out, count=count, seed=0, progress=progress)
    cat = {"path": str(out), "parts": len(m["parts"]), "complete": m["complete"]}
    if not ingest_parts:
        return st | {"demo_catalog": cat}
    from cadfinder import ingest, library, models

    models.encoder(settings)
    clip = models.clip_spec(settings)
    with library.writer(settings, uri) as conn:
        summary = ingest.ingest(conn, [out], models.weights_dir(settings), progress=progress, clip=clip)
        embedded = None
        if clip is not None:
            from cadfinder.embeddings.part_views import backfill

            embedded = backfill(conn, models.clip(settings), progress=progress)["embedded"]
    done = {k: v for k, v in summary.as_dict().items() if k not in ("errors", "warnings")}
    if embedded is not None:
        done["view_embeddings_added"] = embedded
    return lifecycle.status(settings, uri) | {"demo_catalog": cat, "ingest": done}
