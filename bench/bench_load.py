"""Load: N designer clients searching at once (text, sketch, partial scan, "more like this" in
turn) against one server for a fixed time while an admin ingests new parts.

    python bench/bench_load.py [--clients 8] [--seconds 120] [--ingest 12] [--catalog DIR]
                               (uses the configured library; the demo library by default)

Each client is a process of its own with its own models and a designer connection, as a designer's
app would be. Reported per modality: queries answered, p50 / p95 latency, errors (the goal is 0);
the baseline is one client alone on the same queries, just before, so the ratio shows what
sharing the machine costs. Afterwards the ingested parts are checked whole (latent, sample, mesh,
implicit form, 48 scan views) and stored once, then removed (--keep keeps them).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODALITIES = ("text", "sketch", "partial scan", "more like this")
TEXTS = ["flange with 8 bolt holes", "spur gear with a bore", "aluminium angle bracket", "M8 hex bolt 40 mm",
         "v-belt pulley", "shaft collar clamp", "mounting plate with 4 holes", "enclosure housing"]
PREFIX = "LOAD"


def make_queries(catalog: Path, n: int, seed: int = 0) -> dict:
    """n held-out parts as a sketch and a one-view partial scan each, plus texts."""
    import trimesh

    from cadfinder.embeddings.sketch import sketchify
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.geometry.scan import ScanSettings, simulate_scan
    from cadfinder.views import VIEWS, render_views

    parts = [p for p in json.loads((catalog / "catalog.json").read_text())["parts"] if p["split"] == "heldout"]
    rng = np.random.default_rng(seed)
    picked = [parts[i]["part_number"] for i in rng.choice(len(parts), n, replace=False)]
    sketches, scans = [], []
    for pn in picked:
        m = trimesh.load(catalog / f"{pn}.stl")
        f = catalog_frame(m.vertices)
        canon = trimesh.Trimesh(f.to_canonical(m.vertices), m.faces)
        sketches.append(sketchify(render_views(canon, views=[VIEWS[3]], angle_jitter=0.2, seed=1)[0, 1], rng))
        scans.append(f.to_mm(simulate_scan(canon, ScanSettings(points=5000, views=1), seed=1).points))
    return {"parts": picked, "sketches": sketches, "scans": scans, "texts": TEXTS}


def client(index: int, q: dict, start_at: float, stop_at: float, out) -> None:
    """One designer: its own models and connection; queries in turn until stop_at."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from cadfinder import library, models, pipeline, queries, settings
    from cadfinder.search import Searcher
    from cadfinder.semantic_search import SemanticSearcher

    s = settings.load()
    enc, clip = models.encoder(s), models.clip(s)
    rows = []
    with library.connect(s, None, role="designer") as conn:
        geo = Searcher(conn, enc, ef_search=s.index.hnsw_ef_search)
        sem = SemanticSearcher(conn, clip, ef_search=s.index.hnsw_ef_search)
        run = {
            "text": lambda i: sem.search_text(q["texts"][i % len(q["texts"])], 10),
            "sketch": lambda i: sem.search_sketch(q["sketches"][i % len(q["sketches"])], 10),
            "partial scan": lambda i: pipeline.run(queries.points(geo.engines, q["scans"][i % len(q["scans"])], 10),
                                                   conn),
            "more like this": lambda i: geo.search_like(q["parts"][i % len(q["parts"])], 10),
        }
        while time.time() < start_at:
            time.sleep(0.05)
        i = index
        while time.time() < stop_at:
            kind = MODALITIES[i % len(MODALITIES)]
            t = time.perf_counter()
            try:
                r = run[kind](i // len(MODALITIES))
                ok = bool(r.results)
                rows.append((kind, 1000 * (time.perf_counter() - t), None if ok else "no results"))
            except Exception as e:  # counted: the goal is none
                rows.append((kind, 1000 * (time.perf_counter() - t), f"{type(e).__name__}: {str(e)[:200]}"))
                conn.rollback()
            i += 1
        geo.close(wait=True)
    out.put(rows)


def run_clients(n: int, q: dict, seconds: float, at_start=None) -> list:
    """Rows (modality, ms, error) of n clients querying for `seconds`; `at_start()` is called as
    they start (after every client has loaded its models)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 45 + 5 * n
    procs = [ctx.Process(target=client, args=(i, q, start_at, start_at + seconds, out)) for i in range(n)]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    if at_start is not None:
        at_start()
    rows = [r for _ in procs for r in out.get()]
    for p in procs:
        p.join()
    return rows


def summary(rows: list) -> dict:
    out = {}
    for kind in MODALITIES:
        ms = [t for k, t, err in rows if k == kind and err is None]
        errs = [err for k, t, err in rows if k == kind and err is not None]
        out[kind] = {"answered": len(ms), "errors": len(errs), "first_error": errs[0] if errs else None,
                     "p50_ms": float(np.percentile(ms, 50)) if ms else None,
                     "p95_ms": float(np.percentile(ms, 95)) if ms else None}
    return out


def library_rows(step, prefix: str):
    """step(conn, prefix) (tests.stored_parts.stored or .delete) on the configured library, as an admin."""
    from cadfinder import library, settings

    with library.writer(settings.load(), None) as conn:
        return step(conn, prefix)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--ingest", type=int, default=12, help="parts the admin ingests during the run")
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the ingested parts")
    args = ap.parse_args()
    from cadfinder import demo
    from tests import stored_parts

    catalog = Path(args.catalog) if args.catalog else demo.catalog_dir()
    if library_rows(stored_parts.stored, PREFIX):
        library_rows(stored_parts.delete, PREFIX)  # left by an interrupted run
    q = make_queries(catalog, 12)
    print(f"baseline: 1 client alone, {args.seconds / 2:.0f} s", flush=True)
    alone = summary(run_clients(1, q, args.seconds / 2))
    work = Path(tempfile.mkdtemp(prefix="cf_load_"))
    names = stored_parts.copy_as_new_parts(catalog, work / "parts", PREFIX, args.ingest)
    print(f"load: {args.clients} clients for {args.seconds:.0f} s while an admin ingests {len(names)} parts",
          flush=True)
    admin = {}

    def start_ingest():
        admin["t"] = time.time()
        admin["p"] = subprocess.Popen([sys.executable, "-m", "cadfinder", "ingest", str(work / "parts"), "--jobs", "1",
                                       "--quiet", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=Path(__file__).resolve().parent.parent)

    loaded = summary(run_clients(args.clients, q, args.seconds, at_start=start_ingest))
    queries_end = time.time()
    out, err = admin["p"].communicate()
    ingest_s, overlap_s = time.time() - admin["t"], min(time.time(), queries_end) - admin["t"]
    admin = admin["p"]
    rows = library_rows(stored_parts.stored, PREFIX)
    whole = sorted(pn for pn, v in rows.items() if v == stored_parts.WHOLE)
    result = {"clients": args.clients, "seconds": args.seconds, "alone": alone, "loaded": loaded,
              "ingest": {"returncode": admin.returncode, "report": json.loads(out) if admin.returncode == 0 else err[-500:],
                         "seconds": round(ingest_s, 1), "seconds_under_query_load": round(overlap_s, 1),
                         "parts": len(names), "stored_whole_once": len(whole),
                         "consistent": whole == names and len(rows) == len(names)}}
    if not args.keep:
        library_rows(stored_parts.delete, PREFIX)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'modality':16s} {'answered':>9s} {'errors':>7s} {'p50 ms':>9s} {'p95 ms':>9s} "
          f"{'alone p50':>10s} {'ratio':>6s}")
    for kind in MODALITIES:
        a, b = loaded[kind], alone[kind]
        ratio = f"x{a['p50_ms'] / b['p50_ms']:.1f}" if a["p50_ms"] and b["p50_ms"] else "-"
        print(f"{kind:16s} {a['answered']:9d} {a['errors']:7d} {a['p50_ms'] or 0:9.0f} {a['p95_ms'] or 0:9.0f} "
              f"{b['p50_ms'] or 0:10.0f} {ratio:>6s}")
    i = result["ingest"]
    print(f"\ningest: rc {i['returncode']}, {i['stored_whole_once']}/{i['parts']} parts whole and stored once "
          f"(consistent: {i['consistent']}), in {i['seconds']} s, {i['seconds_under_query_load']} s of it under the "
          "clients' load")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
