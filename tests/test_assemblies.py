"""Assemblies and a Creo library: STEP assembly files and Creo models (through the CREOSON test
server) ingest with their parts, genomes and hierarchy; assembly search, trees and where-used
work from the CLI; a Creo instance opens in Creo through its generic."""

import json

import numpy as np
import pytest

from cadfinder import assemblies, assembly_files, creo_ingest
from cadfinder.errors import GenomeError, InputError
from cadfinder.genome.instantiate import instantiate
from tests import assembly_data
from tests.conftest import run_cli
from tests.creoson_server import CreosonTestServer


def _json(r):
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


STEP_PARTS = ["FLANGE-PAIR", "SHAFT-DRIVE", "bearing_set", "flange", "bolt", "shaft", "bearing", "pulley"]
CREO_PARTS = ["CF_FLANGE_PAIR", "CF_SHAFT_DRIVE", "CF_WHEEL_BEARINGS", "CF_FLANGE", "CF_FLANGE_S", "CF_FLANGE_L",
              "CF_FASTENER", "CF_SHAFT", "CF_BUSHING", "CF_PULLEY"]


@pytest.fixture(scope="module")
def lib(library):
    """The session's library, shared with other test files: what these tests add goes again."""
    yield library
    from cadfinder import library as library_mod
    from tests.stored_parts import delete_numbers

    with library_mod.writer(library, None) as conn:
        delete_numbers(conn, STEP_PARTS + CREO_PARTS)


@pytest.fixture(scope="module")
def step_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("step_assemblies")
    assembly_data.flange_pair(d / "FLANGE-PAIR.step")
    assembly_data.shaft_drive(d / "SHAFT-DRIVE.step")
    (d / "SHAFT-DRIVE.json").write_text(json.dumps({"part_number": "SHAFT-DRIVE", "name": "Shaft drive, belt",
                                                    "description": "shaft with a bearing set and a pulley"}))
    return d


def test_step_assemblies_ingest_with_parts_once_and_their_hierarchy(lib, shipped_weights, step_folder):
    out = _json(run_cli("ingest", step_folder, "--json", "--jobs", "2", timeout=900))
    assert out["failed"] == 0, out["errors"]
    assert out["added"] + out["updated"] + out["skipped"] == 8  # 5 parts, 1 sub-assembly, 2 assemblies
    tree = _json(run_cli("assembly", "tree", "FLANGE-PAIR", "--json"))
    assert tree["kind"] == "assembly"
    kids = [c["part_number"] for c in tree["children"]]
    assert sorted(kids) == ["bolt"] * 4 + ["flange"] * 2
    flange2 = next(c for c in tree["children"] if c["path"] == "flange-2")
    t = np.asarray(flange2["transform"]).reshape(4, 4)
    assert np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-6) and t[2, 2] == pytest.approx(-1, abs=1e-6)
    drive = _json(run_cli("assembly", "tree", "SHAFT-DRIVE", "--json"))
    assert drive["name"] == "Shaft drive, belt"
    sub = next(c for c in drive["children"] if c["part_number"] == "bearing_set")
    assert sub["kind"] == "assembly" and [c["part_number"] for c in sub["children"]] == ["bearing", "bearing"]
    used = _json(run_cli("assembly", "where-used", "bearing", "--json"))["used_in"]
    assert {(u["assembly"], u["quantity"], u["depth"]) for u in used} == {("bearing_set", 2, 1), ("SHAFT-DRIVE", 2, 2)}
    used = _json(run_cli("assembly", "where-used", "bolt", "--json"))["used_in"]
    assert [(u["assembly"], u["quantity"]) for u in used] == [("FLANGE-PAIR", 4)]

    again = _json(run_cli("ingest", step_folder, "--json", "--jobs", "2", timeout=900))
    assert again["skipped"] == 8 and again["added"] == again["updated"] == 0
    assert len(_json(run_cli("assembly", "tree", "FLANGE-PAIR", "--json"))["children"]) == 6  # not doubled


def test_assemblies_are_searched_like_parts_and_filtered_by_kind(lib, shipped_weights, step_folder):
    run_cli("ingest", step_folder, "--json", "--jobs", "2", timeout=900)
    r = _json(run_cli("search", "--mesh", step_folder / "FLANGE-PAIR.step", "--kind", "assembly", "--json",
                      timeout=300))
    assert r["results"][0]["part_number"] == "FLANGE-PAIR"
    r = _json(run_cli("search", "--like", "flange", "--kind", "assembly", "--json", timeout=300))
    kinds = {x["part_number"] for x in r["results"]}
    assert kinds and kinds <= {"FLANGE-PAIR", "SHAFT-DRIVE", "bearing_set", "CF_FLANGE_PAIR", "CF_SHAFT_DRIVE",
                               "CF_WHEEL_BEARINGS"}
    r = _json(run_cli("search", "--like", "FLANGE-PAIR", "--kind", "part", "--json", timeout=300))
    assert "SHAFT-DRIVE" not in {x["part_number"] for x in r["results"]}
    used = _json(run_cli("assembly", "where-used", "flange", "--similar", "3", "--json", timeout=300))
    assert "FLANGE-PAIR" in {u["assembly"] for u in used["used_in"]}
    r = run_cli("search", "--text", "flange", "--where", "kind=gadget")
    assert r.returncode != 0 and "part or assembly" in r.stderr


