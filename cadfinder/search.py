"""Geometric search: a scan, a mesh or an example part in, the closest library parts out.

Query pipeline: read -> denoise -> PCA frame -> encoder latent -> pgvector k-NN (HNSW, cosine,
filters, iterative index scans) -> geometric re-rank of the candidates (cadfinder.rerank: pose
starts screened, the best fitted both ways onto each candidate's stored surface sample, the best
fits judged on all points) -> calibrated score.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql

from cadfinder import filters as filters_mod
from cadfinder.db import revisions
from cadfinder.errors import CadfinderError, InputError
from cadfinder.geometry.compare import shape_distance
from cadfinder.geometry.nearest import NearestTree
from cadfinder.geometry.normalize import pca_frames
from cadfinder.stored import unpack_surface

# Residual (trimmed mean distance, unit-sphere units) at which the score is 0.5, and its spread;
# `cadfinder eval retrieval --calibrate` refits these on held-out parts.
DEFAULT_CALIBRATION = {"r_half": 0.02, "width": 0.006}


def calibration() -> dict:
    """The geometric score calibration (r_half, width): see cadfinder.calibration."""
    from cadfinder import calibration as cal

    return cal.load(cal.GEOMETRIC, DEFAULT_CALIBRATION)


def score_from_residual(r: float, cal: dict) -> float:
    """Probability-like similarity: a logistic in the re-rank residual, fitted on held-out parts."""
    return float(1.0 / (1.0 + np.exp((r - cal["r_half"]) / cal["width"])))


@dataclass
class Result:
    part_number: str
    score: float
    name: str
    family: str | None
    material: str | None
    mass_kg: float | None
    residual: float | None = None
    latent_distance: float | None = None
    fitted_query: np.ndarray | None = None  # query points in the part's canonical frame, as fitted
    raw_score: float | None = None  # text and sketch: the score before its calibration

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("part_number", "score", "name", "family", "material", "mass_kg")}
        d["score"] = round(d["score"], 4)
        return d


@dataclass
class SearchResult:
    query: str
    results: list[Result]
    timings_ms: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    parsed: dict | None = None  # text queries: the constraints read from the text

    def as_dict(self) -> dict:
        out = {"query": self.query, "results": [r.as_dict() for r in self.results],
               "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}}
        if self.parsed is not None:
            out["parsed"] = self.parsed
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def session_statements(ef_search: int) -> list:
    """Per-connection settings for vector search."""
    return [sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(int(ef_search))),
            # Filtered queries keep scanning the index until k rows pass the filter (pgvector 0.8).
            sql.SQL("SET hnsw.iterative_scan = relaxed_order")]


_ROW_COLS = ("m.part_number", "m.name", "m.family", "m.material", "m.mass_kg", "m.surface_sample", "m.norm_scale",
             "m.norm_offset")  # in the order _candidate reads them
_KNN_COLS = sql.SQL(", ".join(_ROW_COLS))
# The frames of all a part's stored views (the re-rank's every_view stage): only a re-rank by
# views uses them, so only its statements select them (about 40 ms of a query's 150 candidates).
_VIEW_FRAMES_COL = sql.SQL("(SELECT array_agg(v.frame ORDER BY v.view) FROM scan_view_descriptors v "
                           "WHERE v.model_id = m.id)")
# A part's row without what only a re-rank needs (its surface sample, its views' frames).
_KNN_LIGHT_COLS = sql.SQL(", ".join("NULL::bytea" if c == "m.surface_sample" else c for c in _ROW_COLS)
                          + ", NULL::real[]")
VIEW_CANDIDATES = 100  # parts brought in by their best-matching scan views
# Parts 31st-50th by the shape latent are screened too (a catalog-pose scan of a hinge was 41st,
# and first once its own-coordinates start was fitted); the careful fit still takes `candidates`.
LATENT_EXTRA = 20
SEEDS_PER_PART = 3  # best-matching views per part whose frames start its fit (random pose r@10: 2 -> 0.80, 3 -> 0.83)


@dataclass
class QueryEncoding:
    """A query point cloud, encoded: the shape latent and the pose-free scan-view descriptors."""

    latent: np.ndarray
    descriptors: np.ndarray  # (8, DIM), one per frame of scan_views.query_frames
    frames: list
    points: np.ndarray | None = None  # the query cloud as encoded, denoised: what the re-rank fits


@dataclass
class Candidate:
    part_number: str
    name: str
    family: str | None
    material: str | None
    mass_kg: float | None
    surface_sample: bytes
    norm_scale: float
    norm_offset: list
    distance: float
    seeds: list  # (query frame index, view frame as 13 floats) from the best-matching views
    view_frames: list | None = None  # the frames of all the part's stored views (13 floats each)


def _filter_sql(where: list, exclude: str | None) -> tuple[sql.Composable, dict]:
    cond, params = filters_mod.to_sql(where)
    if exclude is not None:
        cond = sql.SQL("{} AND part_number <> %(exclude)s").format(cond)
        params["exclude"] = exclude
    return cond, params


def knn_statements(query: QueryEncoding, n: int, where: list, exclude: str | None = None,
                   views: bool = True, est=None) -> list[tuple[sql.Composable, dict]]:
    """SQL for the nearest parts to a query: by the complete-shape latent (filtered in the index
    scan) and, with `views`, by the descriptors of their simulated one-view scans
    (`view_statement`). `est`: PostgreSQL's knn_plan.Estimate for the filters (few parts are
    read exactly instead of through the index)."""
    from cadfinder.db import knn_plan

    cond, params = _filter_sql(where, exclude)
    params |= {"z": np.asarray(query.latent, np.float32), "n": n}
    views = views and query.descriptors is not None
    cols = sql.SQL(", ").join([_KNN_COLS, _VIEW_FRAMES_COL if views else sql.SQL("NULL::real[]")])
    out = [(sql.SQL("""
        WITH nn AS MATERIALIZED (
            SELECT id, sdf_latent <=> %(z)s AS dist FROM cad_models m
             WHERE sdf_latent IS NOT NULL AND surface_sample IS NOT NULL AND {cond}
             ORDER BY {order} LIMIT %(n)s)
        SELECT {cols}, nn.dist, NULL::real[], NULL::int[] FROM nn JOIN cad_models m ON m.id = nn.id
         ORDER BY nn.dist""").format(cond=cond, cols=cols, order=knn_plan.distance(
        sql.SQL("sdf_latent"), sql.Placeholder("z"), knn_plan.exact(where, est))), params)]
    if views:
        out.append(view_statement(query.descriptors, where, VIEW_CANDIDATES, est, exclude))
    return out


def view_statement(descriptors: np.ndarray, where: list, n_parts: int = VIEW_CANDIDATES, est=None,
                   exclude: str | None = None, shapes: bool = True) -> tuple[sql.Composable, dict]:
    """SQL for the n_parts parts whose stored scan views come nearest any of the descriptors
    (D, 512), filters applied: candidate rows with, per part, its best views' frames and which
    descriptor each matched; without `shapes`, no surface samples and view frames (the rows
    are not re-ranked)."""
    from pgvector import HalfVector

    from cadfinder.db import knn_plan
    from cadfinder.geometry import scan_views

    cond, params = _filter_sql(where, exclude)
    params |= {"qs": [HalfVector(d) for d in descriptors], "nv": 4 * n_parts, "nview": n_parts,
               "seeds": SEEDS_PER_PART}
    cols = sql.SQL(", ").join([_KNN_COLS, _VIEW_FRAMES_COL]) if shapes else _KNN_LIGHT_COLS
    # Each query frame compares its descriptor with every view of every part the filter keeps.
    order = knn_plan.distance(sql.SQL("d.descriptor"), sql.SQL("q.v"), knn_plan.exact(
        where, est, scan_views.VIEW_COUNT * len(descriptors)))
    # Each query frame's nearest views (the filter inside, so that iterative index scans keep
    # going until enough pass it); per part its best views, each with the frame that matched.
    return (sql.SQL("""
        WITH q AS (SELECT ord - 1 AS variant, v FROM unnest(%(qs)s::halfvec[]) WITH ORDINALITY AS u(v, ord)),
        hits AS MATERIALIZED (
            SELECT q.variant, h.* FROM q CROSS JOIN LATERAL (
                SELECT d.model_id, d.frame, d.descriptor <=> q.v AS dist
                  FROM scan_view_descriptors d JOIN cad_models m ON m.id = d.model_id
                 WHERE m.surface_sample IS NOT NULL AND {cond}
                 ORDER BY {order} LIMIT %(nv)s) h),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY model_id ORDER BY dist) AS r FROM hits),
        best AS (SELECT model_id, min(dist) AS dist, array_agg(frame ORDER BY r) AS frames,
                        array_agg(variant ORDER BY r) AS variants
                   FROM ranked WHERE r <= %(seeds)s GROUP BY model_id)
        SELECT {cols}, best.dist, best.frames, best.variants FROM best JOIN cad_models m ON m.id = best.model_id
         ORDER BY best.dist LIMIT %(nview)s""").format(cond=cond, cols=cols, order=order), params)


VIEW_COVERAGE_SQL = ("SELECT count(*), count(*) FILTER (WHERE view_version = %s) FROM cad_models "
                     "WHERE surface_sample IS NOT NULL")


def view_coverage_warning(parts: int, current: int) -> list[str]:
    """A warning when parts lack scan views of the current version (a scan finds them worse)."""
    if parts and current < parts:
        return [f"{parts - current} of {parts} parts have no scan views of the current version: "
                f"run `cadfinder embed`"]
    return []


def merge_knn(row_lists: list[list[tuple]], n: int | None = None) -> list[Candidate]:
    """One candidate list from the shape and the view lists (views first, alternating, since
    their distances are not on one scale); a part in both keeps its view seeds."""
    lists = [[_candidate(r) for r in rows] for rows in row_lists]
    if len(lists) == 1:
        return lists[0][:n]
    by_shape, by_view = lists
    seeded = {c.part_number: c for c in by_view}
    merged, seen = [], set()
    for pair in zip(by_view + [None] * len(by_shape), by_shape + [None] * len(by_view)):
        for c in pair:
            if c is not None and c.part_number not in seen:
                seen.add(c.part_number)
                merged.append(seeded.get(c.part_number, c))
    return merged if n is None else merged[:n]


def _candidate(row: tuple) -> Candidate:
    pn, name, family, material, mass, blob, norm_scale, norm_offset, view_frames, dist, frames, variants = row
    seeds = list(zip(variants, frames)) if frames else []
    return Candidate(pn, name, family, material, mass, blob, norm_scale, norm_offset, float(dist), seeds,
                     view_frames)


TREE_CACHE = 512  # candidates' KD-trees a searcher keeps between queries


class PartSample:
    """A candidate's surface sample as the re-rank fits it: `tree` (NearestTree of the (N, 3)
    points, canonical unit-sphere units), `normals` (N, 3) unit normals, and `frame`, the
    sample's PCA frame, computed on first use (~1.3 ms: few candidates need it)."""

    __slots__ = ("tree", "normals", "_frame")

    def __init__(self, points: np.ndarray, normals: np.ndarray):
        self.tree, self.normals, self._frame = NearestTree(points), normals, None

    @property
    def frame(self):
        if self._frame is None:  # two threads may both compute it: the same frame
            self._frame = pca_frames(self.tree.data)[0]
        return self._frame


