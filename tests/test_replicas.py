"""Read replicas (issue 30): a primary and two hot standbys on loopback. Designers connect with
one multi-host URI and land on a standby; admins with the same hosts land on the primary; new
parts reach the standbys within a bounded lag; searches go on when a standby dies; when the
primary is lost, a standby is promoted and ingestion resumes on it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import run_cli
from tests.replica_cluster import Cluster
from tests.shared_server import SUPERUSER_PASSWORD, _bin

LOGINS = {"alice": ("cadfinder_designer", "alice-pw"), "bob": ("cadfinder_admin", "bob-pw")}


DESIGNER_HOME: dict = {}


def cli(uri, *args, password, timeout=300):
    """The CLI as the login in `uri`; alice's runs with a designer's settings (database.role),
    as a designer's app is set up."""
    env = {"PGPASSWORD": password}
    if uri.startswith("postgresql://alice:"):
        env["CADFINDER_HOME"] = DESIGNER_HOME["path"]
    return run_cli(*args, "--db", uri, env=env, timeout=timeout)


def _parts(small_catalog, folder, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for pn in names:
        shutil.copy(small_catalog / f"{pn}.stl", folder / f"{pn}.stl")
        shutil.copy(small_catalog / f"{pn}.json", folder / f"{pn}.json")


def _status(uri, password) -> dict:
    r = cli(uri, "db", "status", "--json", password=password)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _sees(uri, password, part) -> bool:
    r = cli(uri, "search", "--like", part, "--k", "1", "--json", password=password)
    return r.returncode == 0


async def _designers_while_a_standby_dies(c, uri, monkeypatch) -> tuple[list, list]:
    """Three AsyncLibrary clients (what the app binds to, as designers) search by text, 15 times
    each; standby 1 is SIGKILLed a second in. Returns the top answers and where each client
    ended up."""
    from cadfinder import settings as settings_mod
    from cadfinder.async_library import AsyncLibrary

    monkeypatch.setenv("PGPASSWORD", "alice-pw")
    s = settings_mod.load()
    s.database.role = "designer"
    libs = [AsyncLibrary(s, uri) for _ in range(3)]
    answered: list[str] = []
    for lib in libs:
        await lib.open()

    async def client(lib):
        for _ in range(15):
            answered.append((await lib.search_text("spur gear", k=3)).results[0].part_number)
            await asyncio.sleep(0.1)

    tasks = [asyncio.ensure_future(client(lib)) for lib in libs]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(c.standbys[0].kill)
    await asyncio.gather(*tasks)
    servers = [(await lib.stats())["server"]["answered_by"] for lib in libs]
    for lib in libs:
        await lib.shutdown()
    return answered, servers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, session_home, shipped_weights, shipped_clip):
    home = tmp_path_factory.mktemp("designer_home")
    r = run_cli("settings", "set", "database.role=designer", env={"CADFINDER_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    DESIGNER_HOME["path"] = str(home)
    c = Cluster(tmp_path_factory.mktemp("replicas")).start()
    yield c
    c.stop()


@pytest.mark.timeout(1200)
def test_designers_read_from_standbys_and_a_standby_is_promoted(cluster, small_catalog, tmp_path, monkeypatch):
    c = cluster
    r = cli(c.uri("postgres", SUPERUSER_PASSWORD), "db", "init", "--json", password=SUPERUSER_PASSWORD)
    assert r.returncode == 0, r.stderr
    sql = os.path.join(os.path.dirname(__file__), "..", "installer", "server", "logins.sql")
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    for login, (role, pw) in LOGINS.items():
        subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(c.primary.port), "-U", "postgres", "-d",
                        "cadfinder", "-v", "ON_ERROR_STOP=1", "-v", f"login={login}", "-v", f"role={role}", "-v",
                        f"password={pw}", "-f", sql], check=True, capture_output=True, env=env)
    designer, admin = c.uri("alice", "alice-pw"), c.uri("bob", "bob-pw")
    first = ["FLG-00001", "GER-00004", "PLT-00005"]
    _parts(small_catalog, tmp_path / "first", first)
    r = cli(admin, "ingest", str(tmp_path / "first"), "--jobs", "1", "--quiet", "--json", password="bob-pw")
    assert r.returncode == 0, r.stderr

    # Admins land on the primary, which streams to both standbys; designers land on a standby.
    st = _status(admin, "bob-pw")
    assert st["server"]["role"] == "primary" and st["server"]["answered_by"].endswith(f":{c.primary.port}")
    assert st["rows"]["cad_models"] == 3
    standby_ports = {s.port for s in c.standbys}
    seen = set()
    for _ in range(4):
        st = _status(designer, "alice-pw")
        assert st["server"]["role"] == "standby", st["server"]
        seen.add(int(st["server"]["answered_by"].rsplit(":", 1)[1]))
    assert seen <= standby_ports
    su = _status(c.uri("postgres", SUPERUSER_PASSWORD), SUPERUSER_PASSWORD)
    names = sorted(x["name"] for x in su["server"]["standbys"])
    assert names == ["standby1", "standby2"] and all(x["state"] == "streaming" for x in su["server"]["standbys"])

    # A new part reaches the standbys within a bounded lag.
    _parts(small_catalog, tmp_path / "second", ["BRK-00000"])
    r = cli(admin, "ingest", str(tmp_path / "second"), "--quiet", "--json", password="bob-pw")
    assert r.returncode == 0, r.stderr
    t = time.time()
    while not _sees(designer, "alice-pw", "BRK-00000"):
        assert time.time() - t < 30, "the new part did not reach the standby in 30 s"
    r = cli(designer, "search", "--text", "spur gear", "--k", "3", "--json", password="alice-pw")
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["part_number"] == "GER-00004"
    # The designer login may not write, on any server.
    _parts(small_catalog, tmp_path / "denied", ["PUL-00007"])
    r = cli(designer, "ingest", str(tmp_path / "denied"), "--quiet", password="alice-pw")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stdout + r.stderr

    # Three designers' apps search while one standby is lost: a query in flight on it is sent
    # again on a new connection, which libpq opens on the other, so every search answers.
    answered, servers = asyncio.run(_designers_while_a_standby_dies(c, designer, monkeypatch))
    assert answered == ["GER-00004"] * 45
    assert all(s.endswith(f":{c.standbys[1].port}") for s in servers), servers
    for _ in range(3):
        st = _status(designer, "alice-pw")
        assert st["server"]["answered_by"].endswith(f":{c.standbys[1].port}")
        assert _sees(designer, "alice-pw", "FLG-00001")

    # The primary is lost: the surviving standby is promoted, and ingestion resumes on it.
    c.primary.pg_ctl("stop", "-m", "immediate")
    r = cli(admin, "ingest", str(tmp_path / "denied"), "--quiet", password="bob-pw")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stdout + r.stderr  # no primary: refused
    c.standbys[1].pg_ctl("promote")
    _parts(small_catalog, tmp_path / "third", ["SHF-00002"])
    r = cli(admin, "ingest", str(tmp_path / "third"), "--quiet", "--json", password="bob-pw")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 1
    st = _status(admin, "bob-pw")
    assert st["server"]["role"] == "primary" and st["server"]["answered_by"].endswith(f":{c.standbys[1].port}")
    assert st["rows"]["cad_models"] == 5
    assert _sees(designer, "alice-pw", "SHF-00002")  # no standby left: designers read from the primary


def test_the_monitoring_dashboard_uses_the_documented_metrics():
    """The Grafana dashboard parses, and every metric it queries is one the admin guide names
    (what postgres_exporter exports; no exporter or Grafana runs here)."""
    import re
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "installer" / "server" / "monitoring"
    dashboard = json.loads((folder / "grafana-dashboard.json").read_text())
    guide = (folder / "README.md").read_text()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 7
    metrics = {m for e in exprs for m in re.findall(r"\b(pg_[a-z_]+)\b", e)}
    assert metrics and all(f"`{m}`" in guide for m in metrics), metrics
