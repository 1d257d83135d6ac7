"""The geometric re-rank: the k-NN candidates of a scan or mesh query, fitted and judged.

Named stages, each a function over one candidate set (a list of Fitting, the candidates in their
current order); the per-candidate work of a stage runs on the caller's `map` (the searcher's
threads: each candidate's fit depends only on its own inputs, so the order of the answers is that
of a plain loop):

    screen         every pose start of every candidate, a few ICP steps on SCREEN_POINTS points
                   (the part's nearest samples looked up in a table: SCREEN_LOOK_UP)
    closer_screen  the SCREEN2_TOP best: a few fit steps both ways, judged on the query's
                   VIEW_POINTS points (which tells the right part better than the screen's cost)
    careful_fit    the `fitted` best, and the k-NN lists' KNN_FIRST first whatever their screen:
                   FIT_ITERATIONS steps on FIT_POINTS points (fit plus missing coverage)
    judge          each fitted candidate's poses on JUDGE_QUICK_POINTS, those near the best
                   again on JUDGE_POINTS points: its residual
    settled        the best judged part ahead of the next by SETTLED_MARGIN: the answer; else
    polish         the POLISH_TOP best fitted again, from turned, deeper and flipped poses
    judge          their new poses
    every_view     the EVERY_VIEW_TOP best again, from every stored view of the part
    judge          their new poses
    units check    (metric queries) all of it again at any scale when the best part does not fit
                   at its real size, or only loosely

`run` chains them. The fits themselves (starts, screen, fit, judge) are geometry.candidate_fit;
a candidate's surface sample comes as `part(candidate)` -> search.PartSample (KD-tree, normals,
PCA frame).
Lengths are in the candidate's canonical (unit-sphere) units; a residual is a trimmed mean
distance there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cadfinder.geometry import candidate_fit as cf
from cadfinder.geometry import scan_views
from cadfinder.geometry.nearest import NearestTree
from cadfinder.geometry.normalize import Registration
from cadfinder.search import Candidate, PartSample, Result, SearchResult, score_from_residual

# Scale multipliers around a view match's estimate when the query's units are unknown (the
# nearest stored view is up to ~15 degrees off the scan's direction, which moves its radius).
SCALE_STEPS = (0.95, 1.05)
COVERAGE_WEIGHT = 0.5  # weight of the missing-coverage term against the fit residual
COVERAGE_TRIM = 0.8  # fraction of the part's facing points the coverage counts (edges, dropouts)
SIZE_WEIGHT = 0.1  # metric queries: cost per unit |log(fitted size / real size)|
SCREEN_POINTS = 120  # query points for screening every pose start of every candidate
SCREEN_ITERATIONS = 3  # ICP steps of every pose start in the screen
SCREEN_KEEP = 4  # pose starts per candidate that the screen keeps
# The screens take the part's nearest samples from its look-up table (geometry.nearest_grid),
# not its KD-tree: x10 quicker per query. On 240 training queries the same answers or better
# (docs/experiments.md, session 22); False is the bench's baseline.
SCREEN_LOOK_UP = True
SCREEN_PART_POINTS = 300  # part points the screen's coverage looks at
SCREEN2_TOP = 60  # the best screened candidates that a second, closer screen orders
SCREEN2_ITERATIONS = 2
KNN_FIRST = 6  # the first candidates of the k-NN lists (merged), fitted whatever their screen
FIT_POINTS = 400  # query points for the careful fit of the best candidates
FIT_PART_POINTS = 600  # part points the careful fit's coverage looks at
FIT_ITERATIONS = 8  # similarity-fit steps for each of the best candidates
FIT_SLIDE = 0.04  # part->scan pairs closer than this pull only along the part's normal (candidate_fit.fit)
# The best fits start again from turned poses (degrees about the scanner's axis, each also turned
# over: a near-symmetric part can trap a fit); all turns a few steps on few points, the best two on.
POLISH_TOP = 20
POLISH_TURNS = (0.0, 20.0, -20.0, 45.0, -45.0)
# ... and from the fit moved along the scanner's axis (a wall's thickness: candidate_fit.depth_starts).
POLISH_DEPTHS = (0.02, 0.04, 0.06)
POLISH_DEPTH_POSES = 2  # distinct careful fits of a candidate whose depths are tried
POLISH_SCREEN_ITERATIONS = 6
POLISH_ITERATIONS = 10
JUDGE_POINTS = 5000  # scan points the final judgement of each fitted candidate uses (candidate_fit.judge)
JUDGE_POSES = 2  # of each fit's poses, the best (by the fit's cost) that are judged
# Every pose is judged first with the scan-to-part term on JUDGE_QUICK_POINTS of the scan; only
# those within JUDGE_AGAIN times the best judged so far are judged again on all JUDGE_POINTS.
JUDGE_QUICK_POINTS = 1000
JUDGE_AGAIN = 1.3
# The careful fits' best judged part is the answer when the next part's residual is this many
# times its own: polish and every_view then change nothing that matters (30 training-part
# queries of each kind: of the 77 that cleared 1.10 all 77 kept the right part first; the
# light answer was wrong in 6, all within 1.04). See docs/experiments.md, session 18.
SETTLED_MARGIN = 1.10
EVERY_VIEW_TOP = 15  # the best judged candidates that start again from every stored view
PRESCREEN_POINTS = 40  # query points that sort those starts before any step
PRESCREEN_KEEP = 24  # of those starts, the best that are screened (as SCREEN_POINTS) and fitted
FIT_TRIM = 0.8  # fraction of query points the careful fit counts (the rest: outliers, overhang)
UNREFINED_PENALTY = 1.0  # candidates not fitted carefully rank below every fitted one
UNITS_TOLERANCE = 0.1  # |log(fitted size / real size)| of the best part beyond which units look wrong
UNITS_MARGIN = 0.7  # any-scale matching wins when its best fit is this much tighter than the real-size one
# The best real-size fit looser than this many r_half makes any-scale matching run too. Measured
# on the first 16 held-out parts of the 1,000-part library (r_half 0.0251): exact full meshes fit
# at <= 0.030 (a pulley: 1.21 r_half), catalog-pose scans in inches read as mm at >= 0.041
# (1.64 r_half). 1.4 sits between them; 1.2 sent that pulley's own mesh through the rerun.
UNITS_LOOSE = 1.4
FIT_OPTIONS = {"trim": FIT_TRIM, "coverage_trim": COVERAGE_TRIM, "coverage_weight": COVERAGE_WEIGHT,
               "slide": FIT_SLIDE}

Map = Callable[[Callable, list], list]  # fn over items, results in order (the searcher's threads)


@dataclass
class QueryCloud:
    """The query as the stages see it: denoised points (n, 3) in its own coordinates (mm for a
    metric query), its PCA frames, and the subsamples the stages fit on."""

    points: np.ndarray
    frames: list
    metric: bool
    dense: np.ndarray = field(init=False)  # (VIEW_POINTS, 3), spread over the cloud
    dense_tree: NearestTree = field(init=False)
    _full_tree: NearestTree | None = field(default=None, init=False)
    _quick: np.ndarray | None = field(default=None, init=False)

    def __post_init__(self):
        self.dense = scan_views.subsample(self.points, scan_views.VIEW_POINTS)
        self.dense_tree = NearestTree(self.dense)

    @property
    def small(self) -> np.ndarray:
        """The screens' points, (SCREEN_POINTS, 3)."""
        return self.dense[:SCREEN_POINTS]

    @property
    def medium(self) -> np.ndarray:
        """The careful fits' points, (FIT_POINTS, 3)."""
        return self.dense[:FIT_POINTS]

    @property
    def full_tree(self) -> NearestTree:
        """The judge's points, up to JUDGE_POINTS of the cloud."""
        if self._full_tree is None:
            self._full_tree = NearestTree(scan_views.subsample(self.points, JUDGE_POINTS))
        return self._full_tree

    @property
    def quick(self) -> np.ndarray:
        """(JUDGE_QUICK_POINTS, 3) random points of the judge's, for its quick judgement."""
        if self._quick is None:
            self._quick = scan_views.subsample(self.full_tree.data, JUDGE_QUICK_POINTS, seed=1)
        return self._quick


