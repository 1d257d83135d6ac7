"""The implicit form: stored codes, the training symmetries, the recon metrics, and (with the
shipped model) holes and thin walls that survive on parts built here with the open kernel."""

import numpy as np
import pytest
import torch
import trimesh

from cadfinder.errors import InputError
from cadfinder.implicit import grid as G
from cadfinder.implicit import metrics
from cadfinder.implicit.codes import PartCodes


def test_codes_round_trip_through_their_stored_form():
    rng = np.random.default_rng(0)
    nodes = np.sort(rng.choice(33**3, 900, replace=False)).astype(np.int64)
    codes = rng.normal(0, 2, (900, 16)).astype(np.float32)
    inside = rng.random(33**3) < 0.3
    blob = PartCodes(33, nodes, codes, inside).to_bytes()
    back = PartCodes.from_bytes(blob)
    assert back.grid == 33 and np.array_equal(back.nodes, nodes) and np.array_equal(back.inside, inside)
    step = np.abs(codes).max(axis=0) / 127  # int8 quantisation, one scale per channel
    assert np.all(np.abs(back.codes - codes) <= step / 2 + 1e-6)
    assert len(blob) < 900 * 18 + 33**3 // 8 + 200


@pytest.mark.parametrize("blob", [b"", b"garbage", PartCodes.MAGIC + b"\x78\x9c\x00", None])
def test_corrupt_codes_are_a_clear_error(blob):
    if blob is None:  # a real blob cut short
        good = PartCodes(33, np.arange(10), np.ones((10, 4), np.float32), np.zeros(33**3, bool)).to_bytes()
        blob = good[: len(good) // 2]
    with pytest.raises(InputError, match="implicit codes"):
        PartCodes.from_bytes(blob)


def _asymmetric_part():
    a = trimesh.creation.box((0.9, 0.5, 0.3))
    a.apply_translation((0.1, -0.2, 0.05))
    b = trimesh.creation.icosphere(3, 0.25)
    b.apply_translation((-0.45, 0.35, 0.2))
    return trimesh.util.concatenate([a, b])


@pytest.mark.parametrize("perm,signs", [([1, 2, 0], [1, -1, 1]), ([0, 2, 1], [-1, -1, 1]), ([2, 1, 0], [1, 1, -1])])
def test_training_symmetry_is_the_transformed_part(perm, signs):
    """apply_symmetry on a part's stencils gives exactly the stencils of the part transformed."""
    from cadfinder.geometry.sdf import MeshDistance
    from cadfinder.implicit.train import apply_symmetry

    mesh = _asymmetric_part()
    moved = mesh.copy()
    moved.vertices = np.asarray(mesh.vertices)[:, perm] * np.asarray(signs, float)
    lat = G.Lattice(17)
    md, md2 = MeshDistance(mesh), MeshDistance(moved)
    nodes = G.active_nodes(lat, G.active_cells(lat, md.unsigned))[::7]
    idx = lat.unravel(nodes)
    moved_idx = np.where(np.asarray(signs) < 0, lat.size - 1 - idx[:, perm], idx[:, perm])
    before = torch.from_numpy(G.stencil_samples(lat, nodes, md.signed, md.closest).features())
    after = G.stencil_samples(lat, lat.linear(moved_idx), md2.signed, md2.closest).features()
    rel = torch.rand(5, 8, 3)
    mapped, mapped_rel = apply_symmetry(before, rel, perm, np.asarray(signs, float))
    np.testing.assert_allclose(mapped.numpy(), after, atol=1e-3)  # open3d answers in float32
    np.testing.assert_allclose(mapped_rel.numpy(), rel.numpy()[..., perm] * np.asarray(signs), atol=1e-7)


def test_genus_and_through_holes_of_known_shapes():
    ring = trimesh.creation.annulus(r_min=0.3, r_max=0.8, height=0.2, sections=96)
    disc = trimesh.creation.cylinder(radius=0.8, height=0.2, sections=96)
    assert metrics.genus(ring) == 1 and metrics.genus(disc) == 0
    assert metrics.genus(trimesh.creation.torus(0.6, 0.2)) == 1
    holes = metrics.through_holes(ring, 0.02 * metrics.diagonal(ring))
    assert len(holes) == 1 and holes[0].axis == 2 and holes[0].diameter == pytest.approx(0.6, rel=0.03)
    assert metrics.holes_kept(holes, ring, ring) == [True]
    assert metrics.holes_kept(holes, ring, disc) == [False]
    narrower = trimesh.creation.annulus(r_min=0.1, r_max=0.8, height=0.2, sections=96)
    assert metrics.holes_kept(holes, ring, narrower) == [False]  # a tenth of the hole's rays get through


def test_surface_distances_are_point_to_surface():
    a = trimesh.creation.icosphere(5, 1.0)
    b = trimesh.creation.icosphere(5, 1.01)
    d = metrics.surface_distances(a, b)
    assert d["chamfer"] == pytest.approx(0.01, abs=0.0015) and d["p95"] == pytest.approx(0.01, abs=0.002)
    assert d["chamfer_pct"] == pytest.approx(100 * d["chamfer"] / metrics.diagonal(a))


# ---- with the shipped model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from cadfinder.implicit.train import load_model
    from cadfinder.resources import resource_path

    path = resource_path("models", "implicit.safetensors")
    if not path.exists():
        pytest.fail("shipped implicit model missing in resources/models (run `cadfinder train implicit`)")
    return load_model(path)[0]


def _plate_with_holes():
    import cadquery as cq

    pts = [(-45, -25), (-15, -25), (15, -25), (45, -25), (-45, 25), (45, 25)]
    return (cq.Workplane("XY").box(120, 80, 3).faces(">Z").workplane().pushPoints(pts).hole(4.2)
            .faces(">Z").workplane().center(0, 10).slot2D(40, 6).cutThruAll())


def _thin_shell_box():
    import cadquery as cq

    return (cq.Workplane("XY").box(80, 60, 40).faces(">Z").shell(-1.5)
            .faces("<X").workplane().hole(10))


def _ring_with_small_holes():
    import cadquery as cq

    body = cq.Workplane("XY").circle(50).circle(30).extrude(8)
    return body.faces(">Z").workplane().polarArray(40, 0, 360, 8).hole(3.5)


def _canonical(wp):
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.implicit.novel_parts import _tessellate

    mesh = _tessellate(wp.val())
    frame = catalog_frame(mesh.vertices)
    return trimesh.Trimesh(frame.to_canonical(mesh.vertices), mesh.faces, process=False)


@pytest.mark.slow
@pytest.mark.parametrize("build", [_plate_with_holes, _thin_shell_box, _ring_with_small_holes],
                         ids=["3mm plate, 4.2mm holes and a slot", "1.5mm-walled box", "ring, 8 holes of 3.5mm"])
def test_holes_and_thin_walls_survive(model, build):
    from cadfinder.implicit import decode
    from cadfinder.implicit.codes import MAX_BYTES, encode_mesh

    exact = _canonical(build())
    blob = encode_mesh(model, exact).to_bytes()
    assert len(blob) <= MAX_BYTES
    decoded = decode.codes_to_mesh(model, blob, res=129)
    m = metrics.compare(exact, decoded)
    assert m["holes"] >= 1 and m["holes_kept"] == m["holes"], m
    assert m["genus_decoded"] == m["genus_exact"], m
    assert m["chamfer_pct"] < 0.25 and m["p95_pct"] < 1.0, m


@pytest.mark.slow
def test_decoding_near_the_surface_matches_a_dense_evaluation(model):
    from cadfinder.implicit import codes as C
    from cadfinder.implicit import decode

    exact = _canonical(_ring_with_small_holes())
    codes = C.encode_mesh(model, exact, grid=33)
    field = C.Field(model, codes)
    stats = {}
    grid = decode.decode_grid(field, 129, stats)
    t = np.linspace(-1, 1, 129, dtype=np.float32)
    pts = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3)
    dense = np.concatenate([field(pts[s:s + 200_000]).numpy() for s in range(0, len(pts), 200_000)]).reshape(grid.shape)
    near = np.abs(dense) < 0.01
    np.testing.assert_allclose(grid[near], dense[near], atol=1e-5)
    assert np.mean(np.sign(grid) == np.sign(dense)) > 0.9999
    assert stats["evaluated"] < 0.2 * stats["dense"]


