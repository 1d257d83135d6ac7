"""Text and sketch search: constraint parsing, the CLIP model files, training/resume, the CLI
contract, hybrid queries, backfill and the evaluation command, on the real library."""

import json

import numpy as np
import pytest
from PIL import Image

from cadfinder import filters, text_query
from cadfinder.errors import InputError
from tests.conftest import run_cli


@pytest.mark.parametrize("query,kinds,rest", [
    ("aluminium flange with 6 bolt holes under 2 kg", {"material", "count", "mass"}, "flange with bolt holes"),
    ("M8 hex bolt 40 mm", {"thread", "length"}, "M8 hex bolt"),
    ("spur gear with twenty teeth", {"count"}, "spur gear with teeth"),
    ("plate 160 x 90 mm", {"length"}, "plate"),
    ("angle bracket", set(), "angle bracket"),
])
def test_text_constraints(query, kinds, rest):
    p = text_query.parse(query)
    assert {c.kind for c in p.constraints} == kinds
    assert p.text == rest


def test_text_constraint_values():
    p = text_query.parse("stainless steel flange, six holes, lighter than 1.5 lb, Ø120 mm")
    by = {c.kind: c for c in p.constraints}
    assert by["material"].value == "stainless steel" and by["material"].use == "filter"
    assert by["count"].value == 6 and by["count"].feature == "holes" and by["count"].use == "boost"
    assert by["mass"].op == "<" and by["mass"].value == pytest.approx(0.6804, abs=1e-3)
    assert by["length"].value == 120
    assert sorted(str(f) for f in p.filters()) == ["mass_kg<0.6804", "material=stainless steel"]
    # A material in the words keeps parts of unknown material; a mass limit does not.
    assert {f.column: f.or_unknown for f in p.filters()} == {"material": True, "mass_kg": False}
    cond, params = filters.to_sql(p.filters())
    assert "IS NULL" in cond.as_string() and sorted(map(str, params.values())) == ["0.6804", "stainless steel"]


def test_clip_files(shipped_clip, tmp_path):
    from cadfinder.embeddings import model

    cm = model.load(shipped_clip)
    t = cm.embed_texts(["spur gear", "flange"])
    assert t.shape == (2, model.EMBED_DIM) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-4)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="not a valid safetensors"):
        model.load(bad)
    with pytest.raises(InputError, match="unsupported CLIP architecture"):
        model.build("RN50")


def test_image_preparation_is_scale_and_position_free():
    from cadfinder.embeddings.model import prepare_images

    big = np.full((200, 200), 255, np.uint8)
    big[40:160, 60:140] = 0
    small = np.full((400, 300), 255, np.uint8)
    small[10:70, 200:240] = 0  # same shape, half size, in a corner of a larger canvas
    a, b = prepare_images(np.stack([big]), 64), prepare_images(small[None], 64)
    assert float((a - b).abs().mean()) < 0.05


def test_sketch_image_reading(tmp_path):
    from cadfinder.embeddings.model import image_to_grey

    rgba = np.zeros((50, 60, 4), np.uint8)
    rgba[10:20, 10:50] = (0, 0, 0, 255)  # strokes on a transparent canvas
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    g = image_to_grey(tmp_path / "t.png")
    assert g.shape == (50, 60) and g[0, 0] == 255 and g[15, 20] == 0
    (tmp_path / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match="not a readable image"):
        image_to_grey(tmp_path / "x.png")


def test_train_resume_and_finetune(small_catalog, shipped_clip, tmp_path):
    from cadfinder.deepsdf import weights
    from cadfinder.embeddings import model, train

    out = tmp_path / "clip"
    train.train(small_catalog, out, steps=2, batch=8, progress=False, jobs=2)
    assert weights.load(out / "clip_checkpoint.safetensors")[1]["step"] == 2
    path = train.train(small_catalog, out, steps=3, batch=8, progress=False, resume=True)
    log = [json.loads(x) for x in (out / "clip_train.log").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2, 3]  # resumed at step 2, not restarted
    assert model.load(path).embed_texts(["gear"]).shape == (1, model.EMBED_DIM)
    # fine-tuning from existing weights (as from an admin's pretrained checkpoint)
    tuned = train.train(small_catalog, tmp_path / "tuned", steps=1, batch=8, init=str(shipped_clip), progress=False)
    assert weights.load(tuned)[1]["arch"] == model.DOMAIN_ARCH


