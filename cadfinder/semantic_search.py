"""Search by text and by hand sketch (CLIP embeddings), and hybrids with the geometric search.

Text:   parse constraints (filters and boosts) -> CLIP text embedding and sentence embedding ->
        candidates from three lists (pooled view embedding k-NN, name/kind/description sentence
        embedding k-NN, full-text search), all under the same filters -> score = W_IMAGE *
        cos(image) + W_WORDS * cos(words) + W_FULLTEXT * rank + boosts.
Sketch: image embedding of the canvas -> k-NN over the line-drawing views of every part ->
        best view per part.
Hybrid: sketch + text: W_HYBRID_SKETCH * sketch + (1 - W_HYBRID_SKETCH) * text score;
        point cloud + text: W_HYBRID_GEOMETRY * calibrated geometric score + the rest * text score.
Shown scores: text and sketch scores through their calibrations (cadfinder.calibration: how
likely a part is of the family asked for); hybrids as merged.
The statements and the scoring live here; the steps of each query, in cadfinder.queries.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from cadfinder import filters as filters_mod
from cadfinder import text_query
from cadfinder.db import knn_plan
from cadfinder.errors import InputError
from cadfinder.search import Result, SearchResult

# Weights of the text score's parts: the CLIP image side (query text against the part's views),
# the sentence encoder (query against the part's name, kind and description), full-text rank.
# Fitted on training parts' queries in training phrasings, demo and variety libraries (docs/experiments.md).
W_IMAGE, W_WORDS, W_FULLTEXT = 0.3, 1.0, 0.3
BOOST_COUNT, BOOST_THREAD, BOOST_LENGTH = 0.08, 0.10, 0.04
LENGTH_TOLERANCE = 0.10  # a stated dimension matches an extent within 10 %
W_HYBRID_SKETCH = 0.5
W_HYBRID_GEOMETRY = 0.6
LINE_STYLE = 1

_COLS = sql.SQL("m.id, m.part_number, m.name, m.family, m.material, m.mass_kg")


COVERAGE_SQL = "SELECT count(*), count(*) FILTER (WHERE clip_version = %s) FROM cad_models"


def coverage_warning(parts: int, embedded: int) -> list[str]:
    if parts and embedded < parts:
        return [f"{parts - embedded} of {parts} parts have no view embeddings from the current model: "
                f"run `cadfinder embed`"]
    return []


def text_statement(q: np.ndarray, s: np.ndarray, words: str, where: list, n: int,
                   est=None) -> tuple[sql.Composable, dict]:
    """SQL for text candidates: the union of the three lists, with each one's similarity.
    `q`: the query's (512,) CLIP text embedding; `s`: its (384,) sentence embedding;
    `est`: PostgreSQL's estimate for the filters (db.knn_plan.Estimate)."""
    cond, params = filters_mod.to_sql(where)
    params |= {"q": np.asarray(q, np.float32), "s": np.asarray(s, np.float32), "n": n, "words": words}
    tsq = sql.SQL("replace(plainto_tsquery('english', %(words)s)::text, '&', '|')::tsquery")
    exact = knn_plan.exact(where, est)
    by_image, by_words = (knn_plan.distance(sql.SQL(col), sql.Placeholder(p), exact) for col, p in
                          (("image_embedding", "q"), ("description_embedding", "s")))
    return sql.SQL("""
            WITH c AS (
                (SELECT id FROM cad_models m WHERE image_embedding IS NOT NULL AND {cond}
                  ORDER BY {by_image} LIMIT %(n)s)
                UNION
                (SELECT id FROM cad_models m WHERE description_embedding IS NOT NULL AND {cond}
                  ORDER BY {by_words} LIMIT %(n)s)
                UNION
                (SELECT id FROM cad_models m WHERE search_text @@ {tsq} AND {cond}
                  ORDER BY ts_rank_cd(search_text, {tsq}, 32) DESC LIMIT %(n)s))
            SELECT {cols}, m.feature_counts, m.genome->'parameters', m.size_x_mm, m.size_y_mm, m.size_z_mm,
                   1 - (m.image_embedding <=> %(q)s), 1 - (m.description_embedding <=> %(s)s),
                   ts_rank_cd(m.search_text, {tsq}, 32)
              FROM c JOIN cad_models m ON m.id = c.id""").format(cond=cond, tsq=tsq, cols=_COLS, by_image=by_image,
                                                                   by_words=by_words), params