# ---- training --------------------------------------------------------------------------------

TINY_CFG = {"grids": [17, 33], "code_dim": 4, "encoder_hidden": [32], "decoder_hidden": [16, 16]}


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """Four simple shapes on both lattices of the tiny configuration."""
    from cadfinder.implicit import dataset

    d = tmp_path_factory.mktemp("implicit_cache")
    shapes = [trimesh.creation.icosphere(3, radius=0.6), trimesh.creation.box((1.2, 0.8, 0.4)),
              trimesh.creation.annulus(0.2, 0.6, 0.5, sections=48), trimesh.creation.box((0.4, 0.4, 1.4))]
    files = []
    for i, m in enumerate(shapes):
        for size in TINY_CFG["grids"]:
            f = d / f"P{i}.g{size}.npz"
            np.savez(f, **dataset.part_arrays(m, G.Lattice(size), samples=4000, seed=i))
            files.append(f)
    return files


def test_train_checkpoint_resume_and_load(tiny_cache, tmp_path, monkeypatch):
    from cadfinder.implicit import train
    from cadfinder.implicit.model import LocalConfig

    monkeypatch.setattr(train, "SAMPLES_PER_PART", 1024)
    cfg = LocalConfig.from_dict(TINY_CFG)
    path = train.train(cfg, tiny_cache, tmp_path, epochs=2, progress=False, extra={"held_out_families": ["x"]})
    model, meta = train.load_model(path)
    assert meta["epoch"] == 2 and meta["held_out_families"] == ["x"] and model.cfg == cfg
    first = meta["loss"]
    path = train.train(cfg, tiny_cache, tmp_path, epochs=30, resume=True, progress=False)
    model, meta = train.load_model(path)
    assert meta["epoch"] == 30 and meta["loss"] < 0.6 * first
    with pytest.raises(RuntimeError, match="another configuration"):
        train.train(LocalConfig.from_dict({**TINY_CFG, "code_dim": 5}), tiny_cache, tmp_path, epochs=31, resume=True,
                    progress=False)
    with pytest.raises(InputError, match="no implicit"):  # a DeepSDF bundle is not a local-code model
        from cadfinder.deepsdf import weights

        weights.save(tmp_path / "other.safetensors", {"x": torch.zeros(1)}, {"config": "{}"})
        train.load_model(tmp_path / "other.safetensors")


