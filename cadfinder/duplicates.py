"""Duplicate analysis: the groups of near-identical parts in the whole library, and their kind.

A part's stored latent and surface sample keep the pose it was modelled in, so a copy of a part
turned on its side, or made in another size or as its mirror image, is far from it in latent
space. The analysis therefore works in two steps:

1. candidates: each part's nearest parts by shape signature (cadfinder.geometry.signature,
   unchanged by pose, size and mirroring), within SIGNATURE_RADIUS;
2. confirmation: each candidate pair is registered in any pose (and as a mirror image when the
   direct fit is not close) and kept when the mean distance between the exact surfaces is at
   most the threshold, in RMS radii of the parts (cadfinder.geometry.compare.match_surfaces).

Confirmed pairs are joined into groups (connected components). A pair's kind:
- "same": the same shape at the same size (within `size_tolerance`), in any pose;
- "scaled": the same shape at another size;
- "mirror": the mirror image (only for parts that are not their own mirror image).

The analysis is a pipeline (cadfinder.pipeline): the CLI runs it in the calling thread, the app
with the comparisons off the UI thread; it reports Progress as Partial answers and reads only,
so a designer can run it. Parts whose signature is missing (ingested before signatures existed,
and not yet through `cadfinder embed`) get one computed in memory.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from cadfinder.pipeline import Compute, Fetch, Partial, Pipeline

THRESHOLD = 0.003  # mean surface distance, RMS radii (docs/library-views.md: how it was chosen)
SIZE_TOLERANCE = 0.05  # RMS radii within 5% are the same size
NEIGHBOURS = 8  # signature neighbours compared per part
SIGNATURE_RADIUS = 0.15  # Hellinger distance; resampled copies measured up to 0.09
CHUNK = 24  # pairs compared per step (a progress update and a point to cancel between steps)
KINDS = ("same", "scaled", "mirror")


@dataclass
class Progress:
    """How far the analysis is: `done` of `total` in `stage`."""

    stage: str
    done: int
    total: int


@dataclass
class Pair:
    a: str  # part numbers
    b: str
    kind: str  # one of KINDS
    distance: float  # mean surface distance, RMS radii (the mirror image's for a "mirror" pair)
    size_ratio: float  # larger RMS radius over the smaller, mm


@dataclass
class Member:
    part_number: str
    revision: str
    name: str
    family: str | None
    material: str | None
    mass_kg: float | None
    size_mm: float | None  # the largest bounding-box side
    parameters: dict = field(default_factory=dict)  # genome parameter name -> value


@dataclass
class Group:
    members: list[Member]
    pairs: list[Pair]
    differing: dict = field(default_factory=dict)  # parameter -> values per member (None: absent)

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if any(p.kind == k for p in self.pairs)]


@dataclass
class Analysis:
    groups: list[Group]
    parts: int  # parts analysed
    candidates: int  # pairs compared
    threshold: float
    seconds: float
    timings_ms: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # parts that could not be compared, and why

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "parts": self.parts, "candidates": self.candidates,
                "seconds": round(self.seconds, 2), "errors": self.errors, "groups": [
                    {"kinds": g.kinds, "members": [asdict(m) for m in g.members],
                     "pairs": [asdict(p) for p in g.pairs], "differing": g.differing} for g in self.groups]}


def candidate_pairs(signatures: np.ndarray, neighbours: int = NEIGHBOURS, radius: float = SIGNATURE_RADIUS
                    ) -> np.ndarray:
    """(P, 2) index pairs i < j where j is among i's `neighbours` nearest signatures (or i among
    j's) within `radius`. signatures: (N, D) float. Exact, blockwise matrix products: O(N^2 D)
    time, blocks of at most ~200 MB."""
    s = np.asarray(signatures, dtype=np.float32)
    n = len(s)
    block = max(64, 50_000_000 // max(n, 1))
    k = min(neighbours, n - 1)
    if k <= 0:
        return np.zeros((0, 2), np.int64)
    sq = (s**2).sum(axis=1)
    out = []
    for start in range(0, n, block):
        d2 = sq[start:start + block, None] + sq[None] - 2 * (s[start:start + block] @ s.T)
        rows = np.arange(start, min(start + block, n))
        d2[np.arange(len(rows)), rows] = np.inf
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        close = np.take_along_axis(d2, nearest, 1) <= radius**2
        out.append(np.stack([np.repeat(rows, k)[close.ravel()], nearest.ravel()[close.ravel()]], 1))
    pairs = np.sort(np.concatenate(out), axis=1)
    return np.unique(pairs, axis=0)


def _signatures(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(B, DIMENSIONS) signatures of stored surface samples and a (B,) mask of those that could
    be read (the others are zeros)."""
    from cadfinder.geometry.sdf import area_weighted_half
    from cadfinder.geometry.signature import DIMENSIONS, signature
    from cadfinder.stored import unpack_surface

    out, ok = np.zeros((len(blobs), DIMENSIONS), np.float32), np.zeros(len(blobs), bool)
    for k, b in enumerate(blobs):
        try:
            out[k], ok[k] = signature(*area_weighted_half(*unpack_surface(b))), True
        except ValueError:
            pass
    return out, ok


