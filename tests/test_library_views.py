"""The whole-library views: shape signatures, the duplicate analysis and its reports, the map."""

import csv
import io
import json

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from tests.conftest import run_cli


def _chiral_part() -> trimesh.Trimesh:
    """An L-bracket with a boss on one side: no mirror plane, so its mirror image is another part."""
    a = trimesh.creation.box((60, 10, 30))
    b = trimesh.creation.box((10, 40, 30))
    b.apply_translation((25, 25, 0))
    c = trimesh.creation.cylinder(radius=6, height=14)
    c.apply_translation((-20, 0, 21))
    return trimesh.util.concatenate([a, b, c])


def _sample(mesh: trimesh.Trimesh, seed: int = 0):
    from cadfinder.geometry.sdf import area_weighted_half, sample_surface

    return area_weighted_half(*sample_surface(mesh, 4096, np.random.default_rng(seed)))


def _moved(mesh, rot=None, scale=1.0, mirror=False):
    v = mesh.vertices * ([-1.0, 1, 1] if mirror else 1.0)
    f = mesh.faces[:, ::-1] if mirror else mesh.faces
    if rot is not None:
        v = v @ rot.T
    return trimesh.Trimesh(scale * v + 17.0, f, process=False)


def test_signature_ignores_pose_size_and_mirroring():
    from cadfinder.geometry.signature import DIMENSIONS, signature

    part = _chiral_part()
    rot = Rotation.random(random_state=3).as_matrix()
    base = signature(*_sample(part))
    assert base.shape == (DIMENSIONS,) and base.dtype == np.float32
    other = signature(*_sample(trimesh.creation.cylinder(radius=20, height=5)))
    for copy in (_moved(part, rot), _moved(part, scale=2.5), _moved(part, rot, mirror=True)):
        d = np.linalg.norm(signature(*_sample(copy, seed=1)) - base)
        assert d < 0.1 < np.linalg.norm(other - base)
    with pytest.raises(ValueError):
        signature(np.full((20, 3), np.nan), np.zeros((20, 3)))


def test_candidate_pairs_are_nearest_signatures_within_the_radius():
    from cadfinder.duplicates import candidate_pairs

    rng = np.random.default_rng(0)
    s = rng.normal(size=(50, 8)).astype(np.float32) * 3
    s[7] = s[3] + 0.01
    pairs = {tuple(p) for p in candidate_pairs(s, neighbours=3, radius=0.1)}
    assert pairs == {(3, 7)}
    assert len(candidate_pairs(s[:1])) == 0


def test_a_copy_is_the_same_scaled_or_mirrored_and_another_part_is_not():
    from cadfinder.duplicates import compare_pairs
    from cadfinder.geometry.compare import Shape

    part = _chiral_part()
    rot = Rotation.random(random_state=5).as_matrix()
    meshes = [part, _moved(part, rot), _moved(part, rot, scale=1.6), _moved(part, rot, mirror=True),
              trimesh.creation.box((60, 12, 30))]
    shapes = {k: Shape.of(*_sample(m, seed=k), m) for k, m in enumerate(meshes)}
    got = compare_pairs([(0, 1), (0, 2), (0, 3), (0, 4)], shapes, threshold=0.003, size_tolerance=0.05)
    assert [g[2] if g else None for g in got] == ["same", "scaled", "mirror", None]
    assert got[1][4] == pytest.approx(1.6, rel=1e-6)  # sizes from the exact surfaces
    assert max(g[3] for g in got[:3]) < 0.002


def _analysis():
    from cadfinder.duplicates import Analysis, Group, Member, Pair

    ms = [Member("P-1", "A", "Plate <one>", "plate", "steel", 0.2, 100.0, {"holes": 4, "t": 3.0}),
          Member("P-2", "B", "Plate two", "plate", "aluminium", 0.07, 100.0, {"holes": 4, "t": 2.0})]
    g = Group(ms, [Pair("P-1", "P-2", "same", 0.002, 1.01)], {"t": [3.0, 2.0], "material": ["steel", "aluminium"]})
    return Analysis([g], parts=10, candidates=12, threshold=0.009, seconds=1.5)