def test_ddp_with_two_cpu_processes(tiny_cache, tmp_path):
    """torchrun with 2 processes (gloo): each trains a shard of the parts, one model comes out."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    script = tmp_path / "ddp.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from cadfinder.implicit import train
from cadfinder.implicit.model import LocalConfig
train.SAMPLES_PER_PART = 512
files = [Path(p) for p in {json.dumps([str(f) for f in tiny_cache])}]
train.train(LocalConfig.from_dict({TINY_CFG!r}), files, {str(tmp_path / 'out')!r}, epochs=2, progress=False)
""")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        "29541", str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    from cadfinder.implicit import train

    model, meta = train.load_model(tmp_path / "out" / "implicit.safetensors")
    assert meta["epoch"] == 2 and meta["parts"] == len(tiny_cache)


# ---- in the library ---------------------------------------------------------------------------


def test_ingested_parts_carry_their_implicit_form(ingested, library, tmp_path):
    """Every ingested part has codes within the budget; `cadfinder mesh` decodes one in mm with the
    exact part's genus and holes; `cadfinder embed` re-encodes parts of another version."""
    from cadfinder import library as library_mod
    from cadfinder import models
    from cadfinder.implicit.codes import MAX_BYTES
    from cadfinder.ingest import backfill_implicit
    from tests.conftest import run_cli

    version = models.implicit(library)[1]
    with library_mod.connect(library, None) as conn:
        rows = conn.execute("SELECT part_number, octet_length(implicit_codes), implicit_version, source_file "
                            "FROM cad_models WHERE part_number LIKE 'FLG-%' OR part_number LIKE 'PLT-%'").fetchall()
    assert rows and all(r[1] and r[1] <= MAX_BYTES and r[2] == version for r in rows)
    pn, _, _, source = sorted(rows)[0]
    out = tmp_path / "decoded.stl"
    r = run_cli("mesh", pn, "--out", out, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    decoded = trimesh.load(out)
    exact = trimesh.load(source)
    m = metrics.compare(exact, decoded)  # both in millimetres
    assert m["genus_match"] and m["holes_kept"] == m["holes"] and m["chamfer_pct"] < 0.25, m
    with library_mod.writer(library, None) as conn:
        conn.execute("UPDATE cad_models SET implicit_version = 'older-weights' WHERE part_number = %s", (pn,))
        conn.commit()
        done = backfill_implicit(conn, models.weights_dir(library), jobs=1, progress=False)
        # Other tests' rows may hold no readable mesh: those fail alone, with a message each.
        assert done["implicit_codes"] >= 1 and not any(pn in e for e in done["errors"])
        assert len(done["errors"]) == done["failed"]
        again = backfill_implicit(conn, models.weights_dir(library), jobs=1, progress=False)
        assert again["implicit_codes"] == 0 and again["failed"] == done["failed"]
        assert conn.execute("SELECT implicit_version FROM cad_models WHERE part_number = %s", (pn,)).fetchone()[0] \
            == version
    r = run_cli("mesh", "NO-SUCH-PART", timeout=120)
    assert r.returncode != 0 and "no part" in r.stderr and "Traceback" not in r.stderr
