"""Compiled inner loops of the re-rank's fits (numba): visibility, the fit's cost and step, the
judge's matching and coverage.

candidate_fit states what is computed; these loops compute it for every pose start without
numpy's temporaries. Nearest-neighbour queries stay outside, in pykdtree (geometry.nearest): a
fit step is "transform, query the part's tree, choose matches and visibility, query the scan's
tree, cost and solve", two queries and three kernels. Every kernel releases the GIL, so the
searcher's two re-rank threads run them side by side.

Measured against the numpy code they replaced: docs/geometric-search.md and docs/experiments.md.
Lengths are in the candidate's canonical (unit-sphere) units throughout.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


@njit(**_OPTS)
def _basis(d):
    """Two unit vectors completing the unit view direction d (3,) to an orthonormal frame."""
    a = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, a)
    u /= np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2)
    return u, np.cross(d, u)


@njit(**_OPTS)
def visible(points, normals, views, resolution):
    """Mask (H, N) of the points (N, 3) with unit normals (N, 3) that orthographic scanners
    looking along each of views (H, 3) see: each sample a surfel over its own pixel and the eight
    around it, visible when its plane's depth at its pixel centre is the nearest there (within
    1.5 pixels) and it faces the scanner. See geometry.scan.visible."""
    H, N = views.shape[0], points.shape[0]
    side = resolution + 3
    mask = np.zeros((H, N), np.bool_)
    pu, pv, depth, nd = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
    gu, gv, own = np.empty(N), np.empty(N), np.empty(N)
    iu, iv = np.empty(N, np.int64), np.empty(N, np.int64)
    image = np.empty((side, side))
    for h in range(H):
        d = views[h] / np.sqrt(views[h, 0] ** 2 + views[h, 1] ** 2 + views[h, 2] ** 2)
        u, v = _basis(d)
        lo_u = lo_v = np.inf
        hi_u = hi_v = -np.inf
        for i in range(N):
            p = points[i]
            pu[i] = p[0] * u[0] + p[1] * u[1] + p[2] * u[2]
            pv[i] = p[0] * v[0] + p[1] * v[1] + p[2] * v[2]
            depth[i] = p[0] * d[0] + p[1] * d[1] + p[2] * d[2]
            lo_u, hi_u = min(lo_u, pu[i]), max(hi_u, pu[i])
            lo_v, hi_v = min(lo_v, pv[i]), max(hi_v, pv[i])
        pix = max(max(hi_u - lo_u, hi_v - lo_v), 1e-12) / resolution
        image[:, :] = np.inf
        for i in range(N):
            n = normals[i]
            nd[i] = n[0] * d[0] + n[1] * d[1] + n[2] * d[2]
            fu, fv = (pu[i] - lo_u) / pix, (pv[i] - lo_v) / pix
            iu[i], iv[i] = min(int(fu), resolution), min(int(fv), resolution)
            # Depth gradient (per pixel) of the sample's tangent plane, limited at grazing angles.
            ndc = nd[i] if abs(nd[i]) >= 0.15 else (-0.15 if nd[i] < 0 else 0.15)
            slope = pix / ndc
            gu[i] = -(n[0] * u[0] + n[1] * u[1] + n[2] * u[2]) * slope
            gv[i] = -(n[0] * v[0] + n[1] * v[1] + n[2] * v[2]) * slope
            own[i] = depth[i] + gu[i] * (iu[i] + 0.5 - fu) + gv[i] * (iv[i] + 0.5 - fv)
            for du in range(-1, 2):
                for dv in range(-1, 2):
                    z = own[i] + max(gu[i] * du + gv[i] * dv, -1.5 * pix)
                    a, b = iu[i] + 1 + du, iv[i] + 1 + dv
                    if z < image[a, b]:
                        image[a, b] = z
        for i in range(N):
            mask[h, i] = own[i] <= image[iu[i] + 1, iv[i] + 1] + 1.5 * pix and nd[i] < -0.02
    return mask


@njit(**_OPTS)
def transform(rot, trans, scales, x):
    """x (n, 3) under H similarity poses: scales[h] * x @ rot[h].T + trans[h] -> (H, n, 3)."""
    H, n = rot.shape[0], x.shape[0]
    out = np.empty((H, n, 3))
    for h in range(H):
        r, s, t = rot[h], scales[h], trans[h]
        for i in range(n):
            for a in range(3):
                out[h, i, a] = s * (r[a, 0] * x[i, 0] + r[a, 1] * x[i, 1] + r[a, 2] * x[i, 2]) + t[a]
    return out


@njit(**_OPTS)
def trimmed_mean(d, mask, trim):
    """Per row of d (H, n), the mean of the `trim` smallest fraction of the entries where mask
    (at least one; 0 where mask has none)."""
    H = d.shape[0]
    out = np.zeros(H)
    for h in range(H):
        vals = d[h][mask[h]]
        if len(vals) == 0:
            continue
        k = max(1, int(trim * len(vals)))
        out[h] = np.sort(vals)[:k].sum() / k
    return out


@njit(**_OPTS)
def fit_match(moved, dist, idx, part_points, part_normals, near, trim, sub_points, sub_normals, facing_cos,
              all_around, resolution):
    """The scan -> part half of a fit step for H poses: moved scan points (H, n, 3), the nearest
    part sample of each (dist, idx: (H, n)). Returns the signed point-to-plane distances (H, n),
    the per-point forward distance (plane within `near`, else the point distance) and its
    trimmed mean (H,), the scanner's direction per pose (H, 3, the part's normals' mean, so
    outward normals face it), which poses see all around (H,), and the visible facing part
    points of sub_points (H, m) the coverage counts."""
    H, n = dist.shape
    plane, fwd = np.empty((H, n)), np.empty((H, n))
    view = np.zeros((H, 3))
    around = np.zeros(H, np.bool_)
    for h in range(H):
        for i in range(n):
            j = idx[h, i]
            nn = part_normals[j]
            plane[h, i] = ((part_points[j, 0] - moved[h, i, 0]) * nn[0] + (part_points[j, 1] - moved[h, i, 1]) * nn[1]
                           + (part_points[j, 2] - moved[h, i, 2]) * nn[2])
            fwd[h, i] = abs(plane[h, i]) if dist[h, i] < near else dist[h, i]
            view[h] -= nn
        view[h] /= n
        length = np.sqrt(view[h, 0] ** 2 + view[h, 1] ** 2 + view[h, 2] ** 2)
        if not length >= all_around:  # NaN too
            around[h] = True
            view[h] = np.array([0.0, 0.0, 1.0])
    fwd_cost = trimmed_mean(fwd, np.ones((H, n), np.bool_), trim)
    seen = visible(sub_points, sub_normals, view, resolution)
    for h in range(H):
        if around[h]:
            seen[h, :] = True
            continue
        length = np.sqrt(view[h, 0] ** 2 + view[h, 1] ** 2 + view[h, 2] ** 2)
        for i in range(sub_points.shape[0]):
            nv = sub_normals[i, 0] * view[h, 0] + sub_normals[i, 1] * view[h, 1] + sub_normals[i, 2] * view[h, 2]
            seen[h, i] = seen[h, i] and nv < -facing_cos * length
    return plane, fwd, fwd_cost, seen


@njit(**_OPTS)
def to_query(points, rot, trans, scales):
    """Part points (m, 3) into each pose's scan coordinates: (points - trans[h]) @ rot[h] / scales[h]."""
    H, m = rot.shape[0], points.shape[0]
    out = np.empty((H, m, 3))
    for h in range(H):
        for i in range(m):
            p0, p1, p2 = points[i, 0] - trans[h, 0], points[i, 1] - trans[h, 1], points[i, 2] - trans[h, 2]
            for a in range(3):
                out[h, i, a] = (p0 * rot[h, 0, a] + p1 * rot[h, 1, a] + p2 * rot[h, 2, a]) / scales[h]
    return out