def compare_pairs(pairs: list[tuple[int, int]], shapes: dict, threshold: float,
                  size_tolerance: float) -> list[tuple[int, int, str, float, float] | None]:
    """Confirm candidate pairs: (i, j, kind, distance, size_ratio) or None for each.

    shapes: index -> geometry.compare.Shape.
    """
    from cadfinder.geometry.compare import match_surfaces

    out = []
    own_mirror: dict[int, bool] = {}
    for i, j in pairs:
        m = match_surfaces(shapes[i], shapes[j], mirror_below=threshold)
        ratio_scaled = m.size_ratio > 1 + size_tolerance
        if m.distance <= threshold:
            out.append((i, j, "scaled" if ratio_scaled else "same", m.distance, m.size_ratio))
        elif m.mirrored_distance <= threshold:
            if i not in own_mirror:  # a part that is its own mirror image: the direct fit just missed
                own_mirror[i] = match_surfaces(shapes[i], shapes[i], mirror_below=0.0).mirrored_distance <= threshold
            kind = ("scaled" if ratio_scaled else "same") if own_mirror[i] else "mirror"
            out.append((i, j, kind, m.mirrored_distance, m.size_ratio))
        else:
            out.append(None)
    return out


def components(n: int, confirmed: list[tuple]) -> list[list[int]]:
    """The groups (connected components, each sorted) of the indices below n that the pairs
    (i, j, ...) join; indices in no pair are left out."""
    parent = list(range(n))

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, *_ in confirmed:
        parent[root(i)] = root(j)
    comps: dict[int, list[int]] = {}
    for i in sorted({x for c in confirmed for x in c[:2]}):
        comps.setdefault(root(i), []).append(i)
    return list(comps.values())


def _differing(members: list[Member]) -> dict:
    names = sorted({k for m in members for k in m.parameters})
    out = {}
    for k in names:
        values = [m.parameters.get(k) for m in members]
        if len({repr(v) for v in values}) > 1:
            out[k] = values
    for attr in ("material",):
        values = [getattr(m, attr) for m in members]
        if len(set(values)) > 1:
            out[attr] = values
    return out


def _shapes(rows) -> tuple[dict, list[str]]:
    """index -> Shape from (index, part number, surface sample, mesh bytes, mesh format,
    norm_offset, norm_scale) rows: the stored sample and the exact mesh, both in the part's
    canonical frame. A part whose stored geometry cannot be read is left out, with a message."""
    from cadfinder.geometry.compare import Shape
    from cadfinder.geometry.sdf import area_weighted_half
    from cadfinder.stored import canonical_mesh, unpack_surface

    out, errors = {}, []
    for idx, pn, blob, mesh, fmt, offset, scale in rows:
        try:
            p, n = area_weighted_half(*unpack_surface(blob))
            out[idx] = Shape.of(p, n, canonical_mesh(mesh, fmt, offset, scale), float(scale or 1.0))
        except Exception as e:  # one damaged row must not stop the analysis of the rest
            errors.append(f"{pn}: stored geometry unreadable ({type(e).__name__}: {e})")
    return out, errors