def _sketch_png(small_catalog, part, path, view=3):
    import trimesh

    from cadfinder.embeddings.sketch import sketchify
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.views import VIEWS, render_views

    m = trimesh.load(small_catalog / f"{part}.stl")
    f = catalog_frame(m.vertices)
    img = render_views(trimesh.Trimesh(f.to_canonical(m.vertices), m.faces), views=[VIEWS[view]], angle_jitter=0.2,
                       seed=7)[0, 1]
    Image.fromarray(sketchify(img, np.random.default_rng(99))).save(path)
    return path


def test_search_text_and_sketch_cli(ingested, small_catalog, tmp_path):
    gear = _sketch_png(small_catalog, "GER-00004", tmp_path / "gear.png")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(blank)
    r = run_cli("search", "--text", "spur gear with a bore", "aluminium angle bracket with 4 holes", "--k", "5",
                "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query"] for x in lines] == ["spur gear with a bore", "aluminium angle bracket with 4 holes"]
    for x in lines:
        assert x["results"] and set(x["results"][0]) == {"part_number", "score", "name", "family", "material",
                                                          "mass_kg"}
        assert "parsed" in x and "timings_ms" in x
    assert lines[0]["results"][0]["family"] == "spur_gear"
    # The material is a filter (parts of unknown material pass it: other tests may add some).
    assert all(res["material"] in ("aluminium", None) for res in lines[1]["results"])
    assert any(res["material"] == "aluminium" for res in lines[1]["results"])
    assert {"kind": "count", "value": 4, "op": "=", "feature": "holes", "use": "boost",
            "source": "4 holes"} in lines[1]["parsed"]["constraints"]
    r = run_cli("search", "--sketch", gear, blank, "--k", "5", "--json")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 1 and len(lines) == 2  # the blank canvas is an error line, the sketch still answers
    assert "spur_gear" in [x["family"] for x in lines[0]["results"][:3]]
    assert "empty" in lines[1]["error"]
    r = run_cli("search", "--sketch", gear, "--and-text", "gear", "--where", "family=spur_gear", "--k", "3", "--json")
    x = json.loads(r.stdout)
    assert r.returncode == 0 and x["parsed"]["text"] == "gear" and {y["family"] for y in x["results"]} == {"spur_gear"}
    r = run_cli("search", "--pointcloud", small_catalog / "FLG-00001.stl", "--and-text", "flange", "--k", "3", "--json")
    x = json.loads(r.stdout)
    assert r.returncode == 0 and x["results"][0]["part_number"] == "FLG-00001"


def test_a_filtered_sketch_query_gets_its_parts_however_far_they_are(ingested, small_catalog, library, tmp_path):
    """The filter applies to the views before their LIMIT: a gear sketch filtered to flanges
    still gets n flanges (when filtered after, the nearest views were all gears: none came back)."""
    from cadfinder import filters, models
    from cadfinder import library as library_mod
    from cadfinder.embeddings.model import image_to_grey
    from cadfinder.semantic_search import sketch_statement

    gear = image_to_grey(_sketch_png(small_catalog, "GER-00004", tmp_path / "gear.png"))
    clip = models.clip(library)
    q = clip.embed_images(gear[None])[0]
    where = [filters.Filter("family", "=", "flange")]
    with library_mod.connect(library, None) as conn:
        fams = [r[3] for r in conn.execute(*sketch_statement(q, where, 2)).fetchall()]
        nearest = [r[3] for r in conn.execute(*sketch_statement(q, [], 2)).fetchall()]
    assert "flange" not in nearest and fams == ["flange", "flange"], (nearest, fams)


def test_embed_backfills_missing_views(ingested, library):
    from cadfinder import library as library_mod

    with library_mod.writer(library, None) as conn:
        conn.execute("UPDATE cad_models SET clip_version = NULL WHERE part_number = 'HSG-00006'")
        conn.commit()
    r = run_cli("embed", "--json", "--quiet")
    out = json.loads(r.stdout)
    assert out["embedded"] == 1 and out["errors"] == [] and r.returncode == 0, out
    with library_mod.connect(library, None) as conn:
        n = conn.execute("SELECT count(*) FROM part_views v JOIN cad_models m ON m.id = v.model_id "
                         "WHERE m.part_number = 'HSG-00006'").fetchone()[0]
    assert n == 12


