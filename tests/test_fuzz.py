"""Bad input, fuzzed: every supported query format, mutated (flipped bytes, absurd or
non-finite numbers, truncation), read as a mesh and as a point cloud; genomes of every family
with extreme values, random expressions, absurd counts and features dropped or repeated; text
queries and filters. The only outcomes allowed are a result (finite points in millimetres, at
least the minimum count; a solid with a finite volume) or a CadfinderError with a message; no
other exception, no hang. `python bench/fuzz.py --minutes N [--genomes]` runs longer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadfinder.errors import CadfinderError
from cadfinder.geometry import readers
from tests import fuzz_genomes
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


def test_an_obj_whose_vertices_lose_a_coordinate_is_a_clear_error(seeds, tmp_path):
    """Found by the CI run of the test above: a number in an OBJ replaced by 1e308 made trimesh
    read 2-D vertices, on which the repair raised a ValueError."""
    src = next(p for p in seeds if p.name == "mesh.obj")
    path = tmp_path / "fuzzed.obj"
    path.write_bytes(mutate(src.read_bytes(), [], None, [(0.62890625, "1e308")]))
    with pytest.raises(CadfinderError, match="three coordinates"):
        readers.read_mesh(path)


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


def build_one(genome: dict) -> str:
    """Validate a genome and, when valid, instantiate and tessellate it in this process: 'invalid'
    (with a list of problems) or 'built'; a CadfinderError passes through."""
    from cadfinder.genome.instantiate import instantiate
    from cadfinder.genome.validate import feature_counts, validate

    problems = validate(genome)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if problems:
        return "invalid"
    assert all(v >= 0 for v in feature_counts(genome).values())
    inst = instantiate(genome)
    assert np.isfinite(inst.volume_mm3) and inst.volume_mm3 > 0
    mesh = inst.mesh()
    assert len(mesh.faces) > 0 and np.isfinite(mesh.vertices).all()
    return "built"


genome_mutations = st.tuples(st.integers(0, len(fuzz_genomes.seed_genomes()) - 1), st.integers(0, 2 ** 31),
                             st.integers(1, 5))


@settings(max_examples=300, deadline=5000)
@given(m=genome_mutations)
def test_mutated_genomes_validate_to_a_list_of_problems(m):
    """Validation alone (what ingestion and the genome panel run first) never raises, whatever
    the values, and what it passes has finite, bounded counts."""
    import json

    from cadfinder.genome.validate import MAX_INSTANCES, feature_counts, parameter_values, validate

    g = fuzz_genomes.mutate(fuzz_genomes.seed_genomes()[m[0]], m[1], m[2])
    json.dumps(g)
    problems = validate(g)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if not problems:
        assert all(np.isfinite(v) for v in parameter_values(g).values())
        assert all(0 <= n <= MAX_INSTANCES * 200 for n in feature_counts(g).values())


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(m=genome_mutations)
def test_mutated_genomes_build_or_give_a_clear_error(tmp_path_factory, m):
    """The open kernel's STEP export (Open in CAD without Creo, `cadfinder genome instantiate`)
    on mutated genomes: files and a finite volume, or a CadfinderError with a message. The kernel
    runs in a child process with bounded memory, so a crash is an error too."""
    from cadfinder.bridge import cadquery_backend

    g = fuzz_genomes.mutate(fuzz_genomes.seed_genomes()[m[0]], m[1], m[2])
    out = tmp_path_factory.mktemp("genome")
    try:
        r = cadquery_backend.build(g, out, "part")
    except CadfinderError as e:
        assert str(e).strip() and "Traceback" not in str(e)
        return
    assert Path(r["step"]).stat().st_size > 0 and np.isfinite(r["volume_mm3"]) and r["volume_mm3"] > 0


@pytest.mark.slow
def test_a_genome_that_exhausts_opencascade_is_a_clear_error(tmp_path):
    """Found fuzzing: a flange with 1,000 bolt holes on one circle (each overlapping the next)
    makes OpenCascade allocate until it aborts (or the machine swaps); the kernel runs in a child
    with bounded memory, so this is a GenomeError and the app stays up."""
    import multiprocessing

    from cadfinder import isolation
    from cadfinder.bridge import cadquery_backend
    from cadfinder.catalog import families
    from cadfinder.errors import GenomeError

    g, _, _ = families.generate("flange", np.random.default_rng(3))
    g["features"][1]["placement"]["pattern"]["count"] = 1000
    assert isolation.memory_limit() <= 8 << 30 and not multiprocessing.current_process().daemon
    with pytest.raises(GenomeError, match="crashed|out of memory|took over"):
        cadquery_backend.build(g, tmp_path, "flange")
