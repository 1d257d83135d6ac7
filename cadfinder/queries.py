"""Every kind of query, step by step, as a pipeline (cadfinder.pipeline): text, sketch (with or
without text), a point cloud or mesh (with or without text), more like this. The CLI runs them
with `pipeline.run`, the app with `pipeline.run_async`; the numbers below exist only here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cadfinder import search, semantic_search, similar_kinds, text_query
from cadfinder.db import knn_plan
from cadfinder.errors import InputError
from cadfinder.pipeline import MODEL_LOAD, Compute, Fetch, Partial

# Candidates each semantic list brings for k answers (text: image, text and full-text lists;
# sketch: parts by their best line-drawing view).
SEMANTIC_PER_ANSWER, SEMANTIC_MIN = 4, 50
# A scan or mesh query with text: this many parts are fitted geometrically, then the text scores
# them (its own HYBRID_TEXT_CANDIDATES best) and the k best of the combination are kept.
HYBRID_GEOMETRIC_K = 30
HYBRID_TEXT_CANDIDATES = 200
MIN_QUERY_POINTS = 10


def semantic_candidates(k: int) -> int:
    return max(SEMANTIC_PER_ANSWER * k, SEMANTIC_MIN)


@dataclass
class Engines:
    """What queries run on. `geometry`, `clip` and `sentences` return the loaded Searcher, CLIP
    model and sentence encoder (loading them on first use: the executors run them as steps, the
    app's off its UI thread); `warnings` keeps what a session checks once (how many parts lack
    current embeddings)."""

    geometry: Callable[[], search.Searcher] | None = None
    clip: Callable[[], object] | None = None
    sentences: Callable[[], object] | None = None
    warnings: dict = field(default_factory=dict)


def _clip(engines: Engines):
    if engines.clip is None:
        raise InputError("this query needs the CLIP model, which this session was not given")
    return (yield Compute(engines.clip, label=MODEL_LOAD))


def _sentences(engines: Engines):
    if engines.sentences is None:
        raise InputError("this query needs the sentence encoder, which this session was not given")
    return (yield Compute(engines.sentences, label=MODEL_LOAD))


def _geometry(engines: Engines) -> search.Searcher:
    if engines.geometry is None:
        raise InputError("this query needs the shape encoder, which this session was not given")
    return (yield Compute(engines.geometry, label=MODEL_LOAD))


def _clip_coverage(engines: Engines, clip) -> list[str]:
    key = ("clip", clip.version)
    if key not in engines.warnings:
        (parts, embedded), = yield Fetch(semantic_search.COVERAGE_SQL, (clip.version,))
        engines.warnings[key] = semantic_search.coverage_warning(parts, embedded)
    return list(engines.warnings[key])


def _view_coverage(engines: Engines) -> list[str]:
    from cadfinder.geometry import scan_views

    key = ("views", scan_views.VERSION)
    if key not in engines.warnings:
        (parts, current), = yield Fetch(search.VIEW_COVERAGE_SQL, (scan_views.VERSION,))
        engines.warnings[key] = search.view_coverage_warning(parts, current)
    return list(engines.warnings[key])


def filter_estimate(where: list):
    """PostgreSQL's estimate of the parts the filters keep (None without filters): knn_plan
    reads few exactly rather than through the vector indexes."""
    if not where:
        return None
    return knn_plan.estimate((yield Fetch(*knn_plan.estimate_statement(where))))


def text_scores(engines: Engines, clip, text: str, where: list, n: int):
    """Text scores of candidate parts (id -> (row, score)) and the parsed text."""
    parsed = text_query.parse(text)
    encoder = yield from _sentences(engines)
    q, s = yield Compute(lambda: (clip.embed_texts([parsed.text])[0], encoder.embed([parsed.text])[0]),
                         label="encode")
    where = list(where) + parsed.filters()
    rows = yield Fetch(*semantic_search.text_statement(q, s, parsed.text, where, n,
                                                       (yield from filter_estimate(where))))
    return semantic_search.score_text_rows(rows, parsed), parsed


def text(engines: Engines, query: str, k: int = 10, where: list | None = None):
    """Parts matching a designer's description."""
    semantic_search.check_text(query)
    clip = yield from _clip(engines)
    scored, parsed = yield from text_scores(engines, clip, query, where or [], semantic_candidates(k))
    warnings = yield from _clip_coverage(engines, clip)
    return search.SearchResult(query, semantic_search.ranked(scored, k, "text"), {}, warnings,
                               parsed=parsed.as_dict())


