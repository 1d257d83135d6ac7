"""The demo catalog: valid, watertight, balanced, deterministic, resumable, and its CLI."""

import json

import pytest
import trimesh

from cadfinder.catalog import build, families, variety
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def catalog(small_catalog):
    return small_catalog, json.loads((small_catalog / "catalog.json").read_text())


def test_catalog_is_valid_and_balanced(catalog):
    out, manifest = catalog
    assert manifest["complete"] and len(manifest["parts"]) == 24
    report = build.check(out)
    assert report["problems"] == []
    assert report["families"] == {f: 2 for f in families.FAMILIES}
    assert len(families.FAMILIES) >= 12
    splits = {p["split"] for p in manifest["parts"]}
    assert splits == {"train", "heldout"}


def test_sidecars_carry_metadata(catalog):
    out, manifest = catalog
    for p in manifest["parts"]:
        meta = json.loads((out / f"{p['part_number']}.json").read_text())
        assert meta["part_number"] == p["part_number"] and meta["family"] == p["family"]
        assert meta["mass_kg"] > 0 and meta["volume_mm3"] > 0 and meta["material"]
        assert meta["description"] and meta["name"]
        assert len(meta["bbox_min"]) == 3 and all(a < b for a, b in zip(meta["bbox_min"], meta["bbox_max"]))
        assert meta["genome"]["family"] == p["family"]
        mesh = trimesh.load(out / meta["files"]["mesh"])
        assert mesh.is_watertight
        assert mesh.volume == pytest.approx(meta["volume_mm3"], rel=0.02)
    fastener = next(p for p in manifest["parts"] if p["family"] == "fastener")
    fc = json.loads((out / f"{fastener['part_number']}.json").read_text())
    assert fc["name"].startswith("Hex bolt M")


def test_deterministic_and_resumable(catalog, tmp_path):
    out, manifest = catalog
    again = build.build(tmp_path, count=3, seed=1, jobs=1, progress=False)
    for p in again["parts"]:
        a = json.loads((tmp_path / f"{p['part_number']}.json").read_text())["genome"]
        b = json.loads((out / f"{p['part_number']}.json").read_text())["genome"]
        assert a == b
    victim = tmp_path / f"{again['parts'][1]['part_number']}.json"
    victim.unlink()
    kept = [tmp_path / f"{p['part_number']}.json" for p in again["parts"][::2]]
    before = {path: path.stat().st_mtime_ns for path in kept}
    build.build(tmp_path, count=3, seed=1, jobs=1, progress=False)
    assert victim.exists()
    for path, t in before.items():
        assert path.stat().st_mtime_ns == t
    with pytest.raises(Exception, match="seed"):
        build.build(tmp_path, count=3, seed=2, jobs=1, progress=False)


@pytest.mark.slow
def test_cli_build_check_and_genome(tmp_path):
    r = run_cli("catalog", "build", tmp_path / "c", "--count", "12", "--seed", "3", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["parts"] == 12 and len(summary["families"]) == 12
    r = run_cli("catalog", "check", tmp_path / "c", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["problems"] == []
    sidecar = next((tmp_path / "c").glob("PLT-*.json"))
    r = run_cli("genome", "instantiate", sidecar, "--out", tmp_path / "o", "--set", "thickness=7", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert (tmp_path / "o" / f"{sidecar.stem}.step").exists()
    assert info["bbox_max"][2] - info["bbox_min"][2] == pytest.approx(7, abs=0.01)
    r = run_cli("genome", "instantiate", sidecar, "--out", tmp_path / "o", "--set", "thickness=-3")
    assert r.returncode == 1 and "thickness" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def variety_catalog(tmp_path_factory):
    """Two parts of each of the variety kinds, three kinds left out whole."""
    out = tmp_path_factory.mktemp("variety")
    manifest = build.build(out, count=2 * len(variety.KINDS), seed=5, jobs=2, progress=False,
                           kinds=build.VARIETY_ORDER, unseen=("knob", "sprocket", "turned_part"))
    return out, manifest


def test_variety_kinds_are_valid_genomes_of_one_watertight_solid(variety_catalog):
    out, manifest = variety_catalog
    assert manifest["complete"] and manifest["failures"] == []
    assert len(variety.KINDS) >= 24 and not set(variety.KINDS) & set(families.FAMILIES)
    report = build.check(out)
    assert report["problems"] == [] and report["families"] == {k: 2 for k in variety.KINDS}
    for p in manifest["parts"]:
        meta = json.loads((out / f"{p['part_number']}.json").read_text())
        assert p["part_number"].startswith(variety.PREFIX[p["family"]] + "-")
        assert meta["genome"]["family"] == p["family"] and meta["mass_kg"] > 0, meta["material"]
        assert len(trimesh.load(out / meta["files"]["mesh"]).split(only_watertight=False)) == 1
        train, held_out_words = variety.NAMES[p["family"]]
        assert train and held_out_words and not set(train) & set(held_out_words)


def test_unseen_kinds_are_left_out_whole_and_a_resume_keeps_the_split(variety_catalog, tmp_path):
    out, manifest = variety_catalog
    assert manifest["unseen_families"] == ["sprocket", "knob", "turned_part"]  # in kind order
    for p in manifest["parts"]:
        assert (p["split"] == "unseen_family") == (p["family"] in manifest["unseen_families"])
    assert {p["split"] for p in manifest["parts"]} == {"train", "heldout", "unseen_family"}
    build.build(tmp_path, count=3, seed=5, jobs=1, progress=False, kinds=build.VARIETY_ORDER)
    with pytest.raises(Exception, match="other part kinds or another unseen split"):
        build.build(tmp_path, count=3, seed=5, jobs=1, progress=False, kinds=build.VARIETY_ORDER,
                    unseen=("hex_nut",))
    with pytest.raises(Exception, match="no part kind 'gizmo'"):
        build.build(tmp_path / "x", count=3, kinds=["gizmo"])
