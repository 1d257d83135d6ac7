"""Similar parts after the match: view-set distances and the order of a result list."""

import numpy as np
import pytest

from cadfinder import similar_kinds
from cadfinder.search import Candidate, Result, SearchResult


def _views(seed, n=48, dim=512, around=None, spread=0.05):
    rng = np.random.default_rng(seed)
    v = (around if around is not None else rng.normal(size=(n, dim))) + spread * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _result(pn, score, family=None):
    return Result(pn, score, pn, family, None, None, residual=1 - score)


def test_view_set_distance_is_symmetric_zero_on_itself_and_grows_with_difference():
    a = _views(0)
    near, far = _views(1, around=a), _views(2)
    d = similar_kinds.view_set_distance(a, [a, near, far])
    assert d[0] == pytest.approx(0, abs=1e-3) and d[0] < d[1] < d[2]
    assert similar_kinds.view_set_distance(near, [a])[0] == pytest.approx(d[1], rel=1e-5)
    # the views' order and count do not matter: a set against its own shuffled half
    assert similar_kinds.view_set_distance(a, [a[::-1][:24]])[0] < d[1]


def test_binary_halfvec_records_unpack_to_descriptors():
    v = _views(3, n=5, dim=8)
    blob = b"".join(len(row).to_bytes(2, "big") + b"\0\0" + row.astype(">f2").tobytes() for row in v)
    assert np.allclose(similar_kinds.unpack_views(blob), v, atol=1e-3)


def test_probable_matches_stay_first_and_the_rest_follow_the_best_by_kind():
    best = _views(10)
    kin, kin2, other = _views(11, around=best), _views(12, around=best, spread=0.2), _views(13)
    res = SearchResult("q", [_result("BEST", 0.95), _result("OTHER", 0.5), _result("COPY", 0.9),
                             _result("KIN2", 0.1), _result("NOVIEWS", 0.3)])
    neighbour = Candidate("KIN", "kin", "k", None, None, b"", 1.0, [0, 0, 0], 0.1, [])
    views = {"BEST": best, "COPY": best, "OTHER": other, "KIN": kin, "KIN2": kin2}
    out = similar_kinds.order(res, views, [neighbour], k=6)
    # the two best kept, and the copy for its score; then by kind
    assert similar_kinds.KEEP == 2
    assert [r.part_number for r in out.results] == ["BEST", "OTHER", "COPY", "KIN", "KIN2", "NOVIEWS"]
    added = out.results[3]
    assert added.score == 0.0 and added.residual is None  # brought in by its views, never fitted
    out = similar_kinds.order(SearchResult("q", [_result("BEST", 0.4)]), {}, [], k=3)
    assert [r.part_number for r in out.results] == ["BEST"]


def test_more_like_this_orders_by_the_example_part_which_is_never_a_result():
    example = _views(20)
    kin, other = _views(21, around=example), _views(22)
    res = SearchResult("EX", [_result("OTHER", 0.3), _result("COPY", 0.85), _result("KIN", 0.2)])
    views = {"EX": example, "OTHER": other, "COPY": example, "KIN": kin}
    itself = Candidate("EX", "ex", "k", None, None, b"", 1.0, [0, 0, 0], 0.0, [])
    out = similar_kinds.order(res, views, [itself], k=5, anchor="EX")
    assert [r.part_number for r in out.results] == ["COPY", "KIN", "OTHER"]


def test_the_image_side_breaks_ties_the_view_sets_cannot():
    """Two parts whose views are as near the best's: the one whose rendered look (pooled image
    embedding) is nearer comes first; a part without one takes the others' median term."""
    best = _views(30)
    a, b = _views(31, around=best), _views(32, around=best)
    look = np.eye(4, dtype=np.float32)
    images = {"BEST": look[0], "A": (look[0] + look[1]) / np.sqrt(2), "B": look[1]}
    res = SearchResult("q", [_result("BEST", 0.95), _result("X", 0.9), _result("A", 0.3), _result("B", 0.2)])
    views = {"BEST": best, "X": best, "A": a, "B": b}
    plain = [r.part_number for r in similar_kinds.order(res, views, [], k=4).results]
    res = SearchResult("q", [_result("BEST", 0.95), _result("X", 0.9), _result("A", 0.3), _result("B", 0.2)])
    seen = [r.part_number for r in similar_kinds.order(res, views, [], k=4, images=images).results]
    assert plain[2:] == ["B", "A"] and seen[2:] == ["A", "B"], (plain, seen)
    d = similar_kinds.kind_distance(best, [a, b], look[0], [look[1], None])
    assert d[0] - similar_kinds.view_set_distance(best, [a])[0] == pytest.approx(similar_kinds.W_IMAGE)
    assert d[1] - similar_kinds.view_set_distance(best, [b])[0] == pytest.approx(similar_kinds.W_IMAGE)