@dataclass
class Fitting:
    """One candidate on its way through the stages."""

    candidate: Candidate
    result: Result
    part: PartSample
    cost: float = np.inf  # the latest screen's cost (screen, then closer_screen)
    kept: cf.Starts | None = None  # the screen's best starts
    start: cf.Starts | None = None  # the best screened start
    best: tuple[float, Registration] | None = None  # the best fit so far (cost, pose); set by careful_fit
    poses: list = field(default_factory=list)  # fitted poses to judge
    judged: int = 0  # how many of `poses` the judge has seen
    careful: list = field(default_factory=list)  # distinct careful fits (polish tries their depths)
    size_ratio: float = 1.0  # the judged pose's size / the part's real size

    @property
    def pn(self) -> str:
        return self.candidate.part_number

    @property
    def fitted(self) -> bool:
        return self.best is not None


def size_cost(scales: np.ndarray, c: Candidate, metric: bool) -> np.ndarray:
    """For a metric query: the cost of a fit away from the part's real size."""
    if not metric or not c.norm_scale:
        return np.zeros(len(scales))
    return SIZE_WEIGHT * np.abs(np.log(np.asarray(scales) * c.norm_scale))


def starts_for(c: Candidate, frames: list, part: PartSample, metric: bool, every_view: bool = False) -> cf.Starts:
    """Pose starts for one candidate: its matched views (or its whole PCA frame), and for a
    metric query the real size and the part's own coordinates. With `every_view`, every stored
    view of the part instead, each under the query's two axis orders (the four sign flips of
    each are the rest of query_frames)."""
    real = 1.0 / c.norm_scale if metric and c.norm_scale else None
    if every_view:
        pairs = [(frames[v], scan_views.frame_from_array(f)) for v in (0, 1) for f in c.view_frames]
    else:
        pairs = [(frames[v], scan_views.frame_from_array(f)) for v, f in c.seeds] or [(frames[0], part.frame)]
    out = []
    for fq, fv in pairs:
        base = fv.scale / fq.scale
        steps = [base] + ([real] if real else []) if metric else [base * m for m in SCALE_STEPS]
        out.append(cf.frame_pair_starts(fq, fv, steps, matched_axes=every_view or bool(c.seeds)))
    if real:
        out.append(cf.own_frame_start(c.norm_offset, c.norm_scale))
    return cf.Starts.concat(out)


