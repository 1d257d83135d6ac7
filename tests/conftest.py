"""Shared fixtures: a private CADFINDER_HOME and the real embedded PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def session_home(tmp_path_factory):
    """One CADFINDER_HOME (and embedded server) shared by the tests of a session."""
    home = tmp_path_factory.mktemp("cadfinder_home")
    old = os.environ.get("CADFINDER_HOME")
    os.environ["CADFINDER_HOME"] = str(home)
    os.environ.pop("CADFINDER_DB", None)
    yield home
    from cadfinder.db import embedded

    embedded.stop()
    if old is None:
        os.environ.pop("CADFINDER_HOME", None)
    else:
        os.environ["CADFINDER_HOME"] = old


@pytest.fixture(scope="session")
def settings(session_home):
    from cadfinder import settings as s

    return s.load()


@pytest.fixture(scope="session")
def library(settings):
    """An initialised embedded library database (schema, roles, indexes)."""
    from cadfinder.db import lifecycle

    lifecycle.init(settings)
    return settings


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """An empty CADFINDER_HOME for one test (for subprocesses; the in-process server is not moved)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CADFINDER_HOME", str(home))
    monkeypatch.delenv("CADFINDER_DB", raising=False)
    return home


def run_cli(*args, env=None, timeout=120, input=None):
    """Run the real `cadfinder` CLI in a subprocess; return the CompletedProcess."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "cadfinder", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory):
    """24 real catalog parts (2 per family): genome, STEP, STL and sidecar each."""
    from cadfinder.catalog import build

    out = tmp_path_factory.mktemp("small_catalog")
    build.build(out, count=24, seed=1, jobs=2, progress=False)
    return out


@pytest.fixture(scope="session")
def shipped_weights():
    from cadfinder.resources import resource_path

    d = resource_path("models")
    if not (d / "deepsdf.safetensors").exists() or not (d / "encoder.safetensors").exists():
        pytest.fail("shipped weights missing in resources/models (run `cadfinder train decoder/encoder`)")
    return d


@pytest.fixture(scope="session")
def shipped_clip():
    from cadfinder.resources import resource_path

    path = resource_path("models", "clip.safetensors")
    if not path.exists():
        pytest.fail("shipped CLIP weights missing in resources/models (run `cadfinder train clip`)")
    return path


@pytest.fixture(scope="session")
def ingested(library, small_catalog, shipped_weights, shipped_clip):
    """The small catalog ingested into the session library, with view embeddings."""
    from cadfinder import ingest
    from cadfinder import library as library_mod

    with library_mod.writer(library, None) as conn:
        return ingest.ingest(conn, [small_catalog], shipped_weights, jobs=2, progress=False,
                             clip=(str(shipped_clip), ""))


# Tests that need the embedded server, a display, a built catalog or a subprocess are slow by
# what they ask for; `pytest -m "not slow"` runs the rest (pure functions, no database, no X).
SLOW_FIXTURES = {"session_home", "settings", "library", "ingested", "fresh_home", "small_catalog", "shared_library",
                 "window", "loop", "qtbot", "catalog", "variety_catalog", "shipped_weights", "shipped_clip",
                 "tiny_data", "tiny_cache", "model"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
