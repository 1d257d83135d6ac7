"""The shared-server path for real: a second PostgreSQL on TCP (loopback) with passwords and
TLS, the app connecting by URI as an admin login and as a read-only designer login, backups
with pg_dump / pg_restore, and schema upgrades with the app's migrations."""

import json
import os
import subprocess

import pytest

from tests.conftest import run_cli
from tests.shared_server import SUPERUSER_PASSWORD, SharedServer, _bin


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = SharedServer(tmp_path_factory.mktemp("shared") / "srv").start()
    srv.wait()
    srv.psql("CREATE DATABASE cadfinder")
    yield srv
    srv.stop()


def cli(srv_uri, *args, password, timeout=300):
    return run_cli(*args, "--db", srv_uri, env={"PGPASSWORD": password}, timeout=timeout)


@pytest.fixture(scope="module")
def shared_library(server, session_home, small_catalog, shipped_weights, shipped_clip):
    r = cli(server.uri("postgres"), "db", "init", "--json", password=SUPERUSER_PASSWORD)
    assert r.returncode == 0, r.stderr
    sql = (os.path.join(os.path.dirname(__file__), "..", "installer", "server", "logins.sql"))
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    for login, role, pw in (("alice", "cadfinder_designer", "alice-pw"), ("bob", "cadfinder_admin", "bob-pw")):
        subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", "cadfinder",
                        "-v", "ON_ERROR_STOP=1", "-v", f"login={login}", "-v", f"role={role}", "-v", f"password={pw}",
                        "-f", sql], check=True, capture_output=True, env=env)
    r = cli(server.uri("bob"), "ingest", str(small_catalog), "--jobs", "2", "--quiet", "--json", password="bob-pw")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 24
    return server


def test_tls_and_passwords_are_required(shared_library):
    srv = shared_library
    r = cli(srv.uri("alice"), "db", "status", "--json", password="wrong")
    assert r.returncode != 0 and "password authentication failed" in r.stderr
    plain = srv.uri("alice").replace("sslmode=verify-full", "sslmode=disable").replace("&sslnegotiation=direct", "")
    r = cli(plain, "db", "status", password="alice-pw")
    assert r.returncode != 0 and "cannot reach the database" in r.stderr
    before = srv.tls.handshakes
    r = cli(srv.uri("alice"), "db", "status", "--json", password="alice-pw")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["pgvector"] == "0.8.5" and st["rows"]["cad_models"] == 24 and st["embedded"] is False
    assert srv.tls.handshakes > before  # it went through TLS


def test_designer_searches_but_cannot_write(shared_library, small_catalog, tmp_path):
    import shutil

    srv = shared_library
    r = cli(srv.uri("alice"), "search", "--text", "spur gear", "--mesh", str(small_catalog / "GER-00004.stl"),
            "--k", "3", "--json", password="alice-pw")
    assert r.returncode == 0, r.stderr
    text, mesh = (json.loads(x) for x in r.stdout.splitlines())
    assert text["results"][0]["family"] == "spur_gear" and mesh["results"][0]["part_number"] == "GER-00004"
    shutil.copy(small_catalog / "PLT-00005.stl", tmp_path / "PLT-NEW.stl")  # new: a write is needed
    r = cli(srv.uri("alice"), "ingest", str(tmp_path / "PLT-NEW.stl"), "--quiet", password="alice-pw")
    assert r.returncode != 0 and "permission denied" in r.stderr and "Traceback" not in r.stderr


def test_backup_restore_and_migrate(shared_library, tmp_path):
    srv = shared_library
    dump = tmp_path / "library.dump"
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    base = ["-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres"]
    subprocess.run([_bin("pg_dump"), *base, "-d", "cadfinder", "-Fc", "-f", str(dump)], check=True, env=env)
    srv.psql("CREATE DATABASE cadfinder_restored")
    subprocess.run([_bin("pg_restore"), *base, "-d", "cadfinder_restored", "--no-owner", "--role=postgres",
                    str(dump)], check=True, env=env, capture_output=True)
    assert srv.psql("SELECT count(*) FROM cad_models", "cadfinder_restored") == "24"
    assert srv.psql("SELECT count(*) FROM part_views", "cadfinder_restored") == str(24 * 12)
    r = cli(srv.uri("postgres", dbname="cadfinder_restored"), "db", "migrate", "--json", password=SUPERUSER_PASSWORD)
    assert r.returncode == 0, r.stderr
    r = cli(srv.uri("postgres", dbname="cadfinder_restored"), "search", "--like", "FLG-00001", "--k", "2", "--json",
            password=SUPERUSER_PASSWORD)
    assert r.returncode == 0 and json.loads(r.stdout)["results"]