def judged(query_tree: NearestTree, regs: list, f: Fitting, metric: bool,
           scan_points: np.ndarray | None = None) -> np.ndarray:
    """Each pose judged on the points in query_tree (candidate_fit.judge; the scan-to-part term on
    `scan_points` only, when given), plus its size cost."""
    tree, normals = f.part.tree, f.part.normals
    return np.array([cf.judge(query_tree, g, tree, normals, scan_points=scan_points) for g in regs]) + size_cost(
        np.array([g.scale for g in regs]), f.candidate, metric)


def _by_residual(fittings: list[Fitting]) -> None:
    fittings.sort(key=lambda f: f.result.residual)


def _keep(f: Fitting, regs: list, costs: np.ndarray, metric: bool) -> None:
    """Fitted poses of a candidate: its best JUDGE_POSES go to the judge; the best so far is its
    residual until the judge has judged any (the judge's residual ranks the answer)."""
    costs = costs + size_cost(np.array([g.scale for g in regs]), f.candidate, metric)
    order = np.argsort(costs)
    f.poses.extend(regs[h] for h in order[:JUDGE_POSES])
    if f.best is None or costs[order[0]] < f.best[0]:
        f.best = (float(costs[order[0]]), regs[order[0]])
    if not f.judged:
        f.result.residual = f.best[0]


def _adopt(f: Fitting, reg: Registration, cost: float, q: QueryCloud) -> None:
    """A candidate's judged pose becomes its answer: cost, the query placed on it, its size."""
    c = f.candidate
    f.result.residual, f.result.fitted_query = float(cost), reg.apply(q.dense)
    f.size_ratio = reg.scale * c.norm_scale if c.norm_scale else 1.0


