"""A part's local codes: encoding a mesh into them, evaluating the field they decode to, and
their compact stored form.

Stored form (`PartCodes.to_bytes`): a small header, the active nodes as deltas of their sorted
linear indices, the codes quantised to int8 with one float32 scale per channel, and the
inside/outside bits of every node, zlib-compressed (the deltas and bits shrink to little).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from cadfinder.implicit import grid as G
from cadfinder.implicit.model import LocalSdf


@dataclass
class PartCodes:
    """The implicit form of one part in its canonical frame."""

    grid: int  # G: nodes per axis over [-1, 1]^3
    nodes: np.ndarray  # (N,) int64 sorted linear indices of the active nodes
    codes: np.ndarray  # (N, C) float32
    inside: np.ndarray  # (G^3,) bool: which nodes lie inside the part

    @property
    def lattice(self) -> G.Lattice:
        return G.Lattice(self.grid)

    # -- stored form ----------------------------------------------------------------------------

    MAGIC = b"CFLC1"

    def to_bytes(self) -> bytes:
        n, c = self.codes.shape
        scale = np.abs(self.codes).max(axis=0).astype(np.float32) / 127 if n else np.zeros(c, np.float32)
        scale[scale == 0] = 1.0
        q = np.clip(np.round(self.codes / scale), -127, 127).astype(np.int8)
        deltas = np.diff(self.nodes, prepend=0)
        wide = bool(deltas.max(initial=0) > np.iinfo(np.uint16).max)
        buf = io.BytesIO()
        buf.write(struct.pack("<IIIB", self.grid, n, c, wide))
        buf.write(deltas.astype(np.uint32 if wide else np.uint16).tobytes())
        buf.write(scale.tobytes())
        buf.write(q.tobytes())
        buf.write(np.packbits(self.inside).tobytes())
        return self.MAGIC + zlib.compress(buf.getvalue(), 6)

    @staticmethod
    def from_bytes(blob: bytes) -> "PartCodes":
        from cadfinder.errors import InputError

        blob = bytes(blob)
        if not blob.startswith(PartCodes.MAGIC):
            raise InputError("stored implicit codes are not in a known format")
        try:
            blob = zlib.decompress(blob[len(PartCodes.MAGIC):])
            off = 0
            g, n, c, wide = struct.unpack_from("<IIIB", blob, off)
            off += struct.calcsize("<IIIB")
            if not (3 <= g <= 257 and n <= g**3 and 1 <= c <= 256):
                raise ValueError(f"implausible header: lattice {g}, {n} nodes, {c} channels")
            dt = np.uint32 if wide else np.uint16
            deltas = np.frombuffer(blob, dt, n, off).astype(np.int64)
            off += n * np.dtype(dt).itemsize
            scale = np.frombuffer(blob, np.float32, c, off)
            off += 4 * c
            q = np.frombuffer(blob, np.int8, n * c, off).reshape(n, c)
            off += n * c
            inside = np.unpackbits(np.frombuffer(blob, np.uint8, (g**3 + 7) // 8, off))[: g**3].astype(bool)
        except (struct.error, ValueError, zlib.error) as e:
            raise InputError(f"stored implicit codes are truncated or corrupt ({e})") from None
        nodes = np.cumsum(deltas)
        if n and (nodes[-1] >= g**3 or np.any(np.diff(nodes) <= 0)):
            raise InputError("stored implicit codes are corrupt (node indices out of order or range)")
        return PartCodes(g, nodes, q.astype(np.float32) * scale, inside)


@dataclass
class CornerLookup:
    """Where S points fall among the active nodes: see LocalSdf.blend for the fields."""

    nodes: np.ndarray  # (U,) rows of PartCodes.nodes in play
    slot: np.ndarray  # (S, 8) into `nodes`, -1 for a corner without a code
    inside: np.ndarray  # (S, 8) bool
    rel: np.ndarray  # (S, 8, 3) float32
    weight: np.ndarray  # (S, 8) float32


def corner_lookup(lattice: G.Lattice, nodes: np.ndarray, inside: np.ndarray, points: np.ndarray,
                  compact: bool = True) -> CornerLookup:
    """Each point's cell corners, their codes (rows of `nodes`), weights and relative positions.
    With `compact`, `slot` indexes only the codes in play (training encodes just those)."""
    lo, frac = G.cell_lookup(lattice, points)
    lin = lattice.linear(lo[:, None, :] + G.CORNERS[None])
    pos = np.clip(np.searchsorted(nodes, lin), 0, max(len(nodes) - 1, 0))
    found = nodes[pos] == lin if len(nodes) else np.zeros(lin.shape, bool)
    slot = np.full(lin.shape, -1, np.int64)
    if compact:
        used, inv = np.unique(pos[found], return_inverse=True)
        slot[found] = inv
    else:
        used = np.arange(len(nodes))
        slot[found] = pos[found]
    rel = (frac[:, None, :] - G.CORNERS[None]).astype(np.float32)
    weight = np.prod(np.where(G.CORNERS[None] == 1, frac[:, None, :], 1 - frac[:, None, :]), axis=2)
    return CornerLookup(used, slot, inside[lin], rel, weight.astype(np.float32))


class Field:
    """The signed distance a part's codes decode to, evaluable at any points (canonical frame).

    Points inside a *full* cell (all eight corners hold codes: every cell the surface crosses)
    take a fast path for the feature blend: each full cell's eight first-layer terms, less the
    corner offsets' share, are tabled once, so a point costs one gather, its own position's share
    and a weighted sum (about 3x the general path). Other points take LocalSdf.blend."""

    def __init__(self, model: LocalSdf, codes: PartCodes):
        self.model = model
        self.codes = codes
        self.lattice = codes.lattice
        self.device = next(model.parameters()).device
        if codes.codes.shape[1] != model.cfg.code_dim:
            from cadfinder.errors import InputError

            raise InputError(f"these implicit codes have {codes.codes.shape[1]} channels, the model "
                             f"{model.cfg.code_dim}: they were encoded by other weights (`cadfinder embed` "
                             "re-encodes them)")
        g1 = self.lattice.size - 1
        with torch.no_grad():
            self.node_term = model.decoder.node_term(torch.from_numpy(codes.codes).float().to(self.device))
            self.cell_row = np.full(g1**3, -1, np.int64)
            self.cell_table = None
            if model.cfg.blend == "feature" and len(codes.nodes):
                has = np.zeros(self.lattice.size**3, bool)
                has[codes.nodes] = True
                lo = self.lattice.unravel(np.arange(self.lattice.size**3)).reshape(-1, 3)
                lo = lo[(lo < g1).all(axis=1)]
                corner_lin = self.lattice.linear(lo[:, None, :] + G.CORNERS[None])
                full = has[corner_lin].all(axis=1)
                cells, corner_lin = lo[full], corner_lin[full]
                self.cell_row[(cells[:, 0] * g1 + cells[:, 1]) * g1 + cells[:, 2]] = np.arange(len(cells))
                slots = torch.from_numpy(np.searchsorted(codes.nodes, corner_lin)).to(self.device)
                w_r = model.decoder.first_r.weight  # (width, 3)
                corner_share = torch.from_numpy(G.CORNERS.astype(np.float32)).to(self.device) @ w_r.T  # (8, width)
                self.cell_table = (self.node_term[slots] - corner_share[None]).contiguous()  # (cells, 8, width)

    @torch.no_grad()
    def __call__(self, points) -> torch.Tensor:
        """(S, 3) points (tensor or array) -> (S,) signed distances, canonical units."""
        p = points.detach().cpu().numpy() if torch.is_tensor(points) else np.asarray(points)
        out = torch.empty(len(p), device=self.device)
        rest = np.arange(len(p))
        if self.cell_table is not None:
            g1 = self.lattice.size - 1
            lo, frac = G.cell_lookup(self.lattice, p)
            rows = self.cell_row[(lo[:, 0] * g1 + lo[:, 1]) * g1 + lo[:, 2]]
            fast = rows >= 0
            if fast.any():
                out[torch.from_numpy(np.flatnonzero(fast)).to(self.device)] = self._full_cells(rows[fast], frac[fast])
            rest = np.flatnonzero(~fast)
        if len(rest):
            lk = corner_lookup(self.lattice, self.codes.nodes, self.codes.inside, p[rest], compact=False)
            t = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
            out[t(rest)] = self.model.blend(self.node_term, t(lk.slot), t(lk.inside), t(lk.rel), t(lk.weight))
        return out * self.lattice.spacing

    def _full_cells(self, rows: np.ndarray, frac: np.ndarray) -> torch.Tensor:
        dec = self.model.decoder
        f = torch.from_numpy(frac.astype(np.float32)).to(self.device)
        pre = self.cell_table[torch.from_numpy(rows).to(self.device)]  # (S, 8, width)
        pre += (f @ dec.first_r.weight.T)[:, None, :]
        pre.relu_()
        c = torch.from_numpy(G.CORNERS.astype(np.float32)).to(self.device)
        w = torch.where(c[None] == 1, f[:, None, :], 1 - f[:, None, :]).prod(dim=2)  # (S, 8)
        mixed = torch.bmm(w[:, None, :], pre)[:, 0]
        return dec.from_features(mixed)


MAX_BYTES = 256 * 1024  # stored size a part may take
# Stored bytes per active node after compression ranged 2.7-10.7 on demo and outside parts (flat
# regions' codes repeat); a lattice is only tried when even the low end fits the budget.
MIN_BYTES_PER_NODE = 6


def plan_lattices(model: LocalSdf, distance) -> list[tuple[G.Lattice, np.ndarray]]:
    """The lattices to try, finest first, with their active cells: the coarsest the model knows,
    and each finer one whose codes could fit in MAX_BYTES (the encoder's output decides: see
    encode_mesh). Each finer lattice's active cells are searched among the children of the
    coarser one's."""
    sizes = sorted(model.cfg.grids)
    plans = []
    cells = None
    for size in sizes:
        lat = G.Lattice(size)
        within = cells if plans and (plans[-1][0].size - 1) * 2 == size - 1 else None
        cells = G.active_cells(lat, distance.unsigned, within)
        nodes = len(G.active_nodes(lat, cells))
        if size == sizes[0] or nodes * MIN_BYTES_PER_NODE <= MAX_BYTES:
            plans.append((lat, cells))
    return plans[::-1]


