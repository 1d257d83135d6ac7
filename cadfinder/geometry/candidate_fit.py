"""How well a query scan fits one candidate part: pose starts, a cheap screen, a careful fit.

A candidate comes with pose starts: from the best-matching simulated views of the part (query
PCA frame -> view PCA frame under the four axis sign flips, at the scale ratio of the two
partial clouds), from the whole part's PCA frame (all 24 axis permutations and signs), or "the
query is already in the part's own coordinates". All starts of a candidate run together through a few steps of
point-to-plane ICP on a small subsample (`screen`); the best few go on with more points and
more steps, and are judged by their fit plus how much of the part's side facing the scanner
the scan leaves unexplained (`refine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from cadfinder.geometry.normalize import Frame, Registration, icp, octahedral_rotations

_OCTAHEDRAL = np.array(octahedral_rotations())
FACING = 0.5  # coverage counts part surfaces within 60 degrees of facing the scanner
ALL_AROUND = 0.25  # mean normal length below which a scan is taken to see the part from all sides
# The proper axis sign flips: enough when the frames' axes already correspond (a matched view).
_FLIPS = np.array([np.diag([a, b, a * b]).astype(float) for a in (1, -1) for b in (1, -1)])


@dataclass
class Starts:
    """H pose hypotheses: part ~ scales[h] * query @ rot[h].T + trans[h] (canonical part frame)."""

    rot: np.ndarray
    trans: np.ndarray
    scales: np.ndarray

    @staticmethod
    def concat(items: list["Starts"]) -> "Starts":
        return Starts(np.concatenate([s.rot for s in items]), np.concatenate([s.trans for s in items]),
                      np.concatenate([s.scales for s in items]))

    def take(self, idx) -> "Starts":
        return Starts(self.rot[idx], self.trans[idx], self.scales[idx])


def frame_pair_starts(query_frame: Frame, part_frame: Frame, scales, matched_axes: bool = False) -> Starts:
    """Starts mapping the query frame onto a frame on the part, per scale: the 24 axis
    permutations and signs, or with `matched_axes` (a view that matched the query under this
    frame) only the four sign flips, which a nearly symmetric view leaves open."""
    rotations = _FLIPS if matched_axes else _OCTAHEDRAL
    rot = np.einsum("ij,hjk,lk->hil", part_frame.rotation, rotations, query_frame.rotation)
    out = []
    for s in scales:
        trans = part_frame.offset[None] - np.einsum("hij,j->hi", rot, query_frame.offset) * s
        out.append(Starts(rot, trans, np.full(len(rot), float(s))))
    return Starts.concat(out)


def own_frame_start(norm_offset, norm_scale: float) -> Starts:
    """The query in the part's own millimetre coordinates (an exported STL, a registered scan)."""
    s = 1.0 / norm_scale
    return Starts(np.eye(3)[None], -np.asarray(norm_offset, float)[None] * s, np.array([s]))


def screen(query: np.ndarray, tree: cKDTree, normals: np.ndarray, starts: Starts, iterations: int = 3,
           keep: int = 4) -> tuple[Starts, np.ndarray]:
    """A few ICP steps for every start; the `keep` best (by residual) and their residuals."""
    rot, trans, res = icp(query, starts.rot, starts.trans, starts.scales, tree, normals, iterations)
    top = np.argsort(res)[:keep]
    return Starts(rot[top], trans[top], starts.scales[top]), res[top]


def refine(query: np.ndarray, tree: cKDTree, normals: np.ndarray, starts: Starts,
           iterations: int = 8, trim: float = 0.8) -> tuple[list[Registration], np.ndarray]:
    """More ICP steps for a handful of starts: their registrations and residuals."""
    rot, trans, res = icp(query, starts.rot, starts.trans, starts.scales, tree, normals, iterations, trim)
    return [Registration(rot[h], float(starts.scales[h]), trans[h], float(res[h])) for h in range(len(rot))], res


def coverage_residual(reg: Registration, query_tree: cKDTree, tree: cKDTree, normals: np.ndarray,
                      trim: float = 0.8) -> float:
    """How much of the candidate that the scanner should have seen is missing from the scan.

    The view direction is opposite the mean of the candidate normals where the fitted scan lies
    (a scanner sees surfaces facing it); the candidate's points visible from there (z-buffer)
    and facing it should each have a scan point nearby. A wrong part
    that the scan only touches here and there leaves much of its visible side unexplained.
    Distances are in the part's canonical units; the query tree is in query units.
    """
    from cadfinder.geometry.scan import visible

    fitted = reg.apply(query_tree.data)
    _, idx = tree.query(fitted[:: max(1, len(fitted) // 500)])
    n = normals[idx]
    # The scanner looks against the mean normal of what it saw (measured on held-out catalog-pose
    # scans: 3-26 degrees from the true direction, where the dominant axis of the normals was
    # 13-48 degrees off and made the coverage of the right part 2-4x too large).
    view = -n.mean(0)
    norm = np.linalg.norm(view)
    if norm < ALL_AROUND:
        # Normals in every direction: a scan from all sides (or a complete mesh) should cover all.
        seen = np.ones(len(tree.data), dtype=bool)
    else:
        view /= norm
        # Only surfaces facing the scanner squarely: a small tilt of the fit moves surfaces seen at
        # a grazing angle in and out of view, and scanners return few points from them anyway.
        seen = visible(tree.data, normals, view, resolution=64) & (normals @ view < -FACING)
    if seen.sum() < 10:
        return 0.0
    # Part points into query coordinates, so the scan's tree is built once per query.
    back = ((tree.data[seen] - reg.translation) @ reg.rotation) / reg.scale
    d = query_tree.query(back)[0] * reg.scale
    k = max(1, int(trim * len(d)))
    return float(np.partition(d, k - 1)[:k].mean())


def refine_scale(query: np.ndarray, query_tree: cKDTree, tree: cKDTree, normals: np.ndarray,
                 fit: tuple[float, Registration], coverage_weight: float, steps=(0.9, 0.95, 1.05, 1.1),
                 iterations: int = 3, trim: float = 0.8) -> tuple[float, Registration]:
    """Try other scales around a fit whose scale was only estimated (a query of unknown units).

    ICP keeps the scale fixed, since a one-sided fit alone would always shrink the scan; judged
    by fit plus missing coverage, a too small scan pays for the part it leaves uncovered, so
    the scale that explains the scan and the part's visible side best can be chosen here.
    `fit` is the (judged cost, registration) to start from; returns the same for the best scale,
    the given one included (cost: residual + coverage_weight * coverage).
    """
    best = fit
    reg = fit[1]
    centre = reg.apply(query.mean(0))
    scales = reg.scale * np.asarray(steps, float)
    rot = np.repeat(reg.rotation[None], len(scales), 0)
    # Scale about the fitted query's centroid, so that the fit does not slide away.
    trans = centre[None] - np.einsum("hij,j->hi", rot, query.mean(0)) * scales[:, None]
    regs, _ = refine(query, tree, normals, Starts(rot, trans, scales), iterations, trim)
    for r in regs:
        c = r.residual + coverage_weight * coverage_residual(r, query_tree, tree, normals)
        if c < best[0]:
            best = (c, r)
    return best
