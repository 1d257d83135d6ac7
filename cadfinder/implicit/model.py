"""The local-code model: an encoder from exact local distances to a code per active node, and one
shared decoder from (code, position relative to the node) to the signed distance near the node.

A point x in a cell with corners n_1..n_8 (codes z_i, positions x_i, trilinear weights w_i(x),
lattice spacing h) gets

    sdf(x) = h * g( sum_i w_i(x) * relu(A z_i + B (x - x_i) / h + b) )

with g the rest of the decoder's MLP: each corner contributes the first-layer features of its
code seen from x, and the blend of those features is decoded once ("feature" blend). The
alternative blends g's answers per corner (DeepLS, Chabra et al. 2020: sum_i w_i g(z_i, ...),
"output" blend); it measured slightly worse and is 8x the decoder work per point. A corner that
holds no code (off the surface) contributes a learned outside or inside feature. Because the
decoder sees each position relative to its node in units of h, a code describes a piece of
surface in its own frame: the same hole rim or edge anywhere in any part, at either lattice
size, gets the same code, which is what lets the model carry to parts it was not trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cadfinder.implicit.grid import STENCIL


@dataclass(frozen=True)
class LocalConfig:
    grids: tuple[int, ...] = (33, 65)  # lattice sizes (nodes per axis over [-1, 1]^3) it is trained on
    code_dim: int = 16
    encoder_hidden: tuple[int, ...] = (256, 128)
    decoder_hidden: tuple[int, ...] = (64, 64)
    clamp: float = 1.5  # training targets are clamped to +-clamp * h
    blend: str = "feature"  # "feature": blend first-layer features; "output": blend g's answers (DeepLS)

    def as_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "LocalConfig":
        d = dict(d)
        d.pop("grid", None)
        for k in ("grids", "encoder_hidden", "decoder_hidden"):
            if k in d:
                d[k] = tuple(d[k])
        return LocalConfig(**d)


class LocalEncoder(nn.Module):
    """(N, 4, S, S, S) stencils -> (N, code_dim) codes."""

    def __init__(self, cfg: LocalConfig):
        super().__init__()
        layers, prev = [], 4 * STENCIL**3
        for w in cfg.encoder_hidden:
            layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        layers.append(nn.Linear(prev, cfg.code_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, stencils: torch.Tensor) -> torch.Tensor:
        return self.net(stencils.flatten(1))


class LocalDecoder(nn.Module):
    """g(z, r): code (M, code_dim) and relative position (M, 3) -> (M,) distance in units of h."""

    def __init__(self, cfg: LocalConfig):
        super().__init__()
        widths = cfg.decoder_hidden
        self.first_z = nn.Linear(cfg.code_dim, widths[0])
        self.first_r = nn.Linear(3, widths[0], bias=False)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)

    def node_term(self, codes: torch.Tensor) -> torch.Tensor:
        """The code's share of the first layer, (N, width): computed once per node, not per point."""
        return self.first_z(codes)

    def first_features(self, node_term: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return F.relu(node_term + self.first_r(rel))

    def from_features(self, h: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.out(h).squeeze(-1)

    def from_node_term(self, node_term: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.first_features(node_term, rel))

    def forward(self, codes: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return self.from_node_term(self.node_term(codes), rel)


class LocalSdf(nn.Module):
    """Encoder, decoder and the two far-field constants (in units of h)."""

    def __init__(self, cfg: LocalConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = LocalEncoder(cfg)
        self.decoder = LocalDecoder(cfg)
        # What a corner without a code answers, [outside, inside]: a distance (units of h), or
        # with the feature blend a first-layer feature vector.
        if cfg.blend == "feature":
            self.far = nn.Parameter(torch.zeros(2, cfg.decoder_hidden[0]))
        else:
            self.far = nn.Parameter(torch.tensor([1.0, -1.0]))

    def blend(self, node_term: torch.Tensor, slot: torch.Tensor, inside: torch.Tensor, rel: torch.Tensor,
              weight: torch.Tensor) -> torch.Tensor:
        """Field at S points in units of h.

        node_term: (U, width) first-layer share of the U codes in play; slot: (S, 8) row of each
        corner's code, -1 for a corner without one; inside: (S, 8) bool for those; rel: (S, 8, 3)
        position relative to each corner in units of h; weight: (S, 8) trilinear weights."""
        has = slot >= 0
        # Every corner is decoded (a gather and dense layers beat masking on a CPU: points near
        # the surface, where nearly all evaluation happens, have all eight corners active).
        if self.cfg.blend == "feature":
            feats = self.decoder.first_features(node_term[slot.clamp(min=0)], rel)
            far = self.far[inside.long()]
            mixed = (torch.where(has[..., None], feats, far) * weight[..., None]).sum(dim=1)
            return self.decoder.from_features(mixed)
        vals = self.decoder.from_node_term(node_term[slot.clamp(min=0)], rel)
        far = torch.where(inside, self.far[1], self.far[0]).to(vals.dtype)
        return (torch.where(has, vals, far) * weight).sum(dim=1)