@njit(**_OPTS)
def _small_rotation(w):
    """Rotation matrix for the rotation vector w (3,) (Rodrigues)."""
    theta = np.sqrt(w[0] ** 2 + w[1] ** 2 + w[2] ** 2)
    k = w / max(theta, 1e-12)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


@njit(**_OPTS)
def _accumulate(ata, atb, row, rhs, w):
    """Adds the weighted pair `row` (k,) -> `rhs` to the normal equations ata (k, k), atb (k,)."""
    k = len(row)
    for a in range(k):
        atb[a] += w * row[a] * rhs
        for b in range(k):
            ata[a, b] += w * row[a] * row[b]


@njit(**_OPTS)
def _damped_solve(ata, atb):
    """The normal equations' solution, damped relative to the system's size (a planar patch
    leaves in-plane motion free); entries that come out non-finite are 0. Damps ata in place."""
    k = len(atb)
    damp = 1e-6 * np.trace(ata) / k + 1e-12
    for a in range(k):
        ata[a, a] += damp
    delta = np.linalg.solve(ata, atb)
    for a in range(k):
        if not np.isfinite(delta[a]):
            delta[a] = 0.0
    return delta


@njit(**_OPTS)
def fit_step(moved, plane, fwd, part_normals, idx, seen, bd, bj, query_points, sub_points, sub_normals,
             rot, trans, scales, coverage_weight, robust, cap, relax, slide):
    """One similarity step both ways for H poses (candidate_fit.fit states the system): the
    scan onto the part point-to-plane, the part's visible side onto the scan (point-to-plane
    within `slide`, point-to-point beyond), L1-like weights, over-relaxed by `relax`. bd, bj:
    each sub point's distance (part units) and nearest query point. Updates rot, trans, scales
    in place."""
    H, n = plane.shape
    m = sub_points.shape[0]
    for h in range(H):
        ata = np.zeros((7, 7))
        atb = np.zeros(7)
        c = np.zeros(3)
        for i in range(n):
            c += moved[h, i]
        c /= n
        wsum = 0.0
        for i in range(n):
            if fwd[h, i] < cap:
                wsum += 1.0 / max(fwd[h, i], robust)
        wsum = max(wsum, 1e-12)
        row = np.empty(7)
        for i in range(n):
            if not fwd[h, i] < cap:
                continue
            w = 1.0 / max(fwd[h, i], robust) / wsum
            nn = part_normals[idx[h, i]]
            u = moved[h, i] - c
            row[0], row[1] = u[1] * nn[2] - u[2] * nn[1], u[2] * nn[0] - u[0] * nn[2]
            row[2] = u[0] * nn[1] - u[1] * nn[0]
            row[3] = u[0] * nn[0] + u[1] * nn[1] + u[2] * nn[2]
            row[4], row[5], row[6] = nn[0], nn[1], nn[2]
            _accumulate(ata, atb, row, plane[h, i], w)
        # The part's visible side onto the scan.
        w2sum = 0.0
        for i in range(m):
            if seen[h, i] and bd[h, i] < cap:
                w2sum += 1.0 / max(bd[h, i], robust)
        w2sum = max(w2sum, 1e-12)
        r, s, t = rot[h], scales[h], trans[h]
        mq, ub, r2 = np.empty(3), np.empty(3), np.empty(3)
        a2 = np.zeros((3, 7))
        for i in range(m):
            if not (seen[h, i] and bd[h, i] < cap):
                continue
            w = coverage_weight / max(bd[h, i], robust) / w2sum
            q = query_points[bj[h, i]]
            for a in range(3):
                mq[a] = s * (r[a, 0] * q[0] + r[a, 1] * q[1] + r[a, 2] * q[2]) + t[a]
                ub[a] = mq[a] - c[a]
                r2[a] = sub_points[i, a] - mq[a]
            # Rows x, y, z: d/d(rotation) = ub x e_k, d/d(log scale) = ub_k, d/d(translation) = e_k.
            a2[:, :] = 0.0
            a2[0, 1], a2[0, 2] = ub[2], -ub[1]
            a2[1, 0], a2[1, 2] = -ub[2], ub[0]
            a2[2, 0], a2[2, 1] = ub[1], -ub[0]
            for k in range(3):
                a2[k, 3] = ub[k]
                a2[k, 4 + k] = 1.0
            if slide > 0 and bd[h, i] < slide:
                # A pair the scan explains locally constrains only along the part's normal.
                ns = sub_normals[i]
                for a in range(7):
                    row[a] = a2[0, a] * ns[0] + a2[1, a] * ns[1] + a2[2, a] * ns[2]
                _accumulate(ata, atb, row, r2[0] * ns[0] + r2[1] * ns[1] + r2[2] * ns[2], w)
            else:
                for k in range(3):
                    _accumulate(ata, atb, a2[k], r2[k], w)
        delta = relax * _damped_solve(ata, atb)
        dr = _small_rotation(delta[:3])
        es = np.exp(min(max(delta[3], -0.2), 0.2))
        rot[h] = dr @ rot[h]
        scales[h] *= es
        trans[h] = es * (dr @ (trans[h] - c)) + c + delta[4:]