def test_access_groups_on_the_shared_server(shared_library):
    """Two designer logins on the shared server: the one granted a group sees its parts, the
    other does not, whatever it asks."""
    srv = shared_library
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    sql = os.path.join(os.path.dirname(__file__), "..", "installer", "server", "logins.sql")
    subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres", "-d", "cadfinder",
                    "-v", "ON_ERROR_STOP=1", "-v", "login=carol", "-v", "role=cadfinder_designer",
                    "-v", "password=carol-pw", "-f", sql], check=True, capture_output=True, env=env)
    admin = srv.uri("bob")
    assert cli(admin, "access", "assign", "gearbox", "BRK-00000", password="bob-pw").returncode == 0
    r = cli(admin, "access", "grant", "gearbox", "--to", "alice", "--json", password="bob-pw")
    assert r.returncode == 0 and json.loads(r.stdout)["granted"], r.stderr
    try:
        r = cli(srv.uri("alice"), "search", "--like", "BRK-00000", "--json", password="alice-pw")
        assert r.returncode == 0, r.stderr
        r = cli(srv.uri("carol"), "search", "--like", "BRK-00000", "--json", password="carol-pw")
        assert r.returncode != 0 and "no part 'BRK-00000'" in r.stdout + r.stderr
        r = cli(srv.uri("carol"), "search", "--text", "bracket", "--k", "24", "--json", password="carol-pw")
        assert r.returncode == 0 and "BRK-00000" not in [x["part_number"] for x in json.loads(r.stdout)["results"]]
        r = cli(srv.uri("carol"), "access", "grant", "gearbox", "--to", "carol", password="carol-pw")
        assert r.returncode != 0 and "admin" in r.stderr
    finally:
        cli(admin, "access", "assign", "all", "BRK-00000", password="bob-pw")
        cli(admin, "access", "revoke", "gearbox", "--from", "alice", password="bob-pw")


def test_a_server_restart_while_the_app_is_open(shared_library, monkeypatch):
    """The app's library (what the window binds to) keeps one connection open. After the shared
    server restarts, the next query reconnects by itself; a query running while the server goes
    down fails with one clear line, and the one after the server is back works."""
    import asyncio

    from cadfinder import settings as settings_mod
    from cadfinder.async_library import AsyncLibrary
    from cadfinder.errors import DatabaseError

    srv = shared_library
    monkeypatch.setenv("PGPASSWORD", "alice-pw")
    lib = AsyncLibrary(settings_mod.load(), srv.uri("alice"))

    async def scenario():
        first = await lib.search_text("spur gear", k=3)
        assert first.results[0].family == "spur_gear"
        before = lib.conn
        srv.pg_ctl("restart", "-m", "fast")
        again = await lib.search_text("spur gear", k=3)
        assert [r.part_number for r in again.results] == [r.part_number for r in first.results]
        assert lib.conn is not before  # reconnected by itself

        running = asyncio.ensure_future(lib._fetch("SELECT pg_sleep(30)"))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(srv.pg_ctl, "stop", "-m", "fast")
        try:
            await asyncio.wait_for(running, 20)
            raise AssertionError("the query survived the server going down")
        except DatabaseError as e:
            message = str(e)
        assert message.startswith("cannot reach the database") and "\n" not in message, message
        assert "alice-pw" not in message
        srv.pg_ctl("start")
        back = await lib.search_text("spur gear", k=3)
        assert back.results[0].family == "spur_gear"
        await lib.shutdown()

    asyncio.run(scenario())
