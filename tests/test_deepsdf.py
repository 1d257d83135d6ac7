"""DeepSDF: decoder identities, meshing, training with checkpoints/resume, DDP, latent inference."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh

from cadfinder.deepsdf import meshing, weights
from cadfinder.deepsdf.config import DecoderConfig, load_config
from cadfinder.deepsdf.decoder import Decoder
from tests.conftest import REPO

TINY = DecoderConfig.from_dict({"name": "tiny", "latent_dim": 16, "hidden": [64, 64, 64], "skip_layers": [2],
                                "train": {"epochs": 4, "shapes_per_batch": 2, "samples_per_shape": 2048,
                                          "lr_step_epochs": 100}})


def test_configs_are_data():
    ref = load_config("reference")
    assert ref.hidden == (512,) * 8 and ref.skip_layers == (4,) and ref.dropout == 0.2 and ref.weight_norm
    assert ref.clamp_delta == 0.1 and ref.latent_dim == 256
    assert load_config("compact").latent_dim == 256
    with pytest.raises(ValueError, match="unknown"):
        DecoderConfig.from_dict({"hiden": [1]})


@pytest.mark.parametrize("name", ["compact", "reference"])
def test_folded_and_batched_evaluation_match_the_plain_forward(name):
    torch.manual_seed(0)
    dec = Decoder(load_config(name)).eval()
    z = torch.randn(2, 256) * 0.1
    x = torch.rand(2, 500, 3) * 2 - 1
    with torch.no_grad():
        plain = torch.stack([dec(z[i], x[i]) for i in range(2)])
        np.testing.assert_allclose(dec.forward_shapes(z, x), plain, atol=1e-5)
        np.testing.assert_allclose(dec.shape_function(z[1])(x[1]), plain[1], atol=1e-5)


def sphere_fn(r=0.5):
    return lambda p: torch.linalg.norm(p, dim=-1) - r


def test_coarse_to_fine_matches_dense_and_evaluates_less():
    fn = lambda p: torch.maximum(torch.linalg.norm(p[:, :2], dim=-1) - 0.6, p[:, 2].abs() - 0.2)  # a disc
    stats = {}
    fine = meshing.coarse_to_fine_grid(fn, 129, start=33, stats=stats)
    dense = meshing.dense_grid(fn, 129)
    near = np.abs(dense) < 0.02
    np.testing.assert_allclose(fine[near], dense[near], atol=1e-6)
    assert np.all(np.sign(fine[~near]) == np.sign(dense[~near]))
    assert stats["evaluated"] < 0.25 * stats["dense"]
    a, b = meshing.grid_to_mesh(fine), meshing.grid_to_mesh(dense)
    assert meshing.chamfer(a.vertices, b.vertices) < 1e-8
    assert a.volume == pytest.approx(np.pi * 0.36 * 0.4, rel=0.02)
    with pytest.raises(ValueError):
        meshing.coarse_to_fine_grid(fn, 100, start=33)


def test_no_surface_is_a_clear_error():
    with pytest.raises(ValueError, match="no surface"):
        meshing.grid_to_mesh(meshing.dense_grid(lambda p: torch.ones(len(p)), 17))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from cadfinder.geometry.sdf import SamplingRecipe, sample_sdf

    d = tmp_path_factory.mktemp("sdf")
    files = []
    shapes = [trimesh.creation.icosphere(3, radius=0.6), trimesh.creation.box((1.2, 0.8, 0.4)),
              trimesh.creation.cylinder(0.5, 1.0), trimesh.creation.box((0.4, 0.4, 1.4))]
    for i, m in enumerate(shapes):
        sample_sdf(m, SamplingRecipe(total=8000, surface=1000), seed=i).save(d / f"s{i}.npz")
        files.append(d / f"s{i}.npz")
    return files


def test_train_checkpoint_and_resume(tiny_data, tmp_path):
    from cadfinder.deepsdf import train

    names = [f"P{i}" for i in range(4)]
    path = train.train(TINY, tiny_data, names, tmp_path, epochs=2, progress=False)
    dec, lat, got_names, meta = train.load_decoder(path)
    assert got_names == names and lat.shape == (4, 16) and meta["epoch"] == 2
    first_loss = meta["loss"]
    path = train.train(TINY, tiny_data, names, tmp_path, epochs=40, resume=True, progress=False)
    dec, lat, _, meta = train.load_decoder(path)
    assert meta["epoch"] == 40 and meta["loss"] < first_loss
    # The decoder separates the sphere from the box: inside the box's corner, outside the sphere.
    with torch.no_grad():
        corner = torch.tensor([[0.55, 0.35, 0.15]])
        assert dec(lat[1], corner).item() < dec(lat[0], corner).item()
    with pytest.raises(RuntimeError, match="other shapes"):
        train.train(TINY, tiny_data, ["X"] * 4, tmp_path, epochs=41, resume=True, progress=False)


def test_safetensors_only(tmp_path):
    with pytest.raises(Exception, match="not a valid safetensors"):
        (tmp_path / "evil.safetensors").write_bytes(b"\x80\x04\x95pickle")
        weights.load(tmp_path / "evil.safetensors")


def test_fit_latent_recovers_a_training_shape(tiny_data, tmp_path):
    from cadfinder.deepsdf import infer, train
    from cadfinder.geometry.sdf import SdfSamples

    path = train.train(TINY, tiny_data, [f"P{i}" for i in range(4)], tmp_path, epochs=60, progress=False)
    dec, lat, _, _ = train.load_decoder(path)
    s = SdfSamples.load(tiny_data[1])
    z, loss = infer.fit_latent(dec, s.points, s.sdf, iterations=150)
    others = [torch.linalg.norm(z - lat[i]).item() for i in range(4)]
    assert int(np.argmin(others)) == 1 or loss < 0.02
    zp, _ = infer.fit_latent_to_points(dec, s.surface_points, s.surface_normals, iterations=150)
    mesh = meshing.latent_to_mesh(dec, zp, res=65)
    assert mesh.bounds[1].max() < 1.0 and len(mesh.faces) > 100


def test_ddp_with_two_cpu_processes(tiny_data, tmp_path):
    """torchrun with 2 processes (gloo): each trains its shard, the latent table is combined."""
    script = tmp_path / "ddp.py"
    script.write_text(f"""
import sys, json
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from tests.test_deepsdf import TINY
from cadfinder.deepsdf import train
files = [Path(p) for p in {json.dumps([str(f) for f in tiny_data])}]
train.train(TINY, files, ["P0", "P1", "P2", "P3"], {str(tmp_path / 'out')!r}, epochs=3, progress=False)
""")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        "29533", str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    from cadfinder.deepsdf import train

    dec, lat, names, meta = train.load_decoder(tmp_path / "out" / "deepsdf.safetensors")
    assert meta["epoch"] == 3 and names == ["P0", "P1", "P2", "P3"]
    assert torch.all(lat.norm(dim=1) > 0)  # every shard's latents made it into the table
