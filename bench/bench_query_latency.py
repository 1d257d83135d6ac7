"""End-to-end query latency per modality on the ingested library: text, sketch, partial scan,
scan in any pose and scale, mesh, "more like this"; split into load, encode, database and re-rank,
and for scans and meshes the time to the first answer (the vectors' answer the app lists while
the re-rank runs).

Baselines, in the same process: the same queries with the HNSW indexes disabled (exact scans),
so the ratio shows what the index buys at this library size; and the scan and mesh queries
re-ranked on scipy's cKDTree, the nearest-neighbour trees of cadfinder 0.2.0 (geometry.nearest),
whose answers are the same.

    python bench/bench_query_latency.py [--catalog DIR] [--queries 20]   (uses the configured library)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    import trimesh

    from cadfinder import demo, library, models, pipeline, queries, settings
    from cadfinder.embeddings.sketch import sketchify
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.geometry.scan import ScanSettings, simulate_scan
    from cadfinder.search import Searcher
    from cadfinder.semantic_search import SemanticSearcher
    from cadfinder.views import VIEWS, render_views

    s = settings.load()
    cat = Path(args.catalog) if args.catalog else demo.catalog_dir()
    parts = [p for p in json.loads((cat / "catalog.json").read_text())["parts"] if p["split"] == "heldout"]
    rng = np.random.default_rng(0)
    picked = [parts[i]["part_number"] for i in rng.choice(len(parts), args.queries, replace=False)]
    t = time.perf_counter()
    enc, clip = models.encoder(s), models.clip(s)
    print(f"model load {1000 * (time.perf_counter() - t):.0f} ms (once per process)")
    texts = ["flange with 8 bolt holes", "spur gear with a bore", "aluminium angle bracket", "M8 hex bolt 40 mm",
             "v-belt pulley", "shaft collar clamp", "mounting plate with 4 holes", "enclosure housing"]
    sketches, scans, posed, meshes = [], [], [], []
    for pn in picked:
        m = trimesh.load(cat / f"{pn}.stl")
        f = catalog_frame(m.vertices)
        canon = trimesh.Trimesh(f.to_canonical(m.vertices), m.faces)
        sketches.append(sketchify(render_views(canon, views=[VIEWS[3]], angle_jitter=0.2, seed=1)[0, 1], rng))
        scan = simulate_scan(canon, ScanSettings(points=5000, views=1), seed=1).points
        scans.append(f.to_mm(scan))
        posed.append(simulate_scan(m, ScanSettings(points=5000, views=1, random_pose=True, scale_range=(0.3, 3.0)),
                                   seed=2).points)
        meshes.append(m.sample(20000))
    rows = {}
    with library.connect(s, None) as conn:
        geo = Searcher(conn, enc, ef_search=s.index.hnsw_ef_search)
        sem = SemanticSearcher(conn, clip, ef_search=s.index.hnsw_ef_search)
        for exact in (False, True):
            conn.execute("SET enable_indexscan = off" if exact else "SET enable_indexscan = on")
            conn.commit()
            tag = "exact scan" if exact else "HNSW"
            def points(cloud, metric=True):
                return lambda on_partial: pipeline.run(queries.points(geo.engines, cloud, 10, metric=metric), conn,
                                                       on_partial=on_partial)

            for kind, fn in (("text", lambda i: lambda _: sem.search_text(texts[i % len(texts)], 10)),
                             ("sketch", lambda i: lambda _: sem.search_sketch(sketches[i], 10)),
                             ("partial scan", lambda i: points(scans[i])),
                             ("scan any pose", lambda i: points(posed[i], metric=False)),
                             ("full mesh", lambda i: points(meshes[i])),
                             ("more like this", lambda i: lambda _: geo.search_like(picked[i], 10))):
                ts = []
                for i in range(len(picked)):
                    first = {}
                    t = time.perf_counter()
                    r = fn(i)(lambda _: first.setdefault("first", 1000 * (time.perf_counter() - t)))
                    wall = 1000 * (time.perf_counter() - t)
                    ts.append({**r.timings_ms, "wall": wall, "first": first.get("first", wall)})
                rows[(tag, kind)] = {k: float(np.median([x.get(k, 0.0) for x in ts]))
                                     for k in ("encode", "database", "rerank", "first", "wall")}
        # The re-rank on cKDTree (cadfinder 0.2.0's trees) against pykdtree, on the same queries.
        from scipy.spatial import cKDTree

        from cadfinder import rerank, search

        rerank_ms = {}
        for trees in ("pykdtree", "cKDTree"):
            tree_class = cKDTree if trees == "cKDTree" else search.NearestTree
            old = search.NearestTree, rerank.NearestTree
            search.NearestTree = rerank.NearestTree = tree_class
            geo._trees.clear()
            try:
                for kind, clouds, metric in (("partial scan", scans, True), ("scan any pose", posed, False),
                                             ("full mesh", meshes, True)):
                    ts = [geo.search_points(c, 10, metric=metric).timings_ms["rerank"] for c in clouds]
                    rerank_ms[(trees, kind)] = float(np.median(ts))
            finally:
                search.NearestTree, rerank.NearestTree = old
    print(f"\n{'modality':16s} {'index':11s} {'encode':>8s} {'database':>9s} {'rerank':>8s} {'first':>8s} "
          f"{'total':>8s}  (median ms)")
    for (tag, kind), v in rows.items():
        print(f"{kind:16s} {tag:11s} {v['encode']:8.1f} {v['database']:9.1f} {v['rerank']:8.1f} {v['first']:8.1f} "
              f"{v['wall']:8.1f}")
    print(f"\n{'re-rank':16s} {'cKDTree':>9s} {'pykdtree':>9s}  (median ms)  ratio")
    for kind in ("partial scan", "scan any pose", "full mesh"):
        a, b = rerank_ms[("cKDTree", kind)], rerank_ms[("pykdtree", kind)]
        print(f"{kind:16s} {a:9.1f} {b:9.1f}  x{a / b:.2f}")
    print("\nexact / HNSW database time:")
    for kind in ("text", "sketch", "partial scan", "scan any pose", "full mesh", "more like this"):
        a, b = rows[("HNSW", kind)]["database"], rows[("exact scan", kind)]["database"]
        print(f"  {kind:16s} x{b / max(a, 1e-6):.1f}")


if __name__ == "__main__":
    main()