def sketch_statement(q: np.ndarray, where: list, n: int, est=None) -> tuple[sql.Composable, dict]:
    """SQL for sketch candidates: best line-drawing view per part. The filters apply to the views
    before their LIMIT (the HNSW scan goes on until enough views pass: iterative scans; with few
    parts left, as PostgreSQL estimates them in `est`, all their views are compared: db.knn_plan),
    so a filtered query gets its n parts however far the sketch is from what the filter keeps."""
    from cadfinder.views import VIEWS

    cond, params = filters_mod.to_sql(where)
    params |= {"q": np.asarray(q, np.float32), "n": n, "nv": n * 6, "style": LINE_STYLE}
    view_filter = sql.SQL("") if not where else sql.SQL(
        "AND EXISTS (SELECT 1 FROM cad_models m WHERE m.id = pv.model_id AND {})").format(cond)
    return sql.SQL("""
        WITH v AS MATERIALIZED (
            SELECT pv.model_id, 1 - (pv.embedding <=> %(q)s) AS sim FROM part_views pv
             WHERE pv.style = %(style)s {view_filter} ORDER BY {order} LIMIT %(nv)s),
        best AS (SELECT model_id, max(sim) AS sim FROM v GROUP BY model_id)
        SELECT {cols}, best.sim FROM best JOIN cad_models m ON m.id = best.model_id
         ORDER BY best.sim DESC LIMIT %(n)s""").format(cols=_COLS, view_filter=view_filter, order=knn_plan.distance(
        sql.SQL("pv.embedding"), sql.Placeholder("q"), knn_plan.exact(where, est, len(VIEWS)))), params


def sketch_is_blank(grey: np.ndarray) -> bool:
    """Whether a (H, W) uint8 canvas holds no drawing: fewer than 20 inked (< 245) pixels."""
    grey = np.asarray(grey)
    return grey.size == 0 or int((grey < 245).sum()) < 20


def check_sketch(grey: np.ndarray) -> None:
    if sketch_is_blank(grey):
        raise InputError("the sketch is empty: draw the part's outline first")


def check_text(text: str) -> None:
    if not text or not text.strip():
        raise InputError("empty text query")
    if len(text) > 1000:
        raise InputError("text query too long (over 1000 characters)")


def boosts(parsed: text_query.ParsedText, counts: dict, params: dict | None, sizes) -> float:
    """Score added for each boost constraint the part satisfies."""
    b = 0.0
    params = params or {}
    extents = [x for x in sizes if x]
    for c in parsed.constraints:
        if c.use != "boost":
            continue
        if c.kind == "count":
            have = (counts or {}).get(c.feature)
            if have is None and isinstance(params.get(c.feature), dict):
                have = params[c.feature].get("value")
            if have is not None and float(have) == float(c.value):
                b += BOOST_COUNT
        elif c.kind == "thread":
            p = params.get("thread_d")
            if isinstance(p, dict) and p.get("value") is not None and abs(float(p["value"]) - c.value) < 1e-6:
                b += BOOST_THREAD
        elif c.kind == "length":
            if any(abs(e - c.value) <= LENGTH_TOLERANCE * c.value for e in extents):
                b += BOOST_LENGTH
    return b

def score_text_rows(rows: list[tuple], parsed: text_query.ParsedText) -> dict:
    """id -> (row, text score) for rows of text_statement."""
    scored = {}
    for r in rows:
        img, words, fts = (x if x is not None else 0.0 for x in r[11:14])
        scored[r[0]] = (r, W_IMAGE * img + W_WORDS * words + W_FULLTEXT * fts + boosts(parsed, r[6], r[7], r[8:11]))
    return scored