def screen(q: QueryCloud, fittings: list[Fitting], map_: Map) -> list[Fitting]:
    """Every pose start of every candidate, a few ICP steps on few points; the candidates by
    their best screened pose's cost (fit plus coverage), best first."""

    def one(f: Fitting):
        tree, normals = f.part.tree, f.part.normals
        kept, _ = cf.screen(q.small, tree, normals, starts_for(f.candidate, q.frames, f.part, q.metric),
                            iterations=SCREEN_ITERATIONS, keep=SCREEN_KEEP, exact=not SCREEN_LOOK_UP)
        _, r = cf.fit(q.small, q.dense_tree, tree, normals, kept, iterations=0, part_points=SCREEN_PART_POINTS,
                      **FIT_OPTIONS)
        r = r + size_cost(kept.scales, f.candidate, q.metric)
        return float(np.min(r)), kept, kept.take([int(np.argmin(r))])

    for f, (cost, kept, start) in zip(fittings, map_(one, fittings)):
        f.cost, f.kept, f.start = cost, kept, start
    return sorted(fittings, key=lambda f: f.cost)


def closer_screen(q: QueryCloud, screened: list[Fitting], map_: Map) -> list[Fitting]:
    """The SCREEN2_TOP best screened take a few fit steps both ways and are judged on the
    query's dense points; they are ordered by that, ahead of the rest."""

    def one(f: Fitting) -> float:
        tree, normals = f.part.tree, f.part.normals
        regs, r = cf.fit(q.small, q.dense_tree, tree, normals, f.kept, iterations=SCREEN2_ITERATIONS,
                         part_points=SCREEN_PART_POINTS, **FIT_OPTIONS)
        return float(judged(q.dense_tree, [regs[h] for h in np.argsort(r)[:2]], f, q.metric).min())

    top = screened[:SCREEN2_TOP]
    for f, cost in zip(top, map_(one, top)):
        f.cost = cost
    return sorted(top, key=lambda f: f.cost) + screened[SCREEN2_TOP:]


def careful_fit(q: QueryCloud, screened: list[Fitting], first: set, n: int, map_: Map) -> None:
    """The n best screened, and those of `first` (the k-NN lists' first part numbers) whatever
    their screen, are fitted carefully; the rest rank below every fitted one."""
    chosen = screened[:n] + [f for f in screened[n:] if f.pn in first]
    for f in screened[n:]:
        if f.pn not in first:
            f.result.residual = f.cost + UNREFINED_PENALTY

    def one(f: Fitting):
        tree, normals = f.part.tree, f.part.normals
        regs, r = cf.fit(q.medium, q.dense_tree, tree, normals, f.kept, iterations=FIT_ITERATIONS,
                         part_points=FIT_PART_POINTS, **FIT_OPTIONS)
        return regs, r, cf.distinct(regs, r, q.small, POLISH_DEPTH_POSES)

    for f, (regs, r, fits) in zip(chosen, map_(one, chosen)):
        _keep(f, regs, r, q.metric)
        f.careful = fits
        # The best screened pose, and for a metric query the part's own coordinates, are judged
        # as they are too: a fit can drift from a right start where the few points it sees are
        # ambiguous (a plate seen nearly edge-on).
        c = f.candidate
        starts = cf.Starts.concat([f.start] + ([cf.own_frame_start(c.norm_offset, c.norm_scale)]
                                               if q.metric and c.norm_scale else []))
        f.poses += starts.registrations()