def test_eval_clip_command(ingested, small_catalog):
    r = run_cli("eval", "clip", "--catalog", small_catalog, "--queries", "6", "--k", "2", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # Two parts a family, k = 2: the shipped model's answers are mostly of the right family
    # (measured 0.92 text, 1.00 sketch); chance would be 1/12.
    for kind in ("text", "sketch"):
        assert out[kind]["family_precision_at_k"] >= 0.6 and out[kind]["queries"] == 6, out[kind]
        assert out[kind]["latency_ms_p50"] > 0
    assert out["outline"]["queries"] == 6 and 0 <= out["outline"]["family_precision_at_k"] <= 1
    assert 0 < out["text"]["family_precision_at_k_attainable"] <= 1


def test_eval_clip_calibrates_text_and_sketch_scores(ingested, small_catalog):
    """`eval clip --calibrate` fits on the training parts' queries, measures on the held-out
    parts', and writes to the user's data dir, from where searches read it."""
    from cadfinder import calibration, semantic_search

    path = calibration.user_path(calibration.SEMANTIC)
    try:
        r = run_cli("eval", "clip", "--catalog", small_catalog, "--queries", "12", "--k", "3", "--calibrate",
                    "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)["calibration"]
        assert out["written"] == str(path)
        assert semantic_search.semantic_calibration() == pytest.approx(out["values"])
        for kind in ("text", "sketch"):
            held = out["held_out_queries"][kind]
            assert held["fitted_on"] > 0 and held["measured_on"] > 0, held
            assert 0 <= held["mean_shown_score"] <= 1 and held["log_loss"] >= 0
    finally:
        path.unlink(missing_ok=True)


def test_shown_text_and_sketch_scores_are_calibrated_and_keep_the_order():
    from cadfinder import calibration, semantic_search

    cal = semantic_search.semantic_calibration()
    raw = [0.40, 0.52, 0.55, 0.58, 0.75]
    scored = {i: ((i, f"P-{i}", "n", "flange", "steel", 1.0), s) for i, s in enumerate(raw)}
    for kind in ("text", "sketch"):
        out = semantic_search.ranked(scored, 4, kind)
        assert [r.part_number for r in out] == ["P-4", "P-3", "P-2", "P-1"]
        assert [r.raw_score for r in out] == sorted(raw, reverse=True)[:4]
        assert [r.score for r in out] == [calibration.rising(r.raw_score, cal[f"{kind}_mid"], cal[f"{kind}_width"])
                                          for r in out]
        assert all(0 < r.score < 1 for r in out) and out[0].score > out[-1].score
    plain = semantic_search.ranked(scored, 2)  # hybrids: as merged
    assert [r.score for r in plain] == [0.75, 0.58] and plain[0].raw_score is None


def test_calibration_fit_recovers_a_logistic():
    from cadfinder import calibration

    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, 4000)
    y = rng.random(4000) < np.array([calibration.rising(v, 0.6, 0.05) for v in x])
    mid, width, _ = calibration.fit(x, y, increasing=True)
    assert abs(mid - 0.6) < 0.02 and 0.035 < width < 0.07, (mid, width)
    mid, width, _ = calibration.fit(-x, y)  # decreasing (residuals)
    assert abs(mid + 0.6) < 0.02 and 0.035 < width < 0.07, (mid, width)


def test_rendering_then_building_a_model_does_not_crash(shipped_clip):
    """Ingestion renders views, then builds the CLIP model; triton's LLVM loaded after Mesa's
    crashed the process. The guard is taken where rendering starts, not on importing cadfinder."""
    code = (
        "import sys, trimesh, cadfinder\n"
        "assert 'triton' not in sys.modules or sys.modules['triton'] is not None\n"
        "from cadfinder import views\n"
        "from cadfinder.embeddings import model\n"
        "views.render_views(trimesh.creation.box((1, 1, 1)), size=32)\n"
        f"model.load({str(shipped_clip)!r})\n"
        "import torch._dynamo\n"
        "print('ok')\n"
    )
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_outline_sketches_trace_the_silhouette_and_its_holes():
    """A washer's top view (a grey disc with a hole, on white) outlines as two rings; dashes keep
    part of the ink in every direction; a hand-drawn outline is never blank."""
    from cadfinder.embeddings.sketch import dotted, outline, outline_sketch
    from cadfinder.semantic_search import sketch_is_blank

    yy, xx = np.mgrid[0:128, 0:128]
    r = np.hypot(yy - 64, xx - 64)
    shaded = np.where((r < 50) & (r > 15), 150, 255).astype(np.uint8)
    line = outline(shaded)
    ink = line < 128
    assert ink[64, 64 + 49:64 + 51].any() and ink[64, 64 + 14:64 + 16].any()  # the rim and the hole
    assert not ink[64, 64 + 30] and not ink[64, 64] and not ink[0, 0]
    kept = (dotted(line, np.random.default_rng(0)) < 128).sum() / ink.sum()
    assert 0.3 < kept < 0.7
    for seed in range(4):
        assert not sketch_is_blank(outline_sketch(shaded, np.random.default_rng(seed)))