def test_reports_hold_every_member_and_what_differs():
    from cadfinder.duplicate_report import to_csv, to_html

    rows = list(csv.DictReader(io.StringIO(to_csv(_analysis()))))
    assert [r["part_number"] for r in rows] == ["P-1", "P-2"]
    assert rows[0]["differing_parameters"] == "t=3.0; material=steel" and rows[1]["group"] == "1"
    png = b"\x89PNG fake"
    html = to_html(_analysis(), {"P-1": png})
    assert "data:image/png;base64," in html and "Plate &lt;one&gt;" in html and "same shape" in html


def _lmap(n=400, seed=0):
    from cadfinder.library_map import LibraryMap

    rng = np.random.default_rng(seed)
    xy = rng.normal(size=(n, 2)).astype(np.float32) * 10
    fam = [("gear", "plate", "shaft")[k % 3] for k in range(n)]
    mass = rng.uniform(0.01, 5, n)
    mass[0] = np.nan
    return LibraryMap([f"X-{k:04d}" for k in range(n)], xy, [f"part {k}" for k in range(n)], fam,
                      ["steel"] * n, mass)


def test_map_view_zoom_pan_hit_and_lasso():
    from cadfinder.map_view import MapView

    v = MapView(_lmap(), (400, 300))
    px = v.to_px(v.lmap.xy)
    assert (px >= 0).all() and (px[:, 0] < 400).all() and (px[:, 1] < 300).all()  # fit shows all
    assert np.allclose(v.from_px(px), v.lmap.xy, atol=1e-4)
    k = 17
    assert v.nearest(tuple(px[k])) == k
    before = v.to_px(v.lmap.xy[k])
    v.zoom(3.0, tuple(before))
    assert np.allclose(v.to_px(v.lmap.xy[k]), before, atol=1e-6)  # zoom keeps the point under the cursor
    v.pan(10, -5)
    assert np.allclose(v.to_px(v.lmap.xy[k]), before + [10, -5], atol=1e-6)
    v.resize((500, 300))  # zoomed or panned: a resize keeps the view
    assert np.allclose(v.to_px(v.lmap.xy[k]), before + [10 + 50, -5], atol=1e-6)
    v.fit()
    v.resize((400, 300))  # fitted: a resize fits again, every point stays in view
    px = v.to_px(v.lmap.xy)
    assert v.fitted and (px >= 0).all() and (px[:, 0] < 400).all() and (px[:, 1] < 300).all()
    box = np.array([[0, 0], [200, 0], [200, 300], [0, 300]])  # the left half of the window
    inside = v.lasso(box)
    px = v.to_px(v.lmap.xy)
    assert set(inside) == set(np.flatnonzero(px[:, 0] < 200))
    v.set_kept({"X-0001", "X-0002"})
    assert set(v.lasso(np.array([[-1, -1], [401, -1], [401, 301], [-1, 301]]))) == {1, 2}


def test_map_view_colours_results_and_the_query():
    from cadfinder.library_map import query_position
    from cadfinder.map_view import MapView

    lmap = _lmap()
    v = MapView(lmap, (320, 240))
    assert len(v.legend.entries) == 3
    v.set_colour_by("mass")
    assert (v.rgb[0] == (170, 170, 170)).all()  # unknown mass is grey
    with pytest.raises(ValueError):
        v.set_colour_by("colour")
    v.set_results(["X-0003", "X-0005", "NOT-ON-MAP"], [0.9, 0.1, 0.5])
    q = query_position(lmap, ["X-0003", "X-0005"], [0.9, 0.1])
    assert np.allclose(q, 0.9 * lmap.xy[3] + 0.1 * lmap.xy[5]) and np.allclose(v.query_xy, q)
    assert list(v.results) == [3, 5]
    v.select("X-0003")
    img = v.render()
    assert img.shape == (240, 320, 4) and img.dtype == np.uint8
    p = np.round(v.to_px(lmap.xy[3])).astype(int)
    ring = img[p[1] - 8:p[1] + 9, p[0] - 8:p[0] + 9, :3].reshape(-1, 3)
    assert ((ring == (230, 20, 20)).all(axis=1)).any()  # the selected part is ringed in red


