"""Scan and mesh query latency on a library of N parts (issue 25's 100,000-part target), beside
the same queries on the configured library, same run.

The large library is the configured one replicated: a second database on the same embedded
server (`cadfinder_scale_N`, made from the library's database as a template and kept for the
next run; `--rebuild` makes it again). Each replica of a part keeps its shape (surface sample,
scan-view frames, sizes) under a new id and part number, its surface sample stretched along
each axis by a random factor in STRETCH (so that it fits a scan of the part worse, as a sibling
would, rather than equally well); its shape latent and each of its
scan-view descriptors are moved by noise as far, in cosine distance, as the library's own parts
lie from their nearest neighbour (the median), so a replica is about as distinct as a new part
would be and the HNSW graphs hold N parts' worth of neighbours. Accuracy is not reported: the
replicas of the right part are copies of it. The HNSW indexes are built after the rows are in,
with the configured m / ef_construction.

    python bench/bench_library_scale.py --parts 100000 [--queries 10] [--rebuild]

Needs the embedded server (the demo home); about 14 GB of disk per 100,000 parts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

NOISE_POOL = 4096  # noise vectors shared by all replicas (a replica's pick depends on its id and copy)
STRETCH = (0.8, 1.25)  # a replica's shape: the part's stretched along each canonical axis by a factor in this range


def stretched(blob: bytes, factors: np.ndarray) -> bytes:
    """A stored surface sample stretched along the canonical axes by `factors` (3,)."""
    from cadfinder.stored import pack_surface, unpack_surface

    points, normals = unpack_surface(blob)
    n = normals / factors
    return pack_surface(points * factors, n / np.linalg.norm(n, axis=1, keepdims=True))


def _array(v) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, np.float32)


def median_nn_distance(x: np.ndarray, owner: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Median cosine distance from a row of x (n, d) to its nearest row of another owner (part)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    pick = np.random.default_rng(seed).choice(len(x), min(sample, len(x)), replace=False)
    sim = x[pick] @ x.T
    sim[owner[pick][:, None] == owner[None, :]] = -np.inf
    return float(np.median(1.0 - sim.max(1)))


def noise_pool(dim: int, norm: float, seed: int) -> np.ndarray:
    """(NOISE_POOL, dim) random directions of length `norm`."""
    n = np.random.default_rng(seed).standard_normal((NOISE_POOL, dim))
    return (norm * n / np.linalg.norm(n, axis=1, keepdims=True)).astype(np.float32)


def build(admin_uri: str, source_db: str, target_db: str, copies: int, index_settings, rebuild: bool) -> None:
    """The replicated library in target_db (made if missing or with `rebuild`; resumed by copy)."""
    import psycopg
    from pgvector import HalfVector, Vector
    from pgvector.psycopg import register_vector
    from psycopg import sql

    from cadfinder.db import indexes

    with psycopg.connect(admin_uri, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target_db,)).fetchone()
        if exists and rebuild:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(target_db)))
            exists = None
        if not exists:
            print(f"copying {source_db} -> {target_db}", flush=True)
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(target_db),
                                                                           sql.Identifier(source_db)))
    uri = psycopg.conninfo.make_conninfo(admin_uri, dbname=target_db)
    with psycopg.connect(uri) as conn:
        register_vector(conn)
        conn.execute("""CREATE TABLE IF NOT EXISTS scale_noise (
                            k int PRIMARY KEY, latent vector(256), descriptor halfvec(512))""")
        conn.execute("CREATE TABLE IF NOT EXISTS scale_done (copy int PRIMARY KEY)")
        if not conn.execute("SELECT count(*) FROM scale_noise").fetchone()[0]:
            ids, lat = zip(*conn.execute("SELECT id, sdf_latent FROM cad_models WHERE sdf_latent IS NOT NULL "
                                         "AND part_number NOT LIKE '%%~%%'").fetchall())
            lat = np.stack([_array(v) for v in lat])
            owner, desc = zip(*conn.execute("SELECT model_id, descriptor FROM scan_view_descriptors").fetchall())
            desc = np.stack([_array(v) for v in desc])
            owner = np.array([str(o) for o in owner])
            d_lat = median_nn_distance(lat, np.array([str(i) for i in ids]))
            d_desc = median_nn_distance(desc, owner)
            # |v + n| with n across v: cosine distance ~ |n|^2 / (2 |v|^2)
            n_lat = float(np.linalg.norm(lat, axis=1).mean()) * np.sqrt(2 * d_lat)
            n_desc = float(np.linalg.norm(desc, axis=1).mean()) * np.sqrt(2 * d_desc)
            print(f"nearest other part, median cosine distance: latent {d_lat:.4f}, descriptor {d_desc:.4f}",
                  flush=True)
            pl, pd = noise_pool(lat.shape[1], n_lat, 1), noise_pool(desc.shape[1], n_desc, 2)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO scale_noise VALUES (%s, %s, %s)",
                                [(k, Vector(pl[k]), HalfVector(pd[k])) for k in range(NOISE_POOL)])
            for name in [indexes.index_name(t, c) for t, c in indexes.VECTOR_COLUMNS]:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
            conn.commit()
        done = {r[0] for r in conn.execute("SELECT copy FROM scale_done").fetchall()}
        originals = conn.execute("SELECT id, surface_sample FROM cad_models WHERE part_number NOT LIKE '%~%' "
                                 "AND surface_sample IS NOT NULL").fetchall()
        conn.execute("CREATE TEMP TABLE scale_sample (id uuid PRIMARY KEY, sample bytea)")
        t0 = time.perf_counter()
        for r in range(1, copies):
            if r in done:
                continue
            rng = np.random.default_rng(r)
            conn.execute("TRUNCATE scale_sample")
            with conn.cursor().copy("COPY scale_sample (id, sample) FROM STDIN") as copy:
                for pid, blob in originals:
                    copy.write_row((pid, stretched(blob, np.exp(rng.uniform(*np.log(STRETCH), 3)))))
            params = {"r": str(r), "pool": NOISE_POOL}
            conn.execute("""
                INSERT INTO cad_models (id, part_number, revision, name, family, description, material, mass_kg,
                    volume_mm3, surface_area_mm2, bbox_min, bbox_max, size_x_mm, size_y_mm, size_z_mm, units,
                    norm_offset, norm_scale, genome, feature_counts, access_group, kind, sdf_latent,
                    image_embedding, description_embedding, surface_sample, encoder_version,
                    clip_version, view_version, description_model)
                SELECT md5(m.id::text || %(r)s)::uuid, m.part_number || '~' || %(r)s, m.revision, m.name, m.family,
                    m.description, m.material, m.mass_kg, m.volume_mm3, m.surface_area_mm2, m.bbox_min, m.bbox_max,
                    m.size_x_mm, m.size_y_mm, m.size_z_mm, m.units, m.norm_offset, m.norm_scale, m.genome,
                    m.feature_counts, m.access_group, m.kind, m.sdf_latent + n.latent, m.image_embedding,
                    m.description_embedding, t.sample, m.encoder_version, m.clip_version,
                    m.view_version, m.description_model
                  FROM cad_models m JOIN scale_sample t ON t.id = m.id
                  JOIN scale_noise n ON n.k = abs(hashtext(m.id::text || %(r)s)) %% %(pool)s
                 WHERE m.part_number NOT LIKE '%%~%%'""", params)
            conn.execute("""
                INSERT INTO scan_view_descriptors (model_id, view, descriptor, frame)
                SELECT md5(d.model_id::text || %(r)s)::uuid, d.view, d.descriptor + n.descriptor, d.frame
                  FROM scan_view_descriptors d JOIN cad_models m ON m.id = d.model_id
                  JOIN scale_noise n ON n.k = abs(hashtext(d.model_id::text || %(r)s || d.view)) %% %(pool)s
                 WHERE m.part_number NOT LIKE '%%~%%'""", params)
            conn.execute("INSERT INTO scale_done VALUES (%s)", (r,))
            conn.commit()
            if r % 10 == 0 or r == copies - 1:
                print(f"copy {r}/{copies - 1} in {time.perf_counter() - t0:.0f} s", flush=True)
        conn.execute("SET maintenance_work_mem = '10GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        t = time.perf_counter()
        made = indexes.ensure(conn, index_settings)
        if made:
            print(f"HNSW indexes {', '.join(made)} built in {time.perf_counter() - t:.0f} s", flush=True)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cad_models")
        conn.execute("VACUUM ANALYZE scan_view_descriptors")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    import psycopg
    import trimesh
    from pgvector.psycopg import register_vector

    from cadfinder import demo, library, models, pipeline, queries, search, settings
    from cadfinder.db import embedded
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.geometry.scan import ScanSettings, simulate_scan

    s = settings.load()
    with library.connect(s, None) as conn:
        source_db = conn.info.dbname
        library_parts = conn.execute("SELECT count(*) FROM cad_models").fetchone()[0]
    copies = max(1, round(args.parts / library_parts))
    target_db = f"{source_db}_scale_{copies * library_parts}"
    build(embedded.server_uri("postgres"), source_db, target_db, copies, s.index, args.rebuild)

    cat = Path(args.catalog) if args.catalog else demo.catalog_dir()
    parts = [p for p in json.loads((cat / "catalog.json").read_text())["parts"] if p["split"] == "heldout"]
    rng = np.random.default_rng(0)
    picked = [parts[i]["part_number"] for i in rng.choice(len(parts), args.queries, replace=False)]
    clouds = {"partial scan": [], "scan any pose": [], "full mesh": []}
    for pn in picked:
        m = trimesh.load(cat / f"{pn}.stl")
        f = catalog_frame(m.vertices)
        canon = trimesh.Trimesh(f.to_canonical(m.vertices), m.faces)
        clouds["partial scan"].append(f.to_mm(simulate_scan(canon, ScanSettings(points=5000, views=1), seed=1).points))
        clouds["scan any pose"].append(simulate_scan(m, ScanSettings(points=5000, views=1, random_pose=True,
                                                                     scale_range=(0.3, 3.0)), seed=2).points)
        clouds["full mesh"].append(m.sample(20000))
    enc = models.encoder(s)
    out = {}
    for label, uri in (("library", None), ("scaled", psycopg.conninfo.make_conninfo(
            embedded.server_uri("postgres"), dbname=target_db))):
        with (library.connect(s, None) if uri is None else psycopg.connect(uri)) as conn:
            register_vector(conn)
            parts_here = conn.execute("SELECT count(*) FROM cad_models").fetchone()[0]
            conn.commit()
            geo = search.Searcher(conn, enc, ef_search=s.index.hnsw_ef_search)
            geo.search_points(clouds["partial scan"][0], 10)  # warm: kernels compiled, caches filled
            for kind, cs in clouds.items():
                walls, db, rr, first = [], [], [], []
                for c in cs:
                    t = time.perf_counter()
                    seen = []
                    res = pipeline.run(queries.points(geo.engines, c, 10, metric=kind != "scan any pose"), conn,
                                       on_partial=lambda p: seen.append(time.perf_counter() - t))
                    walls.append(time.perf_counter() - t)
                    db.append(res.timings_ms.get("database", 0.0))
                    rr.append(res.timings_ms.get("rerank", 0.0))
                    first.append(seen[0] if seen else np.nan)
                out[(label, kind)] = walls
                print(f"{label} ({parts_here} parts) {kind}: p50 {np.median(walls):.2f} s, p95 "
                      f"{np.percentile(walls, 95):.2f} s; database {np.median(db):.0f} ms, re-rank "
                      f"{np.median(rr):.0f} ms, first answer {np.nanmedian(first):.2f} s (p50)", flush=True)
            geo.close()
    for kind in clouds:
        ratio = np.median(out[("scaled", kind)]) / np.median(out[("library", kind)])
        print(f"{kind}: p50 scaled / library x{ratio:.2f}")


if __name__ == "__main__":
    main()