def test_the_creo_library_ingests_with_genomes_family_tables_and_assemblies(lib, shipped_weights, tmp_path):
    genomes = assembly_data.creo_genomes()
    with CreosonTestServer() as srv:
        for m in assembly_data.creo_models(genomes):
            srv.state.add_model(m)
        srv.state.add_model(type(m)("cf_broken.prt", broken=True))
        export = tmp_path / "export"
        args = ("ingest", "--creo", "C:/plm/library", "--creoson-url", srv.url, "--export-dir", export, "--json",
                "--jobs", "2")
        r = run_cli(*args, timeout=900)
        assert r.returncode == 3, r.stderr[-2000:]  # one model Creo could not open; the rest are in
        out = json.loads(r.stdout)
        assert out["failed"] == 1 and "cf_broken.prt" in out["errors"][0]
        assert out["added"] + out["updated"] == 10, out  # 5 parts, 2 family-table instances, 3 assemblies
        cds = [q["data"]["dirname"] for q in srv.state.requests if q["function"] == "cd"]
        assert cds == ["C:/plm/library", "C:/work"] and srv.state.cwd == "C:/work"  # the designer's folder back
        calls = srv.calls()
        exports = [q["data"]["file"] for q in srv.state.requests if q["function"] == "export_file"]
        assert sorted(exports) == sorted(set(exports)) and len(exports) == 10  # each model once
        for fn in ("creo.list_files", "parameter.list", "dimension.list", "feature.list", "file.massprops",
                   "file.get_cur_material", "familytable.list", "interface.export_file", "bom.get_paths"):
            assert fn in calls, fn

        from cadfinder import library as library_mod

        with library_mod.connect(lib, None) as conn:
            rows = dict(conn.execute("SELECT part_number, genome FROM cad_models WHERE part_number LIKE 'CF_%'"))
            kinds = dict(conn.execute("SELECT part_number, kind FROM cad_models WHERE part_number LIKE 'CF_%'"))
        assert kinds["CF_SHAFT_DRIVE"] == kinds["CF_WHEEL_BEARINGS"] == "assembly" and kinds["CF_FLANGE"] == "part"
        small, base = rows["CF_FLANGE_S"], rows["CF_FLANGE"]
        assert small["creo"]["generic"] == "cf_flange" and small["creo"]["model_file"] == "cf_flange_s.prt"
        d = next(iter(base["creo"]["dimensions"].items()))
        lo, hi = small["parameters"][d[0]]["min"], small["parameters"][d[0]]["max"]
        v = base["parameters"][d[0]]["value"]
        assert lo == pytest.approx(0.8 * v, rel=1e-3) and hi == pytest.approx(1.25 * v, rel=1e-3)  # the family's range
        assert base["material"] == "STEEL" and all(f["type"] == "creo" for f in base["features"])
        assert any(f["creo_type"] == "HOLE" for f in base["features"])
        shaft = rows["CF_SHAFT"]
        p = next(iter(shaft["creo"]["dimensions"]))
        assert shaft["parameters"][p]["min"] == pytest.approx(0.5 * shaft["parameters"][p]["value"])  # default band
        used = _json(run_cli("assembly", "where-used", "CF_FASTENER", "--json"))["used_in"]
        assert [(u["assembly"], u["quantity"]) for u in used] == [("CF_FLANGE_PAIR", 4)]
        used = _json(run_cli("assembly", "where-used", "CF_BUSHING", "--json"))["used_in"]
        assert {(u["assembly"], u["quantity"], u["depth"]) for u in used} == {("CF_WHEEL_BEARINGS", 2, 1),
                                                                            ("CF_SHAFT_DRIVE", 2, 2)}
        tree = _json(run_cli("assembly", "tree", "CF_FLANGE_PAIR", "--json"))
        assert [c["path"] for c in tree["children"]] == [f"root.{i}" for i in range(1, 7)]
        flipped = np.asarray(tree["children"][1]["transform"]).reshape(4, 4)
        assert flipped[2, 2] == -1 and flipped[2, 3] > 0  # CREOSON's axes and origin, read back in place

        srv.state.requests.clear()
        again = json.loads(run_cli(*args, timeout=900).stdout)
        assert again["skipped"] == 10 and again["added"] == again["updated"] == 0
        assert "interface.export_file" not in srv.calls()  # same revision: not exported again

        srv.state.requests.clear()
        r = _json(run_cli("open", "CF_FLANGE_S", "--backend", "creo", "--creoson-url", srv.url, "--json"))
        opened = next(q for q in srv.state.requests if q["function"] == "open")
        assert opened["data"]["generic"] == "cf_flange" and r["model"] == "cf_flange_s.prt"
        assert srv.state.session["cf_flange_s.prt"].regenerations == 1

        # adapted in Creo: each evaluation sets the dimensions, regenerates and exports STEP
        import copy

        target = copy.deepcopy(genomes["shaft"])
        for key in target["creo"]["dimensions"]:
            target["parameters"][key]["value"] *= 1.08
        query = tmp_path / "shaft_scan.stl"
        instantiate(target).mesh().export(query)
        base_dims = dict(srv.state.disk["cf_shaft.prt"].dimensions)
        r = _json(run_cli("adapt", "CF_SHAFT", "--to", query, "--backend", "creo", "--creoson-url", srv.url,
                          "--evaluations", "24", "--out", tmp_path / "adapted", "--json", timeout=900))
        assert r["chamfer_after_mm"] < 0.7 * r["chamfer_before_mm"], r  # 24 evaluations: 1.95 -> 1.17 mm when written
        assert r["opened"]["saved"] and r["opened"]["model"].lower() == "cf_shaft-adapt.prt"
        assert r["validation"]["vs_query"]["mean_mm"] < r["chamfer_before_mm"]
        assert "vs_implicit" in r["validation"]
        assert srv.state.disk["cf_shaft.prt"].dimensions == base_dims  # the base model's file is untouched
        assert srv.calls().count("interface.export_file") >= 20


