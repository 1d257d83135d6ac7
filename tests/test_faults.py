"""Faults during ingestion, on the real embedded server: the ingest process killed mid-way, and
two admins ingesting the same folder at once. Afterwards every stored part is whole (its latent,
surface sample, mesh, implicit form and 48 scan views) and stored once, and nothing is lost."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

SCAN_VIEWS = 48


def _copies(small_catalog, folder, prefix: str, n: int) -> list[str]:
    """n catalog meshes under new part numbers (STL with a sidecar naming the part)."""
    folder.mkdir()
    names = []
    for k, stl in enumerate(sorted(small_catalog.glob("*.stl"))[:n]):
        pn = f"{prefix}-{k:02d}"
        shutil.copy(stl, folder / f"{pn}.stl")
        (folder / f"{pn}.json").write_text(json.dumps({"part_number": pn, "name": f"copy of {stl.stem}"}))
        names.append(pn)
    return names


def _ingest(folder, jobs: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cadfinder", "ingest", str(folder), "--jobs", str(jobs),
                             "--quiet", "--json"], cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stored(library, prefix: str) -> dict[str, tuple]:
    """part number -> (rows, has latent, sample, mesh, implicit form, scan views) of a prefix."""
    from cadfinder import library as library_mod

    with library_mod.connect(library, None) as conn:
        rows = conn.execute(
            "SELECT m.part_number, count(*) OVER (PARTITION BY m.part_number), m.sdf_latent IS NOT NULL, "
            "m.surface_sample IS NOT NULL, m.mesh_data IS NOT NULL, m.implicit_codes IS NOT NULL, "
            "(SELECT count(*) FROM scan_view_descriptors d WHERE d.model_id = m.id) "
            "FROM cad_models m WHERE m.part_number LIKE %s", (prefix + "-%",)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _delete(library, prefix: str) -> None:
    from cadfinder import library as library_mod

    with library_mod.writer(library, None) as conn:
        conn.execute("DELETE FROM cad_models WHERE part_number LIKE %s", (prefix + "-%",))
        conn.commit()


WHOLE = (1, True, True, True, True, SCAN_VIEWS)


def test_a_killed_ingest_leaves_whole_parts_and_resumes(ingested, library, small_catalog, tmp_path):
    names = _copies(small_catalog, tmp_path / "parts", "T-KILL", 6)
    try:
        p = _ingest(tmp_path / "parts")
        deadline = time.time() + 300
        while time.time() < deadline and not _stored(library, "T-KILL"):
            time.sleep(0.5)
        os.killpg(p.pid, signal.SIGKILL)  # the CLI and its worker processes, mid-way
        p.wait()
        first = _stored(library, "T-KILL")
        assert 0 < len(first) < len(names), "the kill should land after some parts and before the last"
        assert all(v == WHOLE for v in first.values()), first  # no part half-written
        r = subprocess.run([sys.executable, "-m", "cadfinder", "ingest", str(tmp_path / "parts"), "--jobs", "1",
                            "--quiet", "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["added"] == len(names) - len(first) and out["skipped"] == len(first) and out["failed"] == 0
        after = _stored(library, "T-KILL")
        assert sorted(after) == names and all(v == WHOLE for v in after.values()), after
    finally:
        _delete(library, "T-KILL")


@pytest.mark.timeout(900)
def test_two_admins_ingesting_one_folder_store_each_part_once(ingested, library, small_catalog, tmp_path):
    names = _copies(small_catalog, tmp_path / "parts", "T-TWICE", 4)
    try:
        procs = [_ingest(tmp_path / "parts") for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        for p, (stdout, stderr) in zip(procs, outs):
            assert p.returncode == 0, stderr
            assert json.loads(stdout)["failed"] == 0
        stored = _stored(library, "T-TWICE")
        assert sorted(stored) == names and all(v == WHOLE for v in stored.values()), stored
    finally:
        _delete(library, "T-TWICE")


def _postmaster(pgdata) -> tuple[int, str, int]:
    """(pid, socket directory, port) of a running embedded server, from its postmaster.pid."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), lines[4], int(lines[3])


@pytest.mark.timeout(900)
def test_the_database_killed_mid_ingest(fresh_home, small_catalog, tmp_path):
    """The embedded server is killed (SIGKILL) while parts are being ingested: the ingest stops
    with one clear line, and the same command afterwards restarts the server (crash recovery)
    and finishes; every part is whole and stored once."""
    import psycopg

    names = _copies(small_catalog, tmp_path / "parts", "T-DBKILL", 6)
    r = subprocess.run([sys.executable, "-m", "cadfinder", "db", "init", "--json"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    pgdata = fresh_home / "data" / "pgdata"
    p = _ingest(tmp_path / "parts")
    deadline, stored = time.time() + 300, 0
    while time.time() < deadline and stored == 0:
        time.sleep(0.5)
        try:
            pid, sock, port = _postmaster(pgdata)
            with psycopg.connect(host=sock, port=port, user="postgres", dbname="cadfinder") as c:
                stored = c.execute("SELECT count(*) FROM cad_models").fetchone()[0]
        except (OSError, IndexError, psycopg.Error):
            continue
    assert stored > 0
    os.kill(pid, signal.SIGKILL)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0 and "Traceback" not in err and err.strip(), err
    r = subprocess.run([sys.executable, "-m", "cadfinder", "ingest", str(tmp_path / "parts"), "--jobs", "1", "--quiet",
                        "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["failed"] == 0 and out["added"] + out["skipped"] == len(names)
    check = ("import json; from cadfinder import library, settings\n"
             "with library.connect(settings.load(), None) as c:\n"
             "    print(json.dumps(c.execute(\"SELECT m.part_number, m.sdf_latent IS NOT NULL AND m.surface_sample IS NOT "
             "NULL AND m.mesh_data IS NOT NULL AND m.implicit_codes IS NOT NULL, (SELECT count(*) FROM "
             "scan_view_descriptors d WHERE d.model_id = m.id) FROM cad_models m\").fetchall()))")
    r = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert sorted(r[0] for r in rows) == names
    assert all(r[1] and r[2] == SCAN_VIEWS for r in rows), rows
