"""The DeepSDF auto-decoder: f(z, x) -> signed distance, with a fast per-shape evaluator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cadfinder.deepsdf.config import DecoderConfig


class Decoder(nn.Module):
    """MLP over [z, x] (latent first, as in DeepSDF); at each skip layer the input is re-injected."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        d_in = cfg.latent_dim + 3
        self.layers = nn.ModuleList()
        prev = d_in
        for i, width in enumerate(cfg.hidden):
            # The layer before a skip outputs fewer features so that, with the input appended,
            # the skip layer's input is `width` wide (DeepSDF's layout); a net too narrow for
            # that (compact: 256 wide, 259 inputs) appends the input on top instead.
            out = width
            if (i + 1) in cfg.skip_layers and width - d_in >= 64:
                out = width - d_in
            lin = nn.Linear(prev, out)
            if cfg.weight_norm:
                lin = nn.utils.parametrizations.weight_norm(lin)
            self.layers.append(lin)
            prev = out + (d_in if (i + 1) in cfg.skip_layers else 0)
        self.out = nn.Linear(prev, 1)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """z: (N, latent) or (latent,), x: (N, 3) -> (N,) signed distances in [-1, 1].
        With x: (B, S, 3) and z: (B, latent), one latent per shape -> (B, S)."""
        if x.dim() == 3:
            return self.forward_shapes(z, x)
        if z.dim() == 1:
            z = z.expand(len(x), -1)
        inp = torch.cat([z, x], dim=-1)
        h = inp
        for i, layer in enumerate(self.layers):
            if i in self.cfg.skip_layers:
                h = torch.cat([h, inp], dim=-1)
            h = F.relu(layer(h))
            if self.cfg.dropout > 0:
                h = F.dropout(h, self.cfg.dropout, self.training)
        return torch.tanh(self.out(h)).squeeze(-1)

    def forward_shapes(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """z: (B, latent), x: (B, S, 3) -> (B, S). Same function as forward(), but the latent's
        share of the first and skip layers is computed once per shape, not once per point
        (about twice as fast to train the compact decoder on a CPU)."""
        L = self.cfg.latent_dim
        h = x
        for i, layer in enumerate(self.layers):
            w, b = layer.weight, layer.bias
            if i == 0:
                h = h @ w[:, L:].T + (z @ w[:, :L].T + b)[:, None, :]
            elif i in self.cfg.skip_layers:
                n_h = w.shape[1] - (L + 3)
                h = h @ w[:, :n_h].T + x @ w[:, n_h + L :].T + (z @ w[:, n_h : n_h + L].T + b)[:, None, :]
            else:
                h = F.linear(h, w, b)
            h = F.relu(h)
            if self.cfg.dropout > 0:
                h = F.dropout(h, self.cfg.dropout, self.training)
        return torch.tanh(self.out(h)).squeeze(-1)

    def weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Effective (weight, bias) of every hidden layer, weight normalisation applied."""
        return [(layer.weight, layer.bias) for layer in self.layers]

    @torch.no_grad()
    def shape_function(self, z: torch.Tensor):
        """A fast SDF evaluator for one latent: the latent's share of the first layer and of
        every skip layer is the same for every point, so it is folded into their biases once."""
        L = self.cfg.latent_dim
        ws = self.weights()
        z = z.reshape(-1).to(ws[0][0].dtype)
        folded = []
        for i, (w, b) in enumerate(ws):
            if i == 0:
                folded.append((w[:, L:].contiguous(), b + w[:, :L] @ z, None))
            elif i in self.cfg.skip_layers:
                n_h = w.shape[1] - (L + 3)
                folded.append((w[:, :n_h].contiguous(), b + w[:, n_h : n_h + L] @ z, w[:, n_h + L :].contiguous()))
            else:
                folded.append((w, b, None))
        w_out, b_out = self.out.weight, self.out.bias

        def sdf(x: torch.Tensor) -> torch.Tensor:
            x = x.to(w_out.dtype)
            h = x
            for i, (w, b, w_x) in enumerate(folded):
                h = F.linear(h, w, b)
                if w_x is not None:
                    h = h + x @ w_x.T
                h = torch.relu(h)
            return torch.tanh(F.linear(h, w_out, b_out)).squeeze(-1)

        return sdf


def clamped_l1(pred: torch.Tensor, target: torch.Tensor, delta: float) -> torch.Tensor:
    """DeepSDF's loss: L1 between distances clamped to [-delta, delta]."""
    return (pred.clamp(-delta, delta) - target.clamp(-delta, delta)).abs().mean()