@njit(**_OPTS)
def choose_matches(x, dist, idx, part_points, part_normals, near, all_around):
    """For scan points x (n, 3) placed on a part, with the k nearest part samples of each (dist,
    idx: (n, k)): the sample each point is matched to, as its distance, index and the signed
    distance along its normal to its tangent plane ((n,) each; candidate_fit.match states the
    rule: the nearest tangent plane among the near samples facing the scanner)."""
    n, k = dist.shape
    signed = np.empty((n, k))
    for i in range(n):
        for j in range(k):
            p, nn = part_points[idx[i, j]], part_normals[idx[i, j]]
            signed[i, j] = (p[0] - x[i, 0]) * nn[0] + (p[1] - x[i, 1]) * nn[1] + (p[2] - x[i, 2]) * nn[2]
    # The scanner's direction: against the mean normal of each point's nearest near plane.
    view = np.zeros(3)
    for i in range(n):
        best, pick = np.inf, 0
        for j in range(k):
            if dist[i, j] < near and abs(signed[i, j]) < best:
                best, pick = abs(signed[i, j]), j
        view -= part_normals[idx[i, pick]]
    view /= n
    everywhere = not np.sqrt(view[0] ** 2 + view[1] ** 2 + view[2] ** 2) >= all_around
    out_d, out_i, out_s = np.empty(n), np.empty(n, np.int64), np.empty(n)
    for i in range(n):
        best, pick = np.inf, 0
        for j in range(k):
            nn = part_normals[idx[i, j]]
            facing = everywhere or nn[0] * view[0] + nn[1] * view[1] + nn[2] * view[2] < 0
            if dist[i, j] < near and facing and abs(signed[i, j]) < best:
                best, pick = abs(signed[i, j]), j
        out_d[i], out_i[i], out_s[i] = dist[i, pick], idx[i, pick], signed[i, pick]
    return out_d, out_i, out_s


