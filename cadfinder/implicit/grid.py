"""The sparse grid that holds a part's local codes, in the part's canonical frame.

Nodes lie on a regular G^3 lattice over [-1, 1]^3 (spacing h = 2 / (G - 1)). A cell is *active*
when the part's surface may pass through it (the distance from its centre to the surface is
under half its diagonal); the corners of active cells are the active nodes, and only they hold
a code. A point's field value blends what its cell's eight corners' codes say of it, so the
surface, which only crosses active cells, is always decoded from real codes. Every node also
carries an inside/outside bit: cells off the surface only need the right sign.

Positions are canonical units; `h` is the lattice spacing.

The encoder reads, for each active node, the exact signed distance and the offset to the nearest
surface point on a 5 x 5 x 5 stencil at spacing h / 2 around the node (its whole support).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOUND = 1.0
STENCIL = 5  # encoder stencil points per axis, spacing h / 2: covers the node's support [-h, h]^3
STENCIL_CLAMP = 2.0  # stencil distances and offsets are given in units of h, clamped to this


@dataclass(frozen=True)
class Lattice:
    """A G^3 node lattice over [-BOUND, BOUND]^3."""

    size: int  # G, nodes per axis

    @property
    def spacing(self) -> float:
        return 2 * BOUND / (self.size - 1)

    def positions(self, idx: np.ndarray) -> np.ndarray:
        """(N, 3) canonical coordinates of nodes given as (N, 3) integer indices."""
        return -BOUND + np.asarray(idx, np.float64) * self.spacing

    def linear(self, idx: np.ndarray) -> np.ndarray:
        g = self.size
        idx = np.asarray(idx, np.int64)
        return (idx[..., 0] * g + idx[..., 1]) * g + idx[..., 2]

    def unravel(self, lin: np.ndarray) -> np.ndarray:
        g = self.size
        lin = np.asarray(lin, np.int64)
        return np.stack([lin // (g * g), (lin // g) % g, lin % g], axis=-1)


CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.int64)  # (8, 3)


def active_cells(lattice: Lattice, unsigned_at, within: np.ndarray | None = None) -> np.ndarray:
    """(M, 3) integer lower corners of the cells the surface may cross; `unsigned_at(points)`
    returns distances to the surface (a cell's centre within half a diagonal of it).

    `within`: active cells of the lattice with half as many cells per axis; only their children
    are tested (a cell the surface crosses lies in a parent it crosses), an eighth of the queries."""
    g = lattice.size - 1
    if within is None:
        c = np.stack(np.meshgrid(*(np.arange(g),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    else:
        c = (within[:, None, :] * 2 + CORNERS[None]).reshape(-1, 3)
    centres = lattice.positions(c) + lattice.spacing / 2
    d = unsigned_at(centres)
    return c[d < lattice.spacing * np.sqrt(3) / 2 * 1.001]


def inside_nodes(lattice: Lattice, nodes: np.ndarray, signed_at) -> np.ndarray:
    """(G^3,) bool: which nodes lie inside the part. Nodes off the active band form a few
    connected regions that the surface does not cross, so one signed query per region (a vote of
    three of its nodes) labels all of them; the active nodes are queried each."""
    from scipy import ndimage

    n = lattice.size
    inside = np.zeros(n**3, bool)
    if len(nodes):
        inside[nodes] = signed_at(lattice.positions(lattice.unravel(nodes))) < 0
    off = np.ones(n**3, bool)
    off[nodes] = False
    labels, count = ndimage.label(off.reshape((n,) * 3))
    labels = labels.reshape(-1)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(1, count + 1))
    ends = np.searchsorted(labels[order], np.arange(1, count + 1), side="right")
    picks = [order[a + np.linspace(0, b - a - 1, 3).astype(int)] for a, b in zip(starts, ends)]
    if picks:
        votes = (signed_at(lattice.positions(lattice.unravel(np.concatenate(picks)))) < 0).reshape(-1, 3)
        region_inside = votes.sum(axis=1) >= 2
        inside[off] = region_inside[labels[off] - 1]
    return inside


def active_nodes(lattice: Lattice, cells: np.ndarray) -> np.ndarray:
    """Sorted linear indices of every corner of the given cells."""
    corners = (cells[:, None, :] + CORNERS[None]).reshape(-1, 3)
    return np.unique(lattice.linear(corners))


def stencil_offsets() -> np.ndarray:
    """(S^3, 3) integer offsets of the encoder stencil, in half-spacings."""
    r = np.arange(STENCIL) - STENCIL // 2
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)


@dataclass
class StencilSamples:
    """The distinct stencil points of a set of nodes and what the encoder reads at each."""

    points: np.ndarray  # (P, 3) canonical coordinates on the half-spacing lattice
    values: np.ndarray  # (P, 4) float32: signed distance, offset to the nearest surface point (units of h)
    index: np.ndarray  # (N, S^3) int: each node's stencil as rows of `points`
    keys: np.ndarray  # (P,) sorted int64 keys of the points on the half-spacing lattice

    def features(self) -> np.ndarray:
        """(N, 4, S, S, S) float32 encoder input."""
        s = STENCIL
        return self.values[self.index].reshape(len(self.index), s, s, s, 4).transpose(0, 4, 1, 2, 3).copy()


def stencil_keys(lattice: Lattice, nodes: np.ndarray) -> np.ndarray:
    """(N, S^3) int64 keys (on the half-spacing lattice) of the stencil points of the given nodes."""
    pad = STENCIL // 2
    n_half = 2 * (lattice.size - 1) + 1 + 2 * pad
    half = 2 * lattice.unravel(nodes)[:, None, :] + pad + stencil_offsets()[None]
    return (half[..., 0] * n_half + half[..., 1]) * n_half + half[..., 2]


def stencil_points(lattice: Lattice, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct stencil points of the given nodes (linear indices): (P, 3) positions, the
    (N, S^3) index of each node's stencil into them, and their (P,) sorted keys. Neighbouring
    nodes share points."""
    pad = STENCIL // 2
    n_half = 2 * (lattice.size - 1) + 1 + 2 * pad
    lin = stencil_keys(lattice, nodes)
    uniq, inv = np.unique(lin.ravel(), return_inverse=True)
    idx = np.stack([uniq // (n_half * n_half), (uniq // n_half) % n_half, uniq % n_half], axis=-1)
    points = (idx - pad) * (lattice.spacing / 2) - BOUND
    return points, inv.reshape(lin.shape), uniq


def stencil_samples(lattice: Lattice, nodes: np.ndarray, signed_at, closest_at) -> StencilSamples:
    """Exact distances and nearest-point offsets on the stencils of the given nodes."""
    h = lattice.spacing
    pts, index, keys = stencil_points(lattice, nodes)
    sd = signed_at(pts)
    off = closest_at(pts) - pts
    vals = np.clip(np.concatenate([sd[:, None], off], axis=1) / h, -STENCIL_CLAMP, STENCIL_CLAMP)
    return StencilSamples(pts, vals.astype(np.float32), index, keys)


def cell_lookup(lattice: Lattice, points: np.ndarray):
    """For (N, 3) points: the lower corner of each point's cell (N, 3) int, and the point's
    position inside it (N, 3) in [0, 1]."""
    g = lattice.size - 1
    t = (np.asarray(points, np.float64) + BOUND) / lattice.spacing
    lo = np.clip(np.floor(t).astype(np.int64), 0, g - 1)
    return lo, t - lo