def analyse(threshold: float = THRESHOLD, size_tolerance: float = SIZE_TOLERANCE, neighbours: int = NEIGHBOURS,
            filters: list | None = None) -> Pipeline:
    """The duplicate analysis of the library (or of the parts whitelisted `filters` keep): an Analysis.

    Yields Progress (as Partial answers) after each step of comparisons.
    """
    from psycopg import sql

    from cadfinder.filters import to_sql
    from cadfinder.geometry.signature import DIMENSIONS, VERSION

    started = time.perf_counter()
    cond, params = to_sql(filters or [])
    rows = yield Fetch(sql.SQL("SELECT id, part_number, shape_signature, signature_version FROM cad_models "
                               "WHERE surface_sample IS NOT NULL AND mesh_data IS NOT NULL AND ({}) "
                               "ORDER BY part_number, revision").format(cond), params)
    ids = [r[0] for r in rows]
    numbers = [r[1] for r in rows]
    sigs = np.zeros((len(rows), DIMENSIONS), np.float32)
    unreadable: set[int] = set()
    missing = []
    for k, r in enumerate(rows):
        if r[2] is not None and r[3] == VERSION:
            sigs[k] = r[2].to_numpy()
        else:
            missing.append(k)
    for start in range(0, len(missing), 256):
        chunk = missing[start:start + 256]
        blobs = yield Fetch("SELECT id, surface_sample FROM cad_models WHERE id = ANY(%s)", ([ids[k] for k in chunk],))
        by_id = {r[0]: bytes(r[1]) for r in blobs}
        sigs[chunk], ok = yield Compute(_signatures, ([by_id[ids[k]] for k in chunk],), "signatures")
        unreadable |= {k for k, good in zip(chunk, ok) if not good}
        yield Partial(Progress("signatures", start + len(chunk), len(missing)))
    pairs = yield Compute(candidate_pairs, (sigs, neighbours), "candidates")
    # revisions of one part are not copies of it
    pairs = [(int(i), int(j)) for i, j in pairs if numbers[i] != numbers[j] and not {i, j} & unreadable]
    confirmed, errors = [], [f"{numbers[k]}: stored surface sample unreadable" for k in sorted(unreadable)]
    yield Partial(Progress("comparing", 0, len(pairs)))
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start:start + CHUNK]
        need = sorted({x for p in chunk for x in p})
        got = yield Fetch("SELECT id, part_number, surface_sample, mesh_data, mesh_format, norm_offset, norm_scale "
                          "FROM cad_models WHERE id = ANY(%s)", ([ids[k] for k in need],))
        index = {ids[k]: k for k in need}
        shapes, bad = yield Compute(_shapes, ([(index[r[0]], r[1], bytes(r[2]), bytes(r[3]), *r[4:]) for r in got],),
                                    "shapes")
        errors += [e for e in bad if e not in errors]
        chunk = [(i, j) for i, j in chunk if i in shapes and j in shapes]
        found = yield Compute(compare_pairs, (chunk, shapes, threshold, size_tolerance), "comparing")
        confirmed += [c for c in found if c is not None]
        yield Partial(Progress("comparing", min(start + CHUNK, len(pairs)), len(pairs)))
    comps = components(len(ids), confirmed)
    members: dict[int, Member] = {}
    if comps:
        need = [ids[k] for c in comps for k in c]
        info = yield Fetch("SELECT id, part_number, revision, name, family, material, mass_kg, "
                           "greatest(size_x_mm, size_y_mm, size_z_mm), genome->'parameters' FROM cad_models "
                           "WHERE id = ANY(%s)", (need,))
        index = {v: k for k, v in enumerate(ids)}
        for r in info:
            params = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in (r[8] or {}).items()}
            members[index[r[0]]] = Member(r[1], r[2], r[3], r[4], r[5], r[6], r[7], params)
    groups = []
    for comp in comps:
        inside = set(comp)
        ms = [members[k] for k in comp]
        gp = [Pair(numbers[i], numbers[j], kind, round(d, 5), round(ratio, 4))
              for i, j, kind, d, ratio in confirmed if i in inside]
        groups.append(Group(ms, sorted(gp, key=lambda p: p.distance), _differing(ms)))
    groups.sort(key=lambda g: (-len(g.members), min(p.distance for p in g.pairs)))
    return Analysis(groups, len(ids), len(pairs), threshold, time.perf_counter() - started, errors=errors)


def look_alikes(conn, part_numbers: list[str], threshold: float, size_tolerance: float = SIZE_TOLERANCE,
                neighbours: int = NEIGHBOURS) -> dict[str, list[tuple[str, str]]]:
    """The library parts each given part cannot be told from up to a similarity transform:
    part number -> [(other part number, "same" | "scaled")], mirror images left out (a scan
    tells them apart). Candidates are each part's `neighbours` nearest shape signatures, kept
    when the exact surfaces lie within `threshold` RMS radii (`compare_pairs`). For
    `cadfinder eval retrieval`'s oracle of what a query of unknown size can attain.
    """
    from cadfinder.geometry.signature import VERSION

    rows = conn.execute("SELECT id, part_number, shape_signature, signature_version FROM cad_models "
                        "WHERE surface_sample IS NOT NULL AND mesh_data IS NOT NULL ORDER BY part_number").fetchall()
    conn.commit()
    numbers = [r[1] for r in rows]
    stale = [r[1] for r in rows if r[2] is None or r[3] != VERSION]
    if stale:
        raise ValueError(f"{len(stale)} parts have no current shape signature (e.g. {stale[0]}): run cadfinder embed")
    asked = set(part_numbers)
    pairs = [(int(i), int(j)) for i, j in candidate_pairs(np.stack([r[2].to_numpy() for r in rows]), neighbours)
             if (numbers[i] in asked or numbers[j] in asked) and numbers[i] != numbers[j]]
    need = sorted({x for p in pairs for x in p})
    got = conn.execute("SELECT id, part_number, surface_sample, mesh_data, mesh_format, norm_offset, norm_scale "
                       "FROM cad_models WHERE id = ANY(%s)", ([rows[k][0] for k in need],)).fetchall()
    conn.commit()
    index = {rows[k][0]: k for k in need}
    shapes, _ = _shapes([(index[r[0]], r[1], bytes(r[2]), bytes(r[3]), *r[4:]) for r in got])
    pairs = [(i, j) for i, j in pairs if i in shapes and j in shapes]
    out: dict[str, list[tuple[str, str]]] = {pn: [] for pn in part_numbers}
    for found in compare_pairs(pairs, shapes, threshold, size_tolerance):
        if found is None:
            continue
        i, j, kind, *_ = found
        if kind == "mirror":
            continue
        for a, b in ((numbers[i], numbers[j]), (numbers[j], numbers[i])):
            if a in out:
                out[a].append((b, kind))
    return out
