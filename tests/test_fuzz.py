"""Bad input, fuzzed: every supported query format, mutated (flipped bytes, absurd or
non-finite numbers, truncation), read as a mesh and as a point cloud. The only outcomes allowed
are a result (finite points in millimetres, at least the minimum count) or a CadfinderError with
a message; no other exception, no hang. `python bench/fuzz.py --minutes N` runs longer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadfinder.errors import CadfinderError
from cadfinder.geometry import readers
from tests.fuzz_inputs import NUMBERS, mutate, seed_files

mutations = st.tuples(
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.floats(0, 1)),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from(NUMBERS)), max_size=4),
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return seed_files(tmp_path_factory.mktemp("fuzz_seeds"))


def read_one(path, as_mesh: bool) -> None:
    """Read a file as a mesh (mesh formats) or as a point cloud; check what came back, let a
    CadfinderError through."""
    if as_mesh:
        m = readers.read_mesh(path)
        assert len(m.mesh.faces) > 0 and np.isfinite(m.mesh.vertices).all()
    else:
        p = readers.read_points(path)
        assert p.points.ndim == 2 and p.points.shape[1] == 3 and len(p.points) >= readers.MIN_POINTS
        assert np.isfinite(p.points).all()


def test_the_seed_files_are_read(seeds):
    for path in seeds:
        if not path.stem.startswith("points"):
            read_one(path, as_mesh=True)
        read_one(path, as_mesh=False)


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), m=mutations)
def test_mutated_files_give_a_result_or_a_clear_error(seeds, tmp_path, data, m):
    src = data.draw(st.sampled_from(seeds))
    path = tmp_path / f"fuzzed{src.suffix}"
    path.write_bytes(mutate(src.read_bytes(), *m))
    for as_mesh in ((True, False) if src.suffix in readers.MESH_SUFFIXES else (False,)):
        try:
            read_one(path, as_mesh)
        except CadfinderError as e:
            assert str(e).strip() and "Traceback" not in str(e)


def test_a_step_file_that_crashes_opencascade_is_a_clear_error_for_a_query():
    """Found by bench/fuzz.py: a damaged STEP (a CadQuery box with bytes changed) on which
    OpenCascade segfaults. A query reads CAD files in a child process, so the app stays up."""
    path = Path(__file__).parent / "data" / "crashes_opencascade.step"
    with pytest.raises(CadfinderError, match="crashed"):
        readers.read_points(path)


@settings(max_examples=300, deadline=2000)
@given(expr=st.one_of(
    st.text(max_size=60),
    st.builds(lambda c, o, v: f"{c}{o}{v}",
              st.sampled_from(["material", "family", "mass_kg", "holes", "feature", "size_x_mm", "colour",
                               "length", "part_number", "x;drop table cad_models"]),
              st.sampled_from(["=", "==", "!=", "<", "<=", ">", ">=", "=>", "~"]),
              st.one_of(st.text(max_size=20), st.sampled_from(["nan", "inf", "-1e999", "1e308", "'a'", "\x00"])))))
def test_where_expressions_give_a_whitelisted_filter_or_a_clear_error(expr):
    from cadfinder import filters

    try:
        f = filters.parse(expr)
    except CadfinderError as e:
        assert str(e).strip()
        return
    allowed = filters.TEXT_COLUMNS | filters.NUMBER_COLUMNS | filters.COUNT_KEYS | {"feature"}
    assert f.column in allowed and f.op in set(filters.OPS.values())
    if isinstance(f.value, float):
        assert np.isfinite(f.value)
    else:
        assert "\x00" not in str(f.value)
    statement, params = filters.to_sql([f])
    text = statement.as_string(None)
    assert ";" not in text and set(params) == {"f0"}


@settings(max_examples=300, deadline=2000)
@given(text=st.text(max_size=300))
def test_any_text_query_parses_to_text_postgresql_accepts(text):
    from cadfinder import semantic_search, text_query

    try:
        semantic_search.check_text(text)
    except CadfinderError:
        return
    parsed = text_query.parse(text)
    assert "\x00" not in parsed.text
    for f in parsed.filters():
        assert not isinstance(f.value, float) or np.isfinite(f.value)