def encode_mesh(model: LocalSdf, mesh, distance=None, grid: int | None = None) -> PartCodes:
    """Codes of a mesh already in its canonical frame, predicted by the encoder in one pass, on
    the finest lattice whose stored form fits MAX_BYTES (a thin plate, a shaft or a flange gets
    the fine lattice; a large gear or housing the coarse one). `grid` forces a lattice size."""
    from cadfinder.geometry.sdf import MeshDistance

    md = distance or MeshDistance(mesh)
    if grid is not None:
        lat = G.Lattice(grid)
        return _encode_on(model, md, lat, G.active_cells(lat, md.unsigned))
    plans = plan_lattices(model, md)
    for k, (lat, cells) in enumerate(plans):
        codes = _encode_on(model, md, lat, cells)
        if k == len(plans) - 1 or len(codes.to_bytes()) <= MAX_BYTES:
            return codes
    raise AssertionError("unreachable")


def _encode_on(model: LocalSdf, md, lat: G.Lattice, cells: np.ndarray) -> PartCodes:
    nodes = G.active_nodes(lat, cells)
    st = G.stencil_samples(lat, nodes, md.signed, md.closest)
    inside = G.inside_nodes(lat, nodes, md.signed)
    device = next(model.parameters()).device
    with torch.no_grad():
        codes = model.encoder(torch.from_numpy(st.features()).to(device)).cpu().numpy()
    return PartCodes(lat.size, nodes, codes.astype(np.float32), inside)
