"""The re-rank's stages on small synthetic parts (no database): when the careful fits settle the
answer, and the compiled kernels' trimmed means."""

import numpy as np
import pytest
import trimesh

from cadfinder import rerank
from cadfinder.geometry import kernels, scan, scan_views, sdf
from cadfinder.search import Candidate, PartSample, Result


def test_trimmed_mean_counts_the_smallest_masked_fraction():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 1, (5, 40))
    mask = rng.uniform(size=(5, 40)) < 0.6
    mask[3] = False
    got = kernels.trimmed_mean(d, mask, 0.8)
    for h in range(5):
        vals = np.sort(d[h][mask[h]])
        want = vals[:max(1, int(0.8 * len(vals)))].mean() if len(vals) else 0.0
        assert got[h] == pytest.approx(want)


def _fitting(pn: str, residual: float, fitted: bool = True) -> rerank.Fitting:
    c = Candidate(pn, pn, None, None, None, b"", 1.0, [0, 0, 0], 0.0, [])
    f = rerank.Fitting(c, Result(pn, 0.0, pn, None, None, None, None, 0.0), None)
    f.result.residual = residual
    f.best = (residual, None) if fitted else None
    return f


def test_settled_needs_a_clear_margin_over_the_next_fitted_part():
    assert rerank.settled([_fitting("a", 0.010), _fitting("b", 0.012)])
    assert not rerank.settled([_fitting("a", 0.010), _fitting("b", 0.0105)])
    # Unfitted candidates rank below the fitted and say nothing about the margin.
    assert not rerank.settled([_fitting("a", 0.010), _fitting("x", 0.5, fitted=False), _fitting("b", 0.0105)])
    assert not rerank.settled([_fitting("a", 0.010)])  # a lone candidate goes through every stage


def _part(mesh: trimesh.Trimesh, pn: str):
    pts, nrm = sdf.sample_surface(mesh, 4096, np.random.default_rng(0))
    return Candidate(pn, pn, "test", None, None, b"", 1.0, [0.0, 0.0, 0.0], 0.0, []), PartSample(pts, nrm)


def test_a_clear_answer_skips_polish_and_a_close_call_does_not(monkeypatch):
    """A scan of a plate against the plate and a rod: the careful fits settle it, and the
    stages that search further (polish, every_view) do not run; against two copies of the plate
    (residuals alike) they do."""
    plate = trimesh.util.concatenate([trimesh.creation.box((1.6, 1.0, 0.08)),
                                      trimesh.creation.cylinder(0.15, 0.3).apply_translation([0.4, 0.2, 0.15])])
    rod = trimesh.creation.cylinder(0.2, 1.8)
    by_pn = {c.part_number: (c, p) for c, p in (_part(plate, "PLATE"), _part(rod, "ROD"),
                                                 _part(plate, "PLATE-COPY"))}
    points = scan.simulate_scan(plate, scan.ScanSettings(points=3000), seed=1).points
    frames = scan_views.query_frames(points)
    ran = []
    real_polish = rerank.polish
    monkeypatch.setattr(rerank, "polish", lambda *a: (ran.append("polish"), real_polish(*a)))

    def search(pns):
        cands = [by_pn[pn][0] for pn in pns]
        return rerank.run(points, frames, cands, 2, 2, True, lambda c: by_pn[c.part_number][1],
                          lambda fn, xs: [fn(x) for x in xs], {"r_half": 0.025, "width": 0.005})

    res = search(["ROD", "PLATE"])
    assert [r.part_number for r in res.results] == ["PLATE", "ROD"] and ran == []
    res = search(["PLATE", "PLATE-COPY"])
    assert ran == ["polish"] and {r.part_number for r in res.results} == {"PLATE", "PLATE-COPY"}


def test_the_judge_looks_closely_only_at_poses_near_the_best(monkeypatch):
    """A scan of a plate judged at its true pose on the plate and on a rod: every pose gets the
    quick judgement, only the plate's (near the best) the full one, which is the residual it
    keeps; the rod keeps its quick residual, far above the plate's."""
    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry.normalize import Registration

    plate = trimesh.util.concatenate([trimesh.creation.box((1.6, 1.0, 0.08)),
                                      trimesh.creation.cylinder(0.15, 0.3).apply_translation([0.4, 0.2, 0.15])])
    points = scan.simulate_scan(plate, scan.ScanSettings(points=3000), seed=1).points
    q = rerank.QueryCloud(points, scan_views.query_frames(points), False)
    fittings = []
    for pn, mesh in (("PLATE", plate), ("ROD", trimesh.creation.cylinder(0.2, 1.8))):
        c, part = _part(mesh, pn)
        f = rerank.Fitting(c, Result(pn, 0.0, pn, None, None, None, None, 0.0), part)
        f.best = (0.0, Registration(np.eye(3), 1.0, np.zeros(3), 0.0))
        f.poses = [f.best[1]]
        fittings.append(f)
    looked = []
    real = rerank.judged
    monkeypatch.setattr(rerank, "judged", lambda tree, regs, f, metric, scan_points=None: (
        looked.append((f.pn, scan_points is None)), real(tree, regs, f, metric, scan_points))[1])
    rerank.judge(q, fittings, lambda fn, xs: [fn(x) for x in xs])
    assert looked == [("PLATE", False), ("ROD", False), ("PLATE", True)]
    plate_f, rod_f = fittings
    tree, normals = plate_f.part.tree, plate_f.part.normals
    assert plate_f.result.residual == cf.judge(q.full_tree, plate_f.poses[0], tree, normals)
    assert rod_f.result.residual > rerank.JUDGE_AGAIN * plate_f.result.residual
    assert plate_f.judged == rod_f.judged == 1

