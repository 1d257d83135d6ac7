"""Faults during ingestion, on the real embedded server: the ingest process killed mid-way, and
two admins ingesting the same folder at once. Afterwards every stored part is whole (its latent,
surface sample, mesh, implicit form and 48 scan views) and stored once, and nothing is lost."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import stored_parts
from tests.conftest import REPO
from tests.stored_parts import WHOLE

def _ingest(folder, jobs: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cadfinder", "ingest", str(folder), "--jobs", str(jobs),
                             "--quiet", "--json"], cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stored(library, prefix: str) -> dict[str, tuple]:
    from cadfinder import library as library_mod

    with library_mod.connect(library, None) as conn:
        return stored_parts.stored(conn, prefix)


def _delete(library, prefix: str) -> None:
    from cadfinder import library as library_mod

    with library_mod.writer(library, None) as conn:
        stored_parts.delete(conn, prefix)


def test_a_killed_ingest_leaves_whole_parts_and_resumes(ingested, library, small_catalog, tmp_path):
    names = stored_parts.copy_as_new_parts(small_catalog, tmp_path / "parts", "T-KILL", 6)
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
    names = stored_parts.copy_as_new_parts(small_catalog, tmp_path / "parts", "T-TWICE", 4)
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


def _wait_until_some_stored(pgdata, timeout: float = 300) -> int:
    """Wait until an ingest running on the embedded server in `pgdata` has stored a part; returns
    the server's pid."""
    import psycopg

    deadline, stored, pid = time.time() + timeout, 0, 0
    while time.time() < deadline and stored == 0:
        time.sleep(0.5)
        try:
            pid, sock, port = _postmaster(pgdata)
            with psycopg.connect(host=sock, port=port, user="postgres", dbname="cadfinder") as c:
                stored = c.execute("SELECT count(*) FROM cad_models").fetchone()[0]
        except (OSError, IndexError, psycopg.Error):
            continue
    assert stored > 0, "the ingest stored nothing"
    return pid


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cadfinder", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _resume_and_check_whole(folder, names: list[str]) -> None:
    """Run the same ingest again: it finishes, and every part is stored once and whole."""
    r = _cli("ingest", str(folder), "--jobs", "1", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["failed"] == 0 and out["added"] + out["skipped"] == len(names)
    r = subprocess.run([sys.executable, "-m", "tests.stored_parts"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)  # every part of this library
    assert sorted(rows) == names
    assert all(tuple(v) == WHOLE for v in rows.values()), rows


def _one_clear_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("cadfinder: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.timeout(900)
def test_the_database_killed_mid_ingest(fresh_home, small_catalog, tmp_path):
    """The embedded server is killed (SIGKILL) while parts are being ingested: the ingest stops
    with one clear line, and the same command afterwards restarts the server (crash recovery)
    and finishes; every part is whole and stored once."""
    names = stored_parts.copy_as_new_parts(small_catalog, tmp_path / "parts", "T-DBKILL", 6)
    r = _cli("db", "init", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    p = _ingest(tmp_path / "parts")
    os.kill(_wait_until_some_stored(fresh_home / "data" / "pgdata"), signal.SIGKILL)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0
    _one_clear_line(err)
    _resume_and_check_whole(tmp_path / "parts", names)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A CADFINDER_HOME on a disk of its own (a 200 MB tmpfs), for filling it up and making it
    read-only. Mounting needs root; elsewhere the test is skipped."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(disk)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small disk here (needs root): {r.stderr.strip()}")
    monkeypatch.setenv("CADFINDER_HOME", str(disk))
    monkeypatch.delenv("CADFINDER_DB", raising=False)
    yield disk
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], capture_output=True)
    pgdata = disk / "data" / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        try:
            os.kill(_postmaster(pgdata)[0], signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk) -> None:
    """Write to `disk` until it is full."""
    block = b"\0" * (1 << 20)
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError:
            pass
    # tmpfs may keep a partial block: top up with small writes
    with open(disk / "filler", "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.mark.timeout(900)
def test_a_full_then_read_only_disk(small_disk, small_catalog, tmp_path):
    """The database's disk fills up in the middle of an ingest: the ingest stops with one clear
    line that says so, and once there is room the same command finishes, every part whole and
    stored once. A disk the system made read-only: one clear line, and once it is writable
    again everything is there."""
    names = stored_parts.copy_as_new_parts(small_catalog, tmp_path / "parts", "T-DISK", 8)
    r = _cli("db", "init", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    p = _ingest(tmp_path / "parts")
    _wait_until_some_stored(small_disk / "data" / "pgdata")
    _fill(small_disk)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0
    assert "the database's disk is full" in _one_clear_line(err)
    (small_disk / "filler").unlink()
    _resume_and_check_whole(tmp_path / "parts", names)

    r = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # no cadfinder process holds the disk open any more
    r = _cli("search", "--text", "bracket", "--k", "3", "--json")
    assert r.returncode != 0
    assert "the database's disk is read-only" in _one_clear_line(r.stderr)
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    _resume_and_check_whole(tmp_path / "parts", names)