def polish(q: QueryCloud, ranked: list[Fitting], map_: Map) -> None:
    """The POLISH_TOP best fitted start again: their best fit turned about the scanner's axis
    (and over), each distinct careful fit moved along that axis, the best fit flipped about the
    part's axes; a few steps on few points pick which go on to a full fit."""

    def one(f: Fitting):
        tree, normals = f.part.tree, f.part.normals
        best = f.best[1]
        # The turns of the best fit run a few steps on fewer points; the best two go on with all.
        starts = cf.turned_starts(best, q.medium, tree, normals, POLISH_TURNS)
        regs, r = cf.fit(q.small, q.dense_tree, tree, normals, starts, iterations=POLISH_SCREEN_ITERATIONS,
                         part_points=SCREEN_PART_POINTS, **FIT_OPTIONS)
        going_on = [regs[h] for h in np.argsort(r)[:2]]
        # So do the depths of each distinct careful fit (the right one need not be the best
        # fitted: a turned-over plate can fit its few points better); the best of each goes on.
        starts = cf.Starts.concat([cf.depth_starts(g, q.medium, tree, normals, POLISH_DEPTHS) for g in f.careful])
        regs, r = cf.fit(q.small, q.dense_tree, tree, normals, starts, iterations=POLISH_SCREEN_ITERATIONS,
                         part_points=SCREEN_PART_POINTS, **FIT_OPTIONS)
        per = len(r) // len(f.careful)
        going_on += [regs[h] for h in np.arange(len(f.careful)) * per + r.reshape(len(f.careful), per).argmin(1)]
        # The best fit turned end for end and face for face about the part's axes (a nearly
        # symmetric part settles turned over) goes on as it is: after a few steps on few points
        # the right turn need not look best yet.
        going_on += cf.flipped_starts(best, f.part.frame).registrations()
        return cf.fit(q.medium, q.dense_tree, tree, normals, cf.Starts.of(going_on), iterations=POLISH_ITERATIONS,
                      part_points=FIT_PART_POINTS, **FIT_OPTIONS)

    # By their fits' own cost (the judge's, if it ran, ranks the answer, not what to polish).
    top = sorted((f for f in ranked if f.fitted), key=lambda f: f.best[0])[:POLISH_TOP]
    for f, (regs, r) in zip(top, map_(one, top)):
        _keep(f, regs, r, q.metric)


def judge(q: QueryCloud, ranked: list[Fitting], map_: Map) -> None:
    """The fits judged on few points so that they could try many poses; each fitted candidate's
    poses not judged before are judged here (candidate_fit.judge), and the best judged so far is
    its answer. Every pose is judged quickly first (the scan-to-part term on JUDGE_QUICK_POINTS);
    only those within JUDGE_AGAIN times the best judged so far are judged on all points. A quick
    judgement is 0.93-1.05 times the full one (docs/geometric-search.md), so the others could
    not come first."""
    fitted = [f for f in ranked if f.fitted and len(f.poses) > f.judged]
    if not fitted:
        return
    quick = None if np.isinf(JUDGE_AGAIN) else q.quick  # inf: every pose in full (bench_query_latency's baseline)
    judgements = map_(lambda f: judged(q.full_tree, f.poses[f.judged:], f, q.metric, quick), fitted)
    if quick is not None:
        best = min([float(c.min()) for c in judgements] + [f.result.residual for f in ranked if f.judged])
        again = [(f, c, np.flatnonzero(c <= JUDGE_AGAIN * best)) for f, c in zip(fitted, judgements)]
        again = [a for a in again if len(a[2])]

        def in_full(a) -> np.ndarray:
            f, _, h = a
            return judged(q.full_tree, [f.poses[f.judged + i] for i in h], f, q.metric)

        for (_, c, h), full in zip(again, map_(in_full, again)):
            c[h] = full
    for f, costs in zip(fitted, judgements):
        h = int(np.argmin(costs))
        if f.judged == 0 or costs[h] < f.result.residual:
            _adopt(f, f.poses[f.judged + h], costs[h], q)
        f.judged = len(f.poses)


def settled(ranked: list[Fitting]) -> bool:
    """Whether the best judged candidate is clearly the answer: the next fitted one's residual is
    at least SETTLED_MARGIN times its own. A lone candidate is never settled: nothing says its
    fit is as good as it gets."""
    fitted = [f.result.residual for f in ranked if f.fitted][:2]
    return len(fitted) == 2 and fitted[1] >= SETTLED_MARGIN * fitted[0]