@njit(**_OPTS)
def icp_plane(moved, dist, idx, dst, dst_normals, keep, near, rot, trans, step):
    """Trimmed point-to-plane ICP for H poses (normalize.icp states it): moved source points
    (H, n, 3) with the nearest destination sample of each (dist, idx: (H, n)). Returns each
    pose's residual, the mean of its `keep` smallest distances (to the sample's plane within
    `near`, else to the sample); with `step`, also moves rot (H, 3, 3) and trans (H, 3) in place
    by one linearised step over those pairs (scale fixed)."""
    H, n = dist.shape
    res = np.empty(H)
    d = np.empty(n)
    a = np.empty(6)
    for h in range(H):
        for i in range(n):
            j = idx[h, i]
            if dist[h, i] < near:
                nn = dst_normals[j]
                d[i] = abs((moved[h, i, 0] - dst[j, 0]) * nn[0] + (moved[h, i, 1] - dst[j, 1]) * nn[1]
                           + (moved[h, i, 2] - dst[j, 2]) * nn[2])
            else:
                d[i] = dist[h, i]
        sel = np.argsort(d)[:keep]
        res[h] = d[sel].sum() / keep
        if not step:
            continue
        ata = np.zeros((6, 6))
        atb = np.zeros(6)
        for i in sel:
            j = idx[h, i]
            x, p, nn = moved[h, i], dst[j], dst_normals[j]
            a[0], a[1], a[2] = x[1] * nn[2] - x[2] * nn[1], x[2] * nn[0] - x[0] * nn[2], x[0] * nn[1] - x[1] * nn[0]
            a[3], a[4], a[5] = nn[0], nn[1], nn[2]
            _accumulate(ata, atb, a, (p[0] - x[0]) * nn[0] + (p[1] - x[1]) * nn[1] + (p[2] - x[2]) * nn[2], 1.0)
        delta = _damped_solve(ata, atb)
        dr = _small_rotation(delta[:3])
        rot[h] = dr @ rot[h]
        trans[h] = dr @ trans[h] + delta[3:]
    return res


def warm() -> None:
    """Compile (or load from numba's cache) every kernel with the argument types the re-rank
    passes, by fitting and judging a small cube. The first compilation takes ~15 s on 2 cores;
    the installer and the searcher's threads call this so that no query waits for it."""
    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry.nearest import NearestTree

    rng = np.random.default_rng(0)
    p = rng.uniform(-0.5, 0.5, (400, 3))
    axis = np.argmax(np.abs(p), 1)
    p[np.arange(400), axis] = 0.5 * np.sign(p[np.arange(400), axis])
    normals = np.zeros((400, 3))
    normals[np.arange(400), axis] = np.sign(p[np.arange(400), axis])
    tree, query_tree = NearestTree(p), NearestTree(p[:200])
    starts = cf.Starts(np.eye(3)[None], np.zeros((1, 3)), np.ones(1))
    kept, _ = cf.screen(p[:50], tree, normals, starts, keep=1)
    regs, _ = cf.fit(p[:50], query_tree, tree, normals, kept, iterations=1, part_points=100)
    cf.judge(query_tree, regs[0], tree, normals)
