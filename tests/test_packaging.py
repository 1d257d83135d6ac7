"""What a non-editable install gets: the wheel carries the shipped weights, configs, icons and
migrations, and cadfinder.resources finds them where the wheel puts them."""

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_the_wheel_carries_the_weights_and_migrations(tmp_path):
    import shutil

    src = tmp_path / "src"  # a copy: building writes build/ and egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("cadfinder", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("cadfinder-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [n.split("/data/", 1)[1] for n in names if ".data/data/" in n]
    for f in ("implicit.safetensors", "deepsdf.safetensors", "encoder.safetensors", "clip.safetensors",
              "calibration.json"):
        assert f"share/cadfinder/resources/models/{f}" in data, f
    assert "share/cadfinder/resources/configs/deepsdf_compact.toml" in data
    assert any(n.startswith("cadfinder/db/migrations/0007_") for n in names)


def test_resources_are_found_where_a_wheel_installs_them(tmp_path, monkeypatch):
    from cadfinder import resources

    shared = tmp_path / "share" / "cadfinder" / "resources"
    (shared / "models").mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(resources, "__file__", str(tmp_path / "site-packages" / "cadfinder" / "resources.py"))
    assert resources.resources_dir() == shared
    monkeypatch.setenv("CADFINDER_RESOURCES", str(tmp_path / "mine"))
    assert resources.resources_dir() == tmp_path / "mine"