def every_view(q: QueryCloud, ranked: list[Fitting], map_: Map) -> None:
    """The EVERY_VIEW_TOP best judged fit again from every stored view of the part, not only
    from those whose descriptors matched best: on the hard one-view scans (a hinge leaf or a
    profile seen obliquely) the views nearest the true direction ranked anywhere from 10th to
    45th of 48 by descriptor. The starts are sorted by where they leave the scan before any step
    (cheap); the best few are screened and fitted, and the best fits go to the judge (a better
    judgement replaces the candidate's answer)."""

    def one(f: Fitting):
        tree, normals = f.part.tree, f.part.normals
        starts = starts_for(f.candidate, q.frames, f.part, q.metric, every_view=True)
        starts, _ = cf.screen(q.dense[:PRESCREEN_POINTS], tree, normals, starts, iterations=0, keep=PRESCREEN_KEEP,
                              exact=not SCREEN_LOOK_UP)
        kept, _ = cf.screen(q.small, tree, normals, starts, keep=SCREEN_KEEP, exact=not SCREEN_LOOK_UP)
        regs, r = cf.fit(q.medium, q.dense_tree, tree, normals, kept, iterations=FIT_ITERATIONS,
                         part_points=FIT_PART_POINTS, **FIT_OPTIONS)
        return [regs[h] for h in np.argsort(r + size_cost(kept.scales, f.candidate, q.metric))[:JUDGE_POSES]]

    top = [f for f in ranked[:EVERY_VIEW_TOP] if f.fitted and f.candidate.view_frames]
    for f, regs in zip(top, map_(one, top)):
        f.poses += regs


def units_look_wrong(best: Fitting, cal: dict) -> bool:
    """A metric query whose best part does not fit at its real size, or only loosely: its units
    may not be millimetres, so shapes are matched at any scale too."""
    return abs(np.log(best.size_ratio)) > UNITS_TOLERANCE or best.result.residual > UNITS_LOOSE * cal["r_half"]


def fitted_order(q: QueryCloud, candidates: list[Candidate], part: Callable[[Candidate], PartSample], n: int,
                 map_: Map) -> list[Fitting]:
    """All stages but the units check: the candidates, best fitted first."""
    fittings = [Fitting(c, Result(c.part_number, 0.0, c.name, c.family, c.material, c.mass_kg, None, c.distance),
                        sample) for c, sample in zip(candidates, map_(part, candidates))]
    screened = closer_screen(q, screen(q, fittings, map_), map_)
    careful_fit(q, screened, {c.part_number for c in candidates[:KNN_FIRST]}, n, map_)
    judge(q, fittings, map_)
    _by_residual(fittings)
    if settled(fittings):
        return fittings
    polish(q, fittings, map_)
    judge(q, fittings, map_)
    _by_residual(fittings)
    every_view(q, fittings, map_)
    judge(q, fittings, map_)
    _by_residual(fittings)
    return fittings


def run(points: np.ndarray, frames: list, candidates: list[Candidate], k: int, n: int, metric: bool,
        part: Callable[[Candidate], PartSample], map_: Map, cal: dict, label: str = "",
        timings: dict | None = None, started: float | None = None) -> SearchResult:
    """The k best of `candidates` for denoised query points (n_points, 3), with `n` carefully
    fitted; scores calibrated by `cal`, the re-rank's time (ms, from `started` if the caller's
    work began earlier) added to `timings`."""
    timings = dict(timings or {})
    started = time.perf_counter() if started is None else started
    fittings = fitted_order(QueryCloud(points, frames, metric), candidates, part, n, map_)
    warnings = []
    if metric and fittings and units_look_wrong(fittings[0], cal):
        real_size = fittings[0]
        free = fitted_order(QueryCloud(points, frames, False), candidates, part, n, map_)
        # If matching at any scale fits clearly better, the size prior would only favour parts
        # that happen to match the claimed size.
        if (abs(np.log(real_size.size_ratio)) > UNITS_TOLERANCE
                or free[0].result.residual < UNITS_MARGIN * real_size.result.residual):
            fittings = free
            warnings.append("the query fits no library part well at its stated size: shapes were "
                            "matched at any scale (check the query's units, --units)")
    results = [f.result for f in fittings]
    for r in results:
        r.score = score_from_residual(r.residual, cal)
    timings["rerank"] = 1000 * (time.perf_counter() - started)
    timings["total"] = sum(v for key, v in timings.items() if key != "total")
    return SearchResult(label, results[:k], timings, warnings)
