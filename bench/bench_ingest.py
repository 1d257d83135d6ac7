"""Ingestion throughput on 2 cores, and what each step of a part costs.

    python bench/bench_ingest.py --catalog CAT [--parts 60] [--jobs 2]

1. A breakdown, in this process on one thread, of the first 12 parts: reading and the canonical
   frame, the search latent, the implicit form's codes, the 48 scan views, the thumbnail, the
   rendered views with their CLIP embeddings. The implicit codes' share is the cost this form
   adds to every part.
2. The real thing: `ingest.ingest` of the first N parts into a fresh embedded library with
   `jobs` worker processes (CLIP view embeddings included, as the demo library has them):
   parts per second, wall clock.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def breakdown(files: list[Path], n: int) -> dict:
    import torch
    import trimesh

    from cadfinder import models, settings
    from cadfinder.deepsdf.encoder import encode
    from cadfinder.embeddings.part_views import embed_part
    from cadfinder.geometry import scan_views
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.geometry.readers import read_mesh
    from cadfinder.geometry.sdf import sample_surface
    from cadfinder.implicit.codes import encode_mesh
    from cadfinder.thumbnails import render_png

    torch.set_num_threads(1)
    s = settings.load()
    enc, clip = models.encoder(s), models.clip(s)
    implicit = models.implicit(s)[0]
    steps = {k: [] for k in ("read + frame", "search latent", "implicit codes", "scan views", "thumbnail",
                             "views + CLIP")}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        steps[name].append(time.perf_counter() - t)
        return out

    for f in files[:n]:
        def read():
            mesh = read_mesh(f).mesh
            frame = catalog_frame(mesh.vertices)
            return mesh, trimesh.Trimesh(frame.to_canonical(mesh.vertices), mesh.faces, process=False)

        mesh, canon = timed("read + frame", read)
        timed("search latent", lambda: encode(enc, [sample_surface(canon, 4096, np.random.default_rng(0))[0]]))
        timed("implicit codes", lambda: encode_mesh(implicit, canon).to_bytes())
        timed("scan views", lambda: scan_views.part_views(canon))
        timed("thumbnail", lambda: render_png(mesh))
        timed("views + CLIP", lambda: embed_part(clip, canon, "part", "a part"))
    total = sum(np.mean(v) for v in steps.values())
    for k, v in steps.items():
        print(f"  {k:15s} {np.mean(v):6.3f} s a part ({np.mean(v) / total:5.1%})")
    print(f"  {'all':15s} {total:6.3f} s a part on one core")
    return {k: float(np.mean(v)) for k, v in steps.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--parts", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cat = Path(args.catalog)
    files = sorted(cat.glob("*.stl"))[: args.parts]
    with tempfile.TemporaryDirectory() as home:
        os.environ["CADFINDER_HOME"] = home
        os.environ.pop("CADFINDER_DB", None)
        print(f"breakdown of one part's ingestion ({min(12, len(files))} parts, one thread):")
        breakdown(files, 12)
        from cadfinder import ingest, library, models, settings
        from cadfinder.db import embedded, lifecycle

        s = settings.load()
        lifecycle.init(s)
        sub = Path(home) / "parts"
        sub.mkdir()
        for f in files:  # the parts with their sidecars, nothing else of the catalog
            for src in (f, f.with_suffix(".json")):
                if src.exists():
                    (sub / src.name).symlink_to(src.resolve())
        try:
            with library.writer(s, None) as conn:
                t = time.perf_counter()
                summary = ingest.ingest(conn, [sub], models.weights_dir(s), jobs=args.jobs, progress=False,
                                        clip=models.clip_spec(s))
                elapsed = time.perf_counter() - t
        finally:
            embedded.stop()
        print(f"ingest of {summary.added} parts with {args.jobs} workers: {elapsed:.1f} s, "
              f"{summary.added / elapsed:.2f} parts/s (failed {summary.failed})")


if __name__ == "__main__":
    main()
