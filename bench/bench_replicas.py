"""Search throughput with 1, 2 and 3 servers: a primary and two hot standbys (streaming
replication, set up as installer/server/README.md says), 100,000 synthetic 256-d latents with an
HNSW index built on the primary and replicated to the standbys.

    python bench/bench_replicas.py [--rows 100000] [--clients 8] [--seconds 20]

Clients (threads, each with its own connection) run the library's k-NN statement (cosine,
k = 10, hnsw.ef_search 100) against the first 1, 2 or 3 servers, spread evenly, for a fixed
time; reported: queries per second and p50 / p95 latency, as ratios to one server.

On one machine every server shares the same cores, so added servers cannot add CPU. The second
table pins each server to a core of its own (taskset; as many servers as cores), which is what
separate machines give: one server on one core against one per core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

KNN = "SELECT id FROM bench ORDER BY v <=> %s LIMIT 10"


def load(primary_conninfo: str, rows: int, m: int, ef_construction: int) -> None:
    import psycopg
    from bench_pgvector import make_data
    from pgvector.psycopg import register_vector
    from psycopg import sql

    x = make_data(rows)[0]
    with psycopg.connect(primary_conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute("CREATE TABLE bench (id int PRIMARY KEY, v vector(256))")
        t = time.perf_counter()
        with conn.cursor().copy("COPY bench (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for i in range(rows):
                copy.write_row((i, x[i]))
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute(sql.SQL("CREATE INDEX ON bench USING hnsw (v vector_cosine_ops) WITH (m = {}, "
                             "ef_construction = {})").format(sql.Literal(int(m)), sql.Literal(int(ef_construction))))
        conn.execute("ANALYZE bench")
        print(f"{rows:,} rows loaded and indexed on the primary in {time.perf_counter() - t:.0f} s", flush=True)


def caught_up(primary_conninfo: str, standbys: int, timeout: float = 600) -> float:
    """Wait until every standby has replayed what the primary wrote; seconds waited."""
    import psycopg

    t = time.time()
    with psycopg.connect(primary_conninfo, autocommit=True) as conn:
        while time.time() - t < timeout:
            rows = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM "
                                "pg_stat_replication").fetchall()
            if len(rows) == standbys and all(r[0] is not None and r[0] == 0 for r in rows):
                return time.time() - t
            time.sleep(0.5)
    raise RuntimeError("the standbys did not catch up")


def measure(conninfos: list[str], clients: int, seconds: float, queries: np.ndarray) -> dict:
    import psycopg
    from pgvector.psycopg import register_vector

    lat: list[float] = []
    errors = []
    stop_at = time.time() + seconds + 2
    lock = threading.Lock()

    def client(i: int) -> None:
        mine = []
        try:
            with psycopg.connect(conninfos[i % len(conninfos)], autocommit=True) as conn:
                register_vector(conn)
                conn.execute("SET hnsw.ef_search = 100")
                j = i
                while time.time() < stop_at - seconds:  # connected: wait for the others
                    time.sleep(0.01)
                while time.time() < stop_at:
                    t = time.perf_counter()
                    conn.execute(KNN, (queries[j % len(queries)],)).fetchall()
                    mine.append(1000 * (time.perf_counter() - t))
                    j += clients
        except Exception as e:  # counted
            errors.append(f"{type(e).__name__}: {e}")
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"qps": len(lat) / seconds, "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "errors": len(errors)}


def pin(server, core: int | None) -> None:
    """Set the CPU affinity of a server's postmaster and its processes (new backends inherit it)."""
    pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    cores = str(core) if core is not None else f"0-{os.cpu_count() - 1}"
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [str(pid), *children]:
        subprocess.run(["taskset", "-a", "-p", "-c", cores, p], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    args = ap.parse_args()
    from bench_pgvector import make_data

    from tests.replica_cluster import Cluster
    from tests.shared_server import SUPERUSER_PASSWORD

    cluster = Cluster(Path(tempfile.mkdtemp(prefix="cf_replicas_")), standbys=2)
    try:
        cluster.start()
        servers = [cluster.primary, *cluster.standbys]
        info = [f"host=127.0.0.1 port={s.port} user=postgres password={SUPERUSER_PASSWORD} dbname=cadfinder"
                for s in servers]
        load(info[0], args.rows, args.m, args.ef_construction)
        print(f"standbys caught up {caught_up(info[0], 2):.0f} s after the index was built", flush=True)
        x = make_data(args.rows)[0]
        rng = np.random.default_rng(1)
        queries = x[rng.integers(0, args.rows, 500)] + rng.normal(0, 0.3, (500, x.shape[1])).astype(np.float32)
        measure(info, args.clients, 3, queries)  # warm every server's cache
        shared = {n: measure(info[:n], args.clients, args.seconds, queries) for n in (1, 2, 3)}
        cores = min(os.cpu_count() or 1, 3)
        pinned = {}
        for n in range(1, cores + 1):
            for i, s in enumerate(servers):
                pin(s, i if i < n else None)
            pinned[n] = measure(info[:n], args.clients, args.seconds, queries)
        for s in servers:
            pin(s, None)
    finally:
        cluster.stop()
    print(f"\n{args.rows:,} rows, {args.clients} clients, {args.seconds:.0f} s each, k-NN k=10 ef_search=100, "
          f"HNSW m={args.m} ef_construction={args.ef_construction}, {os.cpu_count()} cores")
    for title, rows in (("servers sharing every core", shared), ("one core per server (taskset)", pinned)):
        print(f"\n{title}:\n{'servers':>8s} {'queries/s':>10s} {'ratio':>6s} {'p50 ms':>7s} {'p95 ms':>7s} {'errors':>6s}")
        base = rows[1]["qps"]
        for n, r in rows.items():
            print(f"{n:8d} {r['qps']:10.0f} {r['qps'] / base:6.2f} {r['p50_ms']:7.2f} {r['p95_ms']:7.2f} "
                  f"{r['errors']:6d}")


if __name__ == "__main__":
    main()
