"""Geometric search: a scan, a mesh or an example part in, the closest library parts out.

Query pipeline: read -> PCA frame -> encoder latent -> pgvector k-NN (HNSW, cosine, filters,
iterative index scans) -> geometric re-rank of the candidates by trimmed ICP of the query
points onto each candidate's stored surface sample -> calibrated score.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql
from scipy.spatial import cKDTree

from cadfinder import filters as filters_mod
from cadfinder.errors import CadfinderError, InputError
from cadfinder.geometry.compare import shape_distance
from cadfinder.geometry.normalize import pca_frames, register
from cadfinder.resources import resource_path

SCALE_STEPS = (0.85, 1.0, 1.18)  # scale multipliers tried when the query's units are unknown
COVERAGE_WEIGHT = 0.5  # weight of the missing-coverage term against the one-sided fit residual
# Residual (trimmed mean distance, unit-sphere units) at which the score is 0.5, and its spread;
# `cadfinder eval retrieval --calibrate` refits these on held-out parts.
DEFAULT_CALIBRATION = {"r_half": 0.02, "width": 0.006}


def calibration() -> dict:
    path = resource_path("models", "calibration.json")
    if path.exists():
        try:
            return {**DEFAULT_CALIBRATION, **json.loads(path.read_text())}
        except json.JSONDecodeError:
            pass
    return dict(DEFAULT_CALIBRATION)


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


_KNN_COLS = sql.SQL("m.part_number, m.name, m.family, m.material, m.mass_kg, m.surface_sample, m.norm_scale, "
                    "m.norm_offset")


def knn_statements(z: np.ndarray, n: int, where: list, exclude: str | None = None,
                   views: bool = True) -> list[tuple[sql.Composable, dict]]:
    """SQL for the nearest parts to a latent: by their complete-shape latent (filtered in the
    index scan) and, with `views`, by the latents of their simulated partial scans."""
    cond, params = filters_mod.to_sql(where)
    if exclude is not None:
        cond = sql.SQL("{} AND part_number <> %(exclude)s").format(cond)
        params["exclude"] = exclude
    params |= {"z": np.asarray(z, np.float32), "n": n, "nv": n * 4}
    out = [(sql.SQL("""
        WITH nn AS MATERIALIZED (
            SELECT id, sdf_latent <=> %(z)s AS dist FROM cad_models m
             WHERE sdf_latent IS NOT NULL AND surface_sample IS NOT NULL AND {cond}
             ORDER BY sdf_latent <=> %(z)s LIMIT %(n)s)
        SELECT {cols}, nn.dist FROM nn JOIN cad_models m ON m.id = nn.id ORDER BY nn.dist""").format(
        cond=cond, cols=_KNN_COLS), params)]
    if views:
        out.append((sql.SQL("""
            WITH v AS MATERIALIZED (
                SELECT model_id, latent <=> %(z)s AS dist FROM scan_view_latents
                 ORDER BY latent <=> %(z)s LIMIT %(nv)s),
            best AS (SELECT model_id, min(dist) AS dist FROM v GROUP BY model_id)
            SELECT {cols}, best.dist FROM best JOIN cad_models m ON m.id = best.model_id
             WHERE surface_sample IS NOT NULL AND {cond} ORDER BY best.dist LIMIT %(n)s""").format(
            cond=cond, cols=_KNN_COLS), params))
    return out


def merge_knn(row_lists: list[list[tuple]], n: int) -> list[tuple]:
    """One candidate list from the shape and the view lists. Their distances are not on one
    scale, so the lists alternate (views first), dropping repeats."""
    if len(row_lists) == 1:
        return row_lists[0][:n]
    rows, by_view = row_lists
    merged, seen = [], set()
    for pair in zip(by_view + [None] * len(rows), rows + [None] * len(by_view)):
        for r in pair:
            if r is not None and r[0] not in seen:
                seen.add(r[0])
                merged.append(r)
    return merged[:n]


class Searcher:
    """Holds the connection and models for many queries (one model load per process).

    `conn` may be None when the caller runs the SQL itself (the app's async path): then use
    `encode`, `knn_statements`/`merge_knn` and `rerank` directly."""

    def __init__(self, conn: psycopg.Connection | None, encoder, ef_search: int = 100, candidates: int = 30):
        self.conn = conn
        self.encoder = encoder
        self.ef_search = ef_search
        self.candidates = candidates
        self.cal = calibration()
        self._trees: dict[str, tuple] = {}
        if conn is not None:
            for st in session_statements(ef_search):
                conn.execute(st)
            conn.commit()

    # -- database -----------------------------------------------------------------------------

    def knn(self, z: np.ndarray, n: int, where: list, exclude: str | None = None,
            views: bool = True) -> list[tuple]:
        """Nearest parts to a latent (see knn_statements)."""
        lists = [self.conn.execute(q, p).fetchall() for q, p in knn_statements(z, n, where, exclude, views)]
        self.conn.commit()
        return merge_knn(lists, n)

    # -- queries ------------------------------------------------------------------------------

    def _tree(self, pn: str, blob: bytes) -> tuple:
        """(KD-tree, unit normals, PCA frame) of a candidate's surface sample, cached across queries."""
        t = self._trees.get(pn)
        if t is None:
            pts, nrm = unpack_surface(blob)
            t = (cKDTree(pts), nrm, pca_frames(pts)[0])
            self._trees[pn] = t
        return t

    def encode(self, points: np.ndarray) -> np.ndarray:
        """The encoder latent of a query point cloud."""
        from cadfinder.deepsdf.encoder import encode

        return encode(self.encoder, [points])[0].numpy()

    def search_points(self, points: np.ndarray, k: int = 10, where: list | None = None,
                      label: str = "", rerank: bool = True, timings: dict | None = None,
                      metric: bool = True) -> SearchResult:
        """k closest parts to a point cloud (any pose, any scale).

        With `metric`, each candidate is also fitted at its real size (the query's units are
        millimetres, as a scan's are), besides the scale estimated from the shapes; the better
        fit counts. Without it only the estimated scale is tried (a query of unknown units)."""
        timings = dict(timings or {})
        t = time.perf_counter()
        z = self.encode(points)
        timings["encode"] = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        rows = self.knn(z, self.candidate_count(k, rerank), where or [])
        timings["database"] = 1000 * (time.perf_counter() - t)
        return self.rerank(points, rows, k, label, rerank, timings, metric)

    def candidate_count(self, k: int, rerank: bool = True) -> int:
        return max(k, self.candidates) if rerank else k

    def rerank(self, points: np.ndarray, rows: list[tuple], k: int, label: str = "", rerank: bool = True,
               timings: dict | None = None, metric: bool = True) -> SearchResult:
        """Geometric re-rank of k-NN candidates (rows from knn) against the query points."""
        timings = dict(timings or {})
        t = time.perf_counter()
        results = []
        src = points
        if len(src) > 300:
            src = src[np.random.default_rng(0).choice(len(src), 300, replace=False)]
        src_frame = pca_frames(src)[0]
        dense = points if len(points) <= 3000 else points[np.random.default_rng(1).choice(len(points), 3000, replace=False)]
        for pn, name, family, material, mass, blob, norm_scale, norm_offset, dist in rows:
            r = None
            fitted = None
            if rerank and blob is not None:
                tree, normals, frame = self._tree(pn, blob)
                # Estimated scale: PCA radius ratio, and without real units a few steps around it
                # (a partial scan's radius is biased; measured on held-out random-scale scans:
                # recall@10 0.27 -> 0.43 with the steps, at 2.7x the re-rank time).
                base = frame.scale / src_frame.scale
                steps = (1.0,) if metric else SCALE_STEPS
                fits = [register(src, tree.data, dst_normals=normals, dst_tree=tree, src_frame=src_frame,
                                 dst_frame=frame, scale=base * m) for m in steps]
                if metric and norm_scale:
                    # Real size; and one more start: the query may already be in the part's own
                    # coordinates (an STL exported from CAD, a scan registered to the drawing).
                    own = (np.eye(3), -np.asarray(norm_offset, float) / norm_scale)
                    fits.append(register(src, tree.data, dst_normals=normals, dst_tree=tree, src_frame=src_frame,
                                         dst_frame=frame, scale=1.0 / norm_scale, extra_starts=[own]))
                costs = [f.residual + size_penalty(f.scale * src_frame.scale / frame.scale) for f in fits]
                best = fits[int(np.argmin(costs))]
                fitted = best.apply(dense)
                r = min(costs) + COVERAGE_WEIGHT * coverage_residual(fitted, tree, normals)
            results.append(Result(pn, 0.0, name, family, material, mass, r, float(dist), fitted))
        if rerank:
            results.sort(key=lambda x: (x.residual is None, x.residual if x.residual is not None else 0))
            for x in results:
                x.score = score_from_residual(x.residual, self.cal) if x.residual is not None else 0.0
        else:
            for x in results:
                x.score = max(0.0, 1.0 - x.latent_distance)
        timings["rerank"] = 1000 * (time.perf_counter() - t)
        timings["total"] = sum(v for key, v in timings.items() if key != "total")
        return SearchResult(label, results[:k], timings)

    def search_like(self, part_number: str, k: int = 10, where: list | None = None) -> SearchResult:
        """Parts most like a library part (its latent, re-ranked by its own surface sample)."""
        t = time.perf_counter()
        row = self.conn.execute(LIKE_SOURCE_SQL, (part_number,)).fetchone()
        self.conn.commit()
        z, pts = like_source(part_number, row)
        timings = {"load": 1000 * (time.perf_counter() - t)}
        t = time.perf_counter()
        rows = self.knn(z, max(k, self.candidates), where or [], exclude=part_number, views=False)
        timings["database"] = 1000 * (time.perf_counter() - t)
        return self.rerank_like(part_number, pts, rows, k, timings)

    def rerank_like(self, part_number: str, pts: np.ndarray, rows: list[tuple], k: int,
                    timings: dict | None = None) -> SearchResult:
        """Re-rank k-NN candidates by their shape distance to a library part's surface sample."""
        timings = dict(timings or {})
        t = time.perf_counter()
        pts_tree = cKDTree(pts)
        results = []
        for pn, name, family, material, mass, blob, _, _, dist in rows:
            tree, _, _ = self._tree(pn, blob)
            # Both are in their canonical frames already: compare directly, both ways.
            r = shape_distance(pts, tree.data, stride=4, a_tree=pts_tree, b_tree=tree)
            results.append(Result(pn, score_from_residual(r, self.cal), name, family, material, mass, r, float(dist)))
        results.sort(key=lambda x: x.residual)
        timings["rerank"] = 1000 * (time.perf_counter() - t)
        timings["total"] = sum(v for key, v in timings.items() if key != "total")
        return SearchResult(part_number, results[:k], timings)


LIKE_SOURCE_SQL = ("SELECT sdf_latent, surface_sample FROM cad_models WHERE part_number = %s "
                   "ORDER BY revision DESC LIMIT 1")


def like_source(part_number: str, row) -> tuple[np.ndarray, np.ndarray]:
    """(latent, surface points) of the example part of a "more like this" query."""
    if row is None:
        raise InputError(f"no part {part_number!r} in the library")
    if row[0] is None or row[1] is None:
        raise InputError(f"part {part_number!r} has no shape data yet (re-ingest it)")
    return row[0].to_numpy(), unpack_surface(row[1])[0]


def coverage_residual(scan: np.ndarray, tree: cKDTree, normals: np.ndarray, trim: float = 0.8) -> float:
    """How much of the candidate that the scanner should have seen is missing from the scan.

    The view direction is the dominant direction of the candidate normals where the aligned scan
    lies (a scanner sees surfaces facing it), signed so most of them face it; the candidate's
    points visible from there (z-buffer) should each have a scan point nearby. A wrong part
    that the scan only touches here and there leaves much of its visible side unexplained.
    """
    from cadfinder.geometry.scan import visible

    _, idx = tree.query(scan)
    n = normals[idx]
    _, vecs = np.linalg.eigh(n.T @ n)
    view = vecs[:, -1]
    if (n @ view).mean() > 0:
        view = -view
    seen = visible(tree.data, normals, view, resolution=64)
    if seen.sum() < 10:
        return 0.0
    d = cKDTree(scan).query(tree.data[seen])[0]
    keep = max(1, int(trim * len(d)))
    return float(np.sort(d)[:keep].mean())


def size_penalty(ratio: float, low: float = 0.6, high: float = 1.6, weight: float = 0.1) -> float:
    """Residual added when the query, at the scale tried, is implausibly small or large for the
    candidate (ratio of their robust radii about their own centroids). One view of a part still
    spans most of it, while a small query shrunk onto a big part would otherwise fit any of its
    flat faces perfectly. The upper bound is loose: a one-sided view's centroid sits off the
    part's centre, which stretches its radius (up to ~1.45 measured on a single view of a sleeve)."""
    return weight * max(0.0, float(np.log(low / ratio)), float(np.log(ratio / high)))


def unpack_surface(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A stored surface sample: (points, unit normals) in the part's canonical frame."""
    a = np.frombuffer(blob, np.float16).reshape(-1, 6).astype(np.float64)
    n = a[:, 3:]
    return a[:, :3], n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)


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