class Searcher:
    """The geometric search's engine for many queries (one model load per process): encoding a
    query cloud and re-ranking candidates, which the query pipelines (cadfinder.queries) call as
    steps. `search_points` and `search_like` run those pipelines on `conn`; `conn` is None in the
    app, whose executor runs the SQL itself."""

    def __init__(self, conn: psycopg.Connection | None, encoder, ef_search: int = 100, candidates: int = 30,
                 threads: int | None = None):
        self.conn = conn
        self.encoder = encoder
        self.ef_search = ef_search
        self.candidates = candidates
        self.cal = calibration()
        self._trees: OrderedDict[str, PartSample] = OrderedDict()  # least recently used first
        self._trees_lock = threading.Lock()
        # The re-rank's candidates are fitted on these threads (KD-tree queries and the compiled
        # kernels run without the GIL: two threads re-rank x1.2-1.3 faster than one on two cores,
        # where pykdtree's own OpenMP threads already use both for part of the time).
        self.threads = max(1, threads or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rerank") if self.threads > 1 else None
        if self._pool is not None:  # the compiled fit kernels load (or compile) while the query is encoded
            from cadfinder.geometry import kernels

            self._pool.submit(kernels.warm)
        self._engines = None
        if conn is not None:
            for st in session_statements(ef_search):
                conn.execute(st)
            conn.commit()

    def close(self, wait: bool = True) -> None:
        """Stop the re-rank threads (a searcher is also a context manager that does this);
        without `wait`, a fit already running finishes on its own while the caller goes on."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _map(self, fn, items) -> list:
        """fn over items on the re-rank threads, results in order (each candidate's fit depends on
        nothing but its own inputs, so the results are those of a plain loop)."""
        return list(self._pool.map(fn, items)) if self._pool is not None else [fn(x) for x in items]

    # -- database -----------------------------------------------------------------------------

    def knn(self, query: QueryEncoding, n: int, where: list, exclude: str | None = None,
            views: bool = True) -> list[Candidate]:
        """Candidate parts for a query (see knn_statements)."""
        lists = [self.conn.execute(q, p, binary=True).fetchall()
                 for q, p in knn_statements(query, n, where, exclude, views)]
        self.conn.commit()
        return merge_knn(lists)

    # -- queries ------------------------------------------------------------------------------

    def _tree(self, pn: str, blob: bytes) -> PartSample:
        """A candidate's surface sample (KD-tree, normals, PCA frame), cached across queries
        (the TREE_CACHE most recently used parts, about 0.3 MB each and 0.2 MB more once the
        screen has made the tree's look-up table, geometry.nearest_grid)."""
        with self._trees_lock:  # the re-rank loads its candidates on its threads
            t = self._trees.get(pn)
            if t is not None:
                self._trees.move_to_end(pn)
                return t
        t = PartSample(*unpack_surface(blob))
        with self._trees_lock:
            self._trees[pn] = t
            while len(self._trees) > TREE_CACHE:
                self._trees.popitem(last=False)
        return t

    def encode(self, points: np.ndarray, views: bool = True) -> QueryEncoding:
        """The encoder latent and (with `views`) the scan-view descriptors of a query cloud, with
        the scanner's noise taken out first (geometry.denoise)."""
        from cadfinder.deepsdf.encoder import encode
        from cadfinder.geometry import scan_views
        from cadfinder.geometry.denoise import denoise

        points = denoise(points)
        z = encode(self.encoder, [points])[0].numpy()
        if not views:
            return QueryEncoding(z, None, [], points)
        frames = scan_views.query_frames(points)
        return QueryEncoding(z, scan_views.query_descriptors(points, frames), frames, points)

    @property
    def engines(self):
        """This searcher as the geometry of queries.Engines (for the synchronous wrappers below)."""
        if self._engines is None:
            from cadfinder.queries import Engines

            self._engines = Engines(geometry=lambda: self)
        return self._engines

    def search_points(self, points: np.ndarray, k: int = 10, where: list | None = None,
                      label: str = "", rerank: bool = True, metric: bool = True) -> SearchResult:
        """k closest parts to a point cloud (any pose, any scale): queries.points on this
        searcher's connection.

        With `metric`, each candidate's fit also starts at its real size (the query's units are
        millimetres, as a scan's are) and in its own coordinates, and a fit far from the real
        size costs; without it (a query of unknown units) the fits start at the scales
        estimated from the shapes. The fit itself finds the scale either way."""
        from cadfinder import pipeline, queries

        return pipeline.run(queries.points(self.engines, points, k, where, label, rerank=rerank, metric=metric),
                            self.conn)

    def candidate_count(self, k: int, rerank: bool = True) -> int:
        """Candidates by shape latent (the view descriptors bring VIEW_CANDIDATES more): the
        `candidates` that get the careful fit and LATENT_EXTRA more that only the screen decides on."""
        return max(k, self.candidates + LATENT_EXTRA) if rerank else k

    def rerank(self, points: np.ndarray, rows: list[Candidate], k: int, label: str = "", rerank: bool = True,
               timings: dict | None = None, metric: bool = True, query: QueryEncoding | None = None) -> SearchResult:
        """Geometric re-rank of candidates (from knn) against the query points, denoised (as `query`
        holds them when given, see encode): cadfinder.rerank's stages, the `candidates` best
        screened fitted carefully. Without `rerank`, the candidates as the vectors ranked them."""
        from cadfinder import rerank as stages
        from cadfinder.geometry import scan_views
        from cadfinder.geometry.denoise import denoise

        timings = dict(timings or {})
        if not rerank:
            results = [Result(c.part_number, max(0.0, 1.0 - c.distance), c.name, c.family, c.material, c.mass_kg,
                              None, c.distance) for c in rows]
            timings["total"] = sum(v for key, v in timings.items() if key != "total")
            return SearchResult(label, results[:k], timings)
        started = time.perf_counter()
        points = query.points if query is not None and query.points is not None else denoise(points)
        frames = query.frames if query is not None and query.frames else scan_views.query_frames(points)
        return stages.run(points, frames, rows, k, self.candidates, metric,
                          lambda c: self._tree(c.part_number, c.surface_sample), self._map, self.cal, label, timings,
                          started)

    def search_like(self, part_number: str, k: int = 10, where: list | None = None) -> SearchResult:
        """Parts most like a library part: queries.like on this searcher's connection."""
        from cadfinder import pipeline, queries

        return pipeline.run(queries.like(self.engines, part_number, k, where), self.conn)

    def rerank_like(self, part_number: str, pts: np.ndarray, rows: list[Candidate], k: int,
                    timings: dict | None = None) -> SearchResult:
        """Re-rank k-NN candidates by their shape distance to a library part's surface sample."""
        timings = dict(timings or {})
        t = time.perf_counter()
        pts_tree = NearestTree(pts)
        results = []
        for c in rows:
            tree = self._tree(c.part_number, c.surface_sample).tree
            # Both are in their canonical frames already: compare directly, both ways.
            r = shape_distance(pts, tree.data, stride=4, a_tree=pts_tree, b_tree=tree)
            results.append(Result(c.part_number, score_from_residual(r, self.cal), c.name, c.family, c.material,
                                  c.mass_kg, r, c.distance))
        results.sort(key=lambda x: x.residual)
        timings["rerank"] = 1000 * (time.perf_counter() - t)
        timings["total"] = sum(v for key, v in timings.items() if key != "total")
        return SearchResult(part_number, results[:k], timings)


LIKE_SOURCE_SQL = "SELECT sdf_latent, surface_sample FROM cad_models WHERE part_number = %s " + revisions.LATEST


def like_source(part_number: str, row) -> tuple[np.ndarray, np.ndarray]:
    """(latent, surface points) of the example part of a "more like this" query."""
    if row is None:
        raise InputError(f"no part {part_number!r} in the library")
    if row[0] is None or row[1] is None:
        raise InputError(f"part {part_number!r} has no shape data yet (re-ingest it)")
    return row[0].to_numpy(), unpack_surface(row[1])[0]


def load_query_points(path: str, units: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Points of a query file: a point cloud as is, a mesh or CAD file sampled on its surface."""
    from cadfinder.geometry.readers import read_points

    read = read_points(path, units=units)
    pts = read.points
    if len(pts) > 20_000:
        pts = pts[np.random.default_rng(0).choice(len(pts), 20_000, replace=False)]
    return pts, read.warnings


def parse_filters(exprs: list[str] | None) -> list:
    try:
        return [filters_mod.parse(e) for e in exprs or []]
    except InputError as e:
        raise CadfinderError(str(e)) from None
