"""Access groups enforced by the database: two designer logins on the embedded server, one
granted a group and one not, through every way a part can be seen."""

import json

import psycopg
import pytest

from tests.conftest import run_cli

SECRET = "t-gearbox"
HIDDEN = ["FLG-00001", "GER-00004"]


@pytest.fixture(scope="module")
def logins(ingested, library):
    """Logins alice_t (granted SECRET) and bob_t (not); HIDDEN parts moved into SECRET."""
    from cadfinder.db import embedded

    for name in ("alice_t", "bob_t"):
        r = run_cli("access", "add-login", name, "--json")
        assert r.returncode == 0, r.stderr
    r = run_cli("access", "assign", SECRET, *HIDDEN, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["parts_moved"] == 2, r.stderr
    r = run_cli("access", "grant", SECRET, "--to", "alice_t", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["granted"], r.stderr
    assert run_cli("map", "build", "--json", timeout=600).returncode == 0
    yield {name: embedded.server_uri(embedded.DATABASE_NAME, user=name) for name in ("alice_t", "bob_t")}
    assert run_cli("access", "assign", "all", *HIDDEN).returncode == 0
    assert run_cli("access", "revoke", SECRET, "--from", "alice_t").returncode == 0


def _numbers(r) -> list[str]:
    assert r.returncode == 0, r.stderr
    return [x["part_number"] for x in json.loads(r.stdout)["results"]]


def test_search_shows_a_group_only_to_the_logins_granted_it(logins):
    for login, sees in (("alice_t", True), ("bob_t", False)):
        uri = logins[login]
        found = _numbers(run_cli("search", "--text", "hub flange", "--k", "24", "--json", "--db", uri))
        found += _numbers(run_cli("search", "--like", "FLG-00013", "--k", "24", "--json", "--db", uri))
        assert ("FLG-00001" in found) is sees, login
        r = run_cli("search", "--like", "FLG-00001", "--json", "--db", uri)
        assert (r.returncode == 0) is sees and (sees or "no part 'FLG-00001'" in r.stdout + r.stderr)
        r = run_cli("access", "list", "--json", "--db", uri)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert (SECRET in out["groups"]) is sees and [g["grantee"] for g in out["grants"]] == (["alice_t"] if sees else [])


def test_every_table_of_part_data_hides_the_group(logins):
    """Rows keyed by a hidden part (views, scan views, map, thumbnails) are invisible to bob_t."""
    counts = {}
    for login, uri in logins.items():
        with psycopg.connect(uri) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM cad_models WHERE part_number = ANY(%s)", (HIDDEN,))]
            row = {"parts": len(ids)}
            for table in ("part_views", "scan_view_descriptors", "library_map"):
                name = psycopg.sql.Identifier(table)
                row[table] = conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {} t JOIN cad_models m ON "
                                                          "m.id = t.model_id WHERE m.access_group = %s").format(name),
                                          (SECRET,)).fetchone()[0]
                row[table + "_all"] = conn.execute(
                    psycopg.sql.SQL("SELECT count(DISTINCT model_id) FROM {}").format(name)).fetchone()[0]
            counts[login] = row
    a, b = counts["alice_t"], counts["bob_t"]
    assert a["parts"] == 2 and b["parts"] == 0
    for table in ("part_views", "scan_view_descriptors", "library_map"):
        assert a[table] > 0 and b[table] == 0
        assert a[table + "_all"] - b[table + "_all"] == 2


def test_duplicates_and_the_map_never_reveal_a_hidden_part(logins, tmp_path):
    for login, sees in (("alice_t", True), ("bob_t", False)):
        r = run_cli("map", "show", "--csv", tmp_path / f"{login}.csv", "--json", "--db", logins[login])
        assert r.returncode == 0, r.stderr
        assert ("FLG-00001" in (tmp_path / f"{login}.csv").read_text()) is sees
        r = run_cli("duplicates", "--json", "--quiet", "--threshold", "0.05", "--db", logins[login], timeout=600)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        members = {m["part_number"] for g in out["groups"] for m in g["members"]}
        assert out["parts"] == (24 if sees else 22) and (sees or not members & set(HIDDEN))


def test_designers_cannot_change_access(logins):
    r = run_cli("access", "grant", SECRET, "--to", "bob_t", "--db", logins["bob_t"])
    assert r.returncode != 0 and "admin" in r.stderr
    r = run_cli("access", "assign", "all", "FLG-00001", "--db", logins["bob_t"])
    assert r.returncode != 0 and "admin" in r.stderr
    r = run_cli("access", "grant", SECRET, "--to", "nobody_here")
    assert r.returncode != 0 and "no login or role 'nobody_here'" in r.stderr
    r = run_cli("access", "grant", "bad group!", "--to", "bob_t")
    assert r.returncode != 0 and "access group" in r.stderr