def test_projection_keeps_neighbours_together():
    from cadfinder.library_map import project

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32)) * 5
    x = np.concatenate([c + rng.normal(size=(40, 32)) * 0.3 for c in centres])
    xy = project(x)
    assert xy.shape == (160, 2) and np.isfinite(xy).all()
    labels = np.repeat(np.arange(4), 40)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() > 0.95
    assert project(x[:3]).shape == (3, 2) and project(x[:1]).shape == (1, 2)


def test_duplicates_and_the_map_from_the_command_line(ingested, library, small_catalog, shipped_weights, tmp_path):
    """Copies of a library part (turned, and scaled) are found with their original; the report
    files are written; the map places every part and draws it."""
    from cadfinder import ingest
    from cadfinder import library as library_mod

    src = trimesh.load(small_catalog / "BRK-00000.stl", force="mesh")
    rot = Rotation.random(random_state=11).as_matrix()
    folder = tmp_path / "copies"
    folder.mkdir()
    _moved(src, rot).export(folder / "T-DUPTURN.stl")
    _moved(src, rot, scale=1.6).export(folder / "T-DUPBIG.stl")
    with library_mod.writer(library, None) as conn:
        ingest.ingest(conn, [folder], shipped_weights, jobs=1, progress=False)
    try:
        from cadfinder import duplicates

        with library_mod.writer(library, None) as conn:  # eval retrieval's oracle: look-alikes up to similarity
            alike = duplicates.look_alikes(conn, ["BRK-00000", "FLG-00001"], threshold=0.01)
        assert sorted(alike["BRK-00000"]) == [("T-DUPBIG", "scaled"), ("T-DUPTURN", "same")], alike
        assert alike["FLG-00001"] == []
        r = run_cli("duplicates", "--json", "--quiet", "--csv", tmp_path / "d.csv", "--html", tmp_path / "d.html",
                    timeout=600)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        group = next(g for g in out["groups"] if "BRK-00000" in [m["part_number"] for m in g["members"]])
        kinds = {frozenset((p["a"], p["b"])): p["kind"] for p in group["pairs"]}
        assert kinds.get(frozenset(("BRK-00000", "T-DUPTURN"))) == "same"
        assert "T-DUPBIG" in [m["part_number"] for m in group["members"]] and "scaled" in group["kinds"]
        assert "T-DUPTURN" in (tmp_path / "d.csv").read_text()
        assert "data:image/png;base64," in (tmp_path / "d.html").read_text()
        r = run_cli("map", "build", "--json", timeout=600)
        assert r.returncode == 0, r.stderr
        placed = json.loads(r.stdout)["placed"]
        r = run_cli("map", "show", "--json", "--png", tmp_path / "map.png", "--where", "family=bracket",
                    "--size", "400x300")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["parts"] == placed and info["not_on_map"] == 0 and 0 < info["kept_by_filters"] < placed
        from PIL import Image

        assert Image.open(tmp_path / "map.png").size == (400, 300)
        assert run_cli("map", "show", "--size", "big").returncode != 0
        with library_mod.writer(library, None) as conn:  # a damaged row is reported, the rest analysed
            conn.execute("UPDATE cad_models SET mesh_data = 'not a mesh' WHERE part_number = 'T-DUPBIG'")
            conn.commit()
        r = run_cli("duplicates", "--json", "--quiet", timeout=600)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert any(e.startswith("T-DUPBIG: stored geometry unreadable") for e in out["errors"])
        assert "T-DUPBIG" in r.stderr and any("T-DUPTURN" in [m["part_number"] for m in g["members"]]
                                                for g in out["groups"])
    finally:
        with library_mod.writer(library, None) as conn:
            conn.execute("DELETE FROM cad_models WHERE part_number IN ('T-DUPTURN', 'T-DUPBIG')")
            conn.commit()