def test_creo_genome_and_spec_rules():
    assert creo_ingest.split_spec("C:/plm/parts") == ("C:/plm/parts", ["*.prt", "*.asm"])
    assert creo_ingest.split_spec(r"C:\plm\brk*.prt") == (r"C:\plm", ["brk*.prt"])
    assert creo_ingest.split_spec("brk*") == (None, ["brk*"])
    m = creo_ingest.CreoModel("widget.prt", 3, parameters=[
        {"name": "PART_NUMBER", "type": "STRING", "value": "W-100"},
        {"name": "HOLES", "type": "INTEGER", "value": 6}, {"name": "LEN", "type": "DOUBLE", "value": 40.0}],
        dimensions=[{"name": "d0", "value": 12.5}, {"name": "d9", "value": 1.0, "dwg_dim": True}],
        features=[{"name": "PROTRUSION_1", "type": "PROTRUSION", "status": "ACTIVE", "feat_id": 41},
                  {"name": "HOLE-PATTERN", "type": "PATTERN", "status": "SUPPRESSED", "feat_id": 52}], units="inch")
    g = creo_ingest.genome(m)
    assert m.part_number == "W-100" and g["units"] == "in"
    assert g["parameters"]["holes"] == {"value": 6.0, "unit": "count", "min": 3, "max": 12, "integer": True,
                                        "description": "Creo parameter HOLES"}
    assert g["creo"]["dimensions"] == {"d0": "d0", "d9": "d9"} and g["creo"]["parameters"]["len"] == "LEN"
    assert g["features"][1]["suppressed"] and "F52" not in g["creo"]["features"]  # a name Creo's API cannot take
    side, warnings = creo_ingest.sidecar(m)
    assert side["genome"] == g and not warnings
    with pytest.raises(GenomeError, match="Creo's own"):
        instantiate(g)
    empty = creo_ingest.CreoModel("bare.prt", 1)
    side, warnings = creo_ingest.sidecar(empty)
    assert "genome" not in side and "genome left out" in warnings[0]


def test_assembly_rules():
    assert assembly_files.component_name("bolt-3") == "bolt"
    assert assembly_files.component_name("BRACKET:12") == "BRACKET"
    assert assembly_files.component_name("NUT (2)") == "NUT"
    with pytest.raises(InputError, match="rotation"):
        assemblies.check_transform(np.diag([2.0, 1, 1, 1]))
    with pytest.raises(InputError, match="16 finite"):
        assemblies.check_transform([float("nan")] * 16)
    tree = {"part_number": "A", "transform": list(np.eye(4).ravel()), "path": "root", "children": [
        {"part_number": "S", "transform": list(np.eye(4).ravel()), "path": "root.1", "children": [
            {"part_number": "P", "transform": list((np.eye(4) + np.pad(np.ones((3, 1)), ((0, 1), (3, 0)))).ravel()),
             "path": "root.1.1", "children": []}]}]}
    (pn, t, path), = assemblies.placed_parts(tree)
    assert pn == "P" and path == "root.1.1" and t[:3, 3].tolist() == [1, 1, 1]
    assert assemblies._path_key("root.2") < assemblies._path_key("root.10")