def score_sketch_rows(rows: list[tuple]) -> dict:
    """id -> (row, sketch score) for rows of sketch_statement."""
    return {r[0]: (r, float(r[-1])) for r in rows}


def merge_sketch_text(sketch: dict, text: dict) -> dict:
    """Sketch + text hybrid scores; a part missing from one list gets that list's lowest score."""
    floor_s = min((s for _, s in sketch.values()), default=0.0)
    floor_t = min((s for _, s in text.values()), default=0.0)
    merged = {}
    for pid in set(sketch) | set(text):
        row = (sketch.get(pid) or text.get(pid))[0]
        merged[pid] = (row, W_HYBRID_SKETCH * sketch.get(pid, (None, floor_s))[1]
                       + (1 - W_HYBRID_SKETCH) * text.get(pid, (None, floor_t))[1])
    return merged


def combine_geometry_text(res: SearchResult, text_scored: dict) -> None:
    """Point cloud + text hybrid: re-score a geometric search's results in place."""
    by_pn = {r[1]: s for r, s in text_scored.values()}
    floor = min(by_pn.values(), default=0.0)
    for r in res.results:
        r.score = W_HYBRID_GEOMETRY * r.score + (1 - W_HYBRID_GEOMETRY) * by_pn.get(r.part_number, floor)
    res.results.sort(key=lambda x: -x.score)


# Used only without a calibration file (resources/models/semantic_calibration.json is shipped).
DEFAULT_CALIBRATION = {"text_mid": 0.55, "text_width": 0.02, "sketch_mid": 0.65, "sketch_width": 0.1}


def semantic_calibration() -> dict:
    from cadfinder import calibration

    return calibration.load(calibration.SEMANTIC, DEFAULT_CALIBRATION)


def ranked(scored: dict, k: int, kind: str | None = None) -> list[Result]:
    """The k best scored parts; with `kind` ("text" or "sketch") each score is shown through that
    kind's calibration (the order is the same: the map rises), the raw one kept as raw_score."""
    out = sorted((_result(r, s) for r, s in scored.values()), key=lambda x: -x.score)[:k]
    if kind is not None:
        from cadfinder.calibration import rising

        cal = semantic_calibration()
        for r in out:
            r.raw_score, r.score = r.score, rising(r.score, cal[f"{kind}_mid"], cal[f"{kind}_width"])
    return out


class SemanticSearcher:
    """Text and sketch queries on one connection with one loaded CLIP model and sentence encoder
    (the evaluations' and benchmarks'): queries.text and queries.sketch, run synchronously."""

    def __init__(self, conn: psycopg.Connection, clip, ef_search: int = 100, sentences=None):
        from cadfinder import models
        from cadfinder.queries import Engines
        from cadfinder.search import session_statements

        self.conn = conn
        self.clip = clip
        for st in session_statements(ef_search):
            conn.execute(st)
        conn.commit()
        self.engines = Engines(clip=lambda: clip, sentences=lambda: sentences or models.sentences())

    def search_text(self, text: str, k: int = 10, where: list | None = None) -> SearchResult:
        """Parts matching a designer's description."""
        from cadfinder import pipeline, queries

        return pipeline.run(queries.text(self.engines, text, k, where), self.conn)

    def search_sketch(self, grey: np.ndarray, k: int = 10, where: list | None = None, label: str = "sketch",
                      text: str | None = None) -> SearchResult:
        """Parts whose line drawings look like the sketch; with `text`, a sketch+text hybrid."""
        from cadfinder import pipeline, queries

        return pipeline.run(queries.sketch(self.engines, grey, k, where, label, text), self.conn)


def _result(row, score: float) -> Result:
    return Result(row[1], float(score), row[2], row[3], row[4], row[5])