def sketch(engines: Engines, grey: np.ndarray, k: int = 10, where: list | None = None, label: str = "sketch",
           with_text: str | None = None):
    """Parts whose line drawings look like the sketch (grey image, white paper); with
    `with_text`, a sketch + text hybrid."""
    semantic_search.check_sketch(grey)
    clip = yield from _clip(engines)
    q = yield Compute(lambda: clip.embed_images(grey[None])[0], label="encode")
    n = semantic_candidates(k)
    rows = yield Fetch(*semantic_search.sketch_statement(q, where or [], n, (yield from filter_estimate(where))))
    scored, parsed, kind = semantic_search.score_sketch_rows(rows), None, "sketch"
    if with_text and with_text.strip():
        tscored, p = yield from text_scores(engines, clip, with_text, where or [], n)
        scored, parsed, kind = semantic_search.merge_sketch_text(scored, tscored), p.as_dict(), None
    warnings = yield from _clip_coverage(engines, clip)
    return search.SearchResult(label, semantic_search.ranked(scored, k, kind), {}, warnings, parsed=parsed)


def points(engines: Engines, cloud: np.ndarray, k: int = 10, where: list | None = None, label: str = "point cloud",
           with_text: str | None = None, rerank: bool = True, metric: bool = True):
    """The k parts closest to a point cloud in mm (any pose; see Searcher.rerank for `metric`);
    `rerank=False` answers from the vectors alone; `with_text` re-scores the fitted parts."""
    if cloud is None or len(cloud) < MIN_QUERY_POINTS:
        raise InputError(f"the point cloud has fewer than {MIN_QUERY_POINTS} points")
    hybrid = bool(with_text and with_text.strip())
    s = yield from _geometry(engines)
    fitted = max(k, HYBRID_GEOMETRIC_K) if hybrid else k
    query = yield Compute(s.encode, (cloud, rerank), label="encode")
    lists, est = [], (yield from filter_estimate(where))
    for statement, params in search.knn_statements(query, s.candidate_count(fitted, rerank), where or [],
                                                   views=rerank, est=est):
        lists.append((yield Fetch(statement, params, binary=True)))
    warnings = (yield from _view_coverage(engines)) if rerank else []
    candidates = search.merge_knn(lists)
    if rerank:  # the vectors' answer at once; the re-rank replaces it (seconds on a CPU)
        yield Partial(s.rerank(cloud, candidates, k, label, rerank=False))
    if rerank and not hybrid:  # after the match, similar parts by kind (cadfinder.similar_kinds)
        fitted = max(k, similar_kinds.POOL)
    res = yield Compute(s.rerank, (cloud, candidates, fitted, label, rerank, None, metric, query), label="rerank")
    res.warnings += warnings
    if rerank and not hybrid:
        res = yield from similar_kinds.similar_after_match(res, k, where, est)
    if hybrid:
        clip = yield from _clip(engines)
        scored, parsed = yield from text_scores(engines, clip, with_text, where or [], HYBRID_TEXT_CANDIDATES)
        semantic_search.combine_geometry_text(res, scored)
        res.parsed = parsed.as_dict()
        res.results = res.results[:k]
    return res


def like(engines: Engines, part_number: str, k: int = 10, where: list | None = None):
    """Parts most like a library part: its latent's neighbours re-ranked by its own surface
    sample (near copies first), then ordered by kind with its scan views' (similar_kinds)."""
    s = yield from _geometry(engines)
    rows = yield Fetch(search.LIKE_SOURCE_SQL, (part_number,))
    z, pts = search.like_source(part_number, rows[0] if rows else None)
    n = max(k, s.candidates)
    lists, est = [], (yield from filter_estimate(where))
    for statement, params in search.knn_statements(search.QueryEncoding(z, None, []), n, where or [],
                                                   exclude=part_number, views=False, est=est):
        lists.append((yield Fetch(statement, params, binary=True)))
    res = yield Compute(s.rerank_like, (part_number, pts, search.merge_knn(lists, n), max(k, similar_kinds.POOL)),
                        label="rerank")
    return (yield from similar_kinds.similar_after_match(res, k, where, est, anchor=part_number))
