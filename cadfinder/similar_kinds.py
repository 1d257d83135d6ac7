"""Similar parts after the match: the rest of a scan's or mesh's results ordered by kind.

The geometric re-rank ranks parts by how closely each fits the query at one size, which is what
finds the exact part; after it, though, the list holds whatever fits next best, often parts of
other kinds of the same size. A designer browsing "similar parts" expects more of the same kind
of part. So once the re-rank has found its match, the results that are not probable matches are
ordered by how much each part looks like the best match: the distance between their sets of
stored scan-view descriptors (48 simulated one-view scans per part, cadfinder.geometry.scan_views,
pose- and scale-free), averaged both ways over each view's nearest view of the other part. The
library parts whose views come nearest the best match's join the list, though the query's k-NN
did not bring them.

The view sets are hand-made descriptors, not a model trained on some families of parts, so
they group kinds never seen in training as well: family precision@10 of each part's ten nearest
by view set, over every part, was 0.94 on the demo library and 0.76 on the variety catalog's 480
parts (shape latent: 0.77 / 0.51, shape signature 0.89 / 0.67). docs/geometric-search.md and
docs/experiments.md (session 19) have the figures on queries.
"""

from __future__ import annotations

import numpy as np

from cadfinder import search
from cadfinder.db import revisions
from cadfinder.pipeline import Compute, Fetch
from cadfinder.search import Result, SearchResult

# The re-ranked results that take part (the re-rank's careful fits), and the library parts whose
# views come nearest the best match's that join them.
POOL = 30
LIBRARY_NEIGHBOURS = 20
# The re-rank's best results keep their place ahead of the similar ones: the first KEEP (the
# runner-up is the part when the best is a close sibling), and any the calibrated score calls a
# probable match (an exact copy of the part, a look-alike of another size).
KEEP = 2
MATCH_SCORE = 0.8

# Each part's descriptors (its latest revision's) as one bytea of pgvector's binary halfvec
# records (a text array of halfvecs took 245 ms to read for 50 parts, this 12-19 ms).
VIEWS_SQL = ("SELECT m.part_number, string_agg(halfvec_send(d.descriptor), ''::bytea ORDER BY d.view) "
             "FROM (SELECT DISTINCT ON (part_number) id, part_number FROM cad_models WHERE part_number = ANY(%s) "
             f"ORDER BY part_number, {revisions.NEWEST_FIRST}) m "
             "JOIN scan_view_descriptors d ON d.model_id = m.id GROUP BY m.part_number")


def unpack_views(blob: bytes) -> np.ndarray:
    """(V, D) float32 descriptors from concatenated binary halfvec records (int16 dimension,
    int16 unused, D big-endian float16 each)."""
    blob = bytes(blob)
    dim = int.from_bytes(blob[:2], "big")
    return np.frombuffer(blob, ">f2").reshape(-1, dim + 2)[:, 2:].astype(np.float32)


def view_set_distance(a: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Distance between one part's view descriptors a (Va, D) and each other part's (Vb, D):
    the mean over a's views of the distance to the nearest of b's, plus the same from b to a.
    Descriptors are unit vectors; distances are Euclidean. Returns (len(others),)."""
    a = np.asarray(a, np.float32)
    out = np.empty(len(others))
    for i, b in enumerate(others):
        b = np.asarray(b, np.float32)
        d2 = np.maximum(2.0 - 2.0 * (a @ b.T), 0.0)
        out[i] = np.sqrt(d2.min(axis=1)).mean() + np.sqrt(d2.min(axis=0)).mean()
    return out


def order(res: SearchResult, views: dict[str, np.ndarray], neighbours: list, k: int,
          anchor: str | None = None) -> SearchResult:
    """The k results: the probable matches first (the KEEP best, and any scoring at least
    MATCH_SCORE, in the re-rank's order), then the other re-ranked results and the library
    neighbours (candidate rows, not re-ranked: no residual, score 0) by view-set distance to the
    best. With `anchor` (a "more like this" query's own part, not among the results) the order
    is by distance to it and no result is kept first but for its score. `views`: part number ->
    (V, D) descriptors; a part without views goes last."""
    if not res.results and anchor is None:
        return res
    if anchor is None:
        anchor = res.results[0].part_number
        matches = res.results[:KEEP] + [r for r in res.results[KEEP:] if r.score >= MATCH_SCORE]
    else:
        matches = [r for r in res.results if r.score >= MATCH_SCORE]
    seen = {r.part_number for r in matches} | {anchor}
    rest = [r for r in res.results if r.part_number not in seen]
    seen |= {r.part_number for r in rest}
    for c in neighbours:
        if c.part_number not in seen:
            seen.add(c.part_number)
            rest.append(Result(c.part_number, 0.0, c.name, c.family, c.material, c.mass_kg, None, c.distance))
    if anchor in views:
        known = [r for r in rest if r.part_number in views]
        d = view_set_distance(views[anchor], [views[r.part_number] for r in known])
        rest = [known[i] for i in np.argsort(d, kind="stable")] + [r for r in rest if r.part_number not in views]
    res.results = (matches + rest)[:k]
    return res


def similar_after_match(res: SearchResult, k: int, where: list | None = None, est=None,
                        anchor: str | None = None):
    """Pipeline steps (cadfinder.pipeline) from a re-ranked result (its POOL best) to the k
    results with the similar parts ordered by kind (`order`; `anchor` as there)."""
    if not res.results and anchor is None:
        return res
    best = anchor or res.results[0].part_number
    rows = yield Fetch(VIEWS_SQL, ([best],))
    if not rows:
        res.results = res.results[:k]
        return res
    best_views = unpack_views(rows[0][1])
    statement = search.view_statement(best_views, where or [], LIBRARY_NEIGHBOURS, est)
    neighbours = search.merge_knn([(yield Fetch(*statement))])
    wanted = [pn for pn in [r.part_number for r in res.results] + [c.part_number for c in neighbours] if pn != best]
    rows = yield Fetch(VIEWS_SQL, (wanted,))
    views = {pn: unpack_views(blob) for pn, blob in rows} | {best: best_views}
    return (yield Compute(order, (res, views, neighbours, k, anchor), label="similar"))
