"""One pipeline, two executors: the executors themselves (no database), and every kind of query
giving the same answer through the CLI's executor and the app's on the real library."""

import asyncio
import time

import numpy as np
import pytest

from cadfinder import pipeline
from cadfinder.pipeline import MODEL_LOAD, Compute, Fetch
from cadfinder.search import SearchResult


def _steps(log):
    model = yield Compute(lambda: time.sleep(0.05) or "model", label=MODEL_LOAD)
    rows = yield Fetch("SELECT %s", (2,))
    doubled = yield Compute(lambda x: x * 2, (rows[0][0],), label="encode")
    log.append((model, rows, doubled))
    return SearchResult("q", [], {"own": 1.0})


class _Conn:
    def __init__(self):
        self.commits = 0

    def execute(self, statement, params, binary=False):
        assert statement == "SELECT %s"
        self.binary = binary
        return self

    def fetchall(self):
        return [(2,)]

    def commit(self):
        self.commits += 1


def test_both_executors_feed_each_step_its_result_and_time_the_steps():
    log, conn = [], _Conn()
    res = pipeline.run(_steps(log), conn)
    assert log == [("model", [(2,)], 4)] and conn.commits == 1

    async def fetch(statement, params, binary=False):
        await asyncio.sleep(0)
        return [(params[0],)]

    res2 = asyncio.run(pipeline.run_async(_steps(log), fetch))
    assert log[1] == log[0]
    for r in (res, res2):
        t = r.timings_ms
        assert set(t) == {"own", MODEL_LOAD, "database", "encode", "total"} and t["own"] == 1.0
        assert t[MODEL_LOAD] >= 50 and t["total"] < t[MODEL_LOAD]  # model loading is not query time


def test_a_partial_answer_is_passed_on_and_the_steps_announced():
    from cadfinder.pipeline import Partial

    def steps():
        rows = yield Fetch("SELECT %s", (2,))
        assert (yield Partial(SearchResult("q", [], {}))) is None
        yield Compute(lambda: time.sleep(0.02), label="rerank")
        return SearchResult("q", [], {}, parsed={"rows": rows})

    partials, stages = [], []
    final = pipeline.run(steps(), _Conn(), on_partial=partials.append)
    assert len(partials) == 1 and "rerank" not in partials[0].timings_ms and final.timings_ms["rerank"] >= 20
    assert partials[0].timings_ms["total"] < final.timings_ms["total"]
    assert pipeline.run(steps(), _Conn()).parsed == {"rows": [(2,)]}  # no one listening: nothing changes

    async def fetch(statement, params, binary=False):
        return [(params[0],)]

    final = asyncio.run(pipeline.run_async(steps(), fetch, on_partial=partials.append, on_step=stages.append))
    assert len(partials) == 2 and stages == ["rerank"] and final.parsed == {"rows": [(2,)]}


def test_a_failing_step_reaches_the_caller():
    def steps():
        yield Compute(lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        pipeline.run(steps(), _Conn())


def test_a_fetch_asks_both_executors_for_binary_rows_when_it_says_so():
    def steps():
        yield Fetch("SELECT %s", (2,))
        yield Fetch("SELECT %s", (2,), binary=True)

    asked = []

    async def fetch(statement, params, binary=False):
        asked.append(binary)
        return [(params[0],)]

    asyncio.run(pipeline.run_async(steps(), fetch))
    conn = _Conn()
    pipeline.run(steps(), conn)
    assert asked == [False, True] and conn.binary is True


def _same(a, b):
    assert [r.part_number for r in a.results] == [r.part_number for r in b.results]
    assert np.allclose([r.score for r in a.results], [r.score for r in b.results], atol=1e-6)
    assert a.warnings == b.warnings and a.parsed == b.parsed


def test_every_query_is_the_same_through_the_cli_and_the_app(ingested, library, small_catalog):
    """queries.* run by pipeline.run (CLI) and by pipeline.run_async (app) give the same parts,
    scores, warnings and parsed text for text, sketch + text, a scan + text, and more like this."""
    import trimesh

    from cadfinder import library as library_mod
    from cadfinder import models, search
    from cadfinder.async_library import AsyncLibrary
    from cadfinder.embeddings.sketch import sketchify
    from cadfinder.geometry.normalize import catalog_frame
    from cadfinder.semantic_search import SemanticSearcher
    from cadfinder.views import VIEWS, render_views

    mesh = trimesh.load(small_catalog / "GER-00004.stl")
    scan = np.asarray(trimesh.sample.sample_surface(mesh, 3000, seed=1)[0])
    frame = catalog_frame(mesh.vertices)
    canonical = trimesh.Trimesh(frame.to_canonical(mesh.vertices), mesh.faces)
    grey = sketchify(render_views(canonical, views=[VIEWS[0]])[0, 1], np.random.default_rng(3))
    with library_mod.connect(library, None) as conn:
        sem = SemanticSearcher(conn, models.clip(library))
        geo = search.Searcher(conn, models.encoder(library))
        sync = {"text": sem.search_text("spur gear with a bore", 5),
                "sketch": sem.search_sketch(grey, 5, text="gear"),
                "points": geo.search_points(scan, 5, label="scan"),
                "like": geo.search_like("FLG-00001", 5)}
        geo.close()

    async def app():
        lib = AsyncLibrary(library)
        await lib.open()
        try:
            return {"text": await lib.search_text("spur gear with a bore", 5),
                    "sketch": await lib.search_sketch(grey, 5, text="gear"),
                    "points": await lib.search_points(scan, 5, label="scan"),
                    "like": await lib.search_like("FLG-00001", 5)}
        finally:
            await lib.close()

    asyncio_result = asyncio.run(app())
    for kind in sync:
        _same(sync[kind], asyncio_result[kind])
    assert sync["text"].results[0].family == "spur_gear" and sync["points"].results[0].part_number == "GER-00004"
