"""Similar parts after the match: the rest of a scan's or mesh's results ordered by kind.

The geometric re-rank ranks parts by how closely each fits the query at one size, which is what
finds the exact part; after it, though, the list holds whatever fits next best, often parts of
other kinds of the same size. A designer browsing "similar parts" expects more of the same kind
of part. So once the re-rank has found its match, the results that are not probable matches are
ordered by how much each part looks like the best match: the distance between their sets of
stored scan-view descriptors (48 simulated one-view scans per part, cadfinder.geometry.scan_views,
pose- and scale-free), averaged both ways over each view's nearest view of the other part, plus
the cosine distance of their pooled CLIP image embeddings (rendered views). The library parts
whose views come nearest the best match's join the list, though the query's k-NN did not bring
them.

The view sets are hand-made descriptors, not a model trained on some families of parts, so
they group kinds never seen in training as well: family precision@10 of each part's ten nearest
by view set, over every part, was 0.94 on the demo library and 0.76 on the variety catalog's 480
parts (shape latent: 0.77 / 0.51, shape signature 0.89 / 0.67). The CLIP image embeddings, even
from a model trained on other kinds, group rendered parts by kind better still (0.81 on variety
parts the model never saw), and the two together best. docs/geometric-search.md and
docs/experiments.md (sessions 19, 20) have the figures on queries.
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
# Which of the best match's 48 stored views ask the library for those neighbours: every 4th (the
# views' directions are a Fibonacci lattice, so twelve still span the sphere). Each view is one
# HNSW scan: at 100,000 parts 48 took a median 0.47 s, 12 0.19 s. Training queries' family
# precision@10, 48 -> 12 views: demo 0.958 -> 0.957, variety kinds 0.793 -> 0.786 (docs/experiments.md,
# session 23).
NEIGHBOUR_VIEW_STEP = 4
# The re-rank's best results keep their place ahead of the similar ones: the first KEEP (the
# runner-up is the part when the best is a close sibling), and any the calibrated score calls a
# probable match (an exact copy of the part, a look-alike of another size).
KEEP = 2
MATCH_SCORE = 0.8

# How much the CLIP image side counts beside the view sets: distance = view-set distance +
# W_IMAGE * (1 - cosine of the pooled image embeddings). Chosen where the CLIP model had never seen
# the kinds (the demo-trained model on the variety catalog's training parts; docs/experiments.md,
# session 20): family precision@10 within a 50-part pool 0.76 by view sets, 0.81 by image, 0.82 both.
W_IMAGE = 2.0

# Each part's descriptors (its latest revision's) as one bytea of pgvector's binary halfvec
# records (a text array of halfvecs took 245 ms to read for 50 parts, this 12-19 ms), and its
# pooled image embedding.
VIEWS_SQL = ("SELECT m.part_number, (SELECT string_agg(halfvec_send(d.descriptor), ''::bytea ORDER BY d.view) "
             "FROM scan_view_descriptors d WHERE d.model_id = m.id), m.image_embedding "
             "FROM (SELECT DISTINCT ON (part_number) id, part_number, image_embedding FROM cad_models "
             f"WHERE part_number = ANY(%s) ORDER BY part_number, {revisions.NEWEST_FIRST}) m")


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


def kind_distance(anchor_views: np.ndarray, others: list[np.ndarray], anchor_image: np.ndarray | None = None,
                  images: list | None = None) -> np.ndarray:
    """View-set distance plus W_IMAGE * (1 - cosine) of the pooled image embeddings (512,) where
    both have one; a part without one gets the median image term of the others. (len(others),)"""
    d = view_set_distance(anchor_views, others)
    if anchor_image is None or not images:
        return d
    have = [i for i, im in enumerate(images) if im is not None]
    if not have:
        return d
    term = np.full(len(others), 0.0)
    term[have] = 1.0 - np.stack([images[i] for i in have]) @ np.asarray(anchor_image, np.float32)
    term[[i for i in range(len(others)) if images[i] is None]] = np.median(term[have])
    return d + W_IMAGE * term


def order(res: SearchResult, views: dict[str, np.ndarray], neighbours: list, k: int,
          anchor: str | None = None, images: dict[str, np.ndarray] | None = None) -> SearchResult:
    """The k results: the probable matches first (the KEEP best, and any scoring at least
    MATCH_SCORE, in the re-rank's order), then the other re-ranked results and the library
    neighbours (candidate rows, not re-ranked: no residual, score 0) by kind distance to the
    best. With `anchor` (a "more like this" query's own part, not among the results) the order
    is by distance to it and no result is kept first but for its score. `views`: part number ->
    (V, D) descriptors; a part without views goes last. `images`: part number -> (512,) pooled
    image embedding, for those that have one."""
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
        images = images or {}
        d = kind_distance(views[anchor], [views[r.part_number] for r in known], images.get(anchor),
                          [images.get(r.part_number) for r in known])
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
    rows = [r for r in (yield Fetch(VIEWS_SQL, ([best],))) if r[1] is not None]
    if not rows:
        res.results = res.results[:k]
        return res
    best_views, best_image = unpack_views(rows[0][1]), rows[0][2]
    statement = search.view_statement(best_views[::NEIGHBOUR_VIEW_STEP], where or [], LIBRARY_NEIGHBOURS, est,
                                      shapes=False)
    neighbours = search.merge_knn([(yield Fetch(*statement))])
    wanted = [pn for pn in [r.part_number for r in res.results] + [c.part_number for c in neighbours] if pn != best]
    rows = yield Fetch(VIEWS_SQL, (wanted,))
    views = {pn: unpack_views(blob) for pn, blob, _ in rows if blob is not None} | {best: best_views}
    images = {pn: im.to_numpy() for pn, _, im in rows + [(best, None, best_image)] if im is not None}
    return (yield Compute(order, (res, views, neighbours, k, anchor, images), label="similar"))
