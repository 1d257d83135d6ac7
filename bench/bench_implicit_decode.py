"""Decoding the implicit form for the preview (129^3 marching cubes) on the CPU, against two
baselines in the same run:

- the same local codes evaluated on the dense grid with the general field path (what the
  coarse-to-fine decode and the per-cell tables save), and
- the global DeepSDF latent of the same part decoded coarse-to-fine by its decoder (what the
  preview decoded before the local codes).

    python bench/bench_implicit_decode.py [--catalog CAT] [--parts 12] [--threads 2]

Parts: the catalog's held-out parts, spread over their families. Prints per part the lattice,
stored bytes, encode time, each decode time and the speed-ups, and the Chamfer distance (% of the
diagonal) between the coarse-to-fine and dense meshes; medians at the end.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cadfinder.deepsdf import meshing
from cadfinder.deepsdf.dataset import canonical_mesh, catalog_parts
from cadfinder.deepsdf.encoder import encode, load_encoder
from cadfinder.deepsdf.train import load_decoder
from cadfinder.geometry.sdf import sample_surface
from cadfinder.implicit import codes as C
from cadfinder.implicit import decode, metrics
from cadfinder.implicit.evaluate import spread
from cadfinder.implicit.train import load_model
from cadfinder.resources import resource_path


def dense_general(field: C.Field, res: int) -> np.ndarray:
    """Every node of the grid through LocalSdf.blend (no fast path, no coarse-to-fine)."""
    t = np.linspace(-1, 1, res, dtype=np.float32)
    pts = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3)
    out = np.empty(len(pts), np.float32)
    tt = lambda a: torch.from_numpy(a)  # noqa: E731
    with torch.no_grad():
        for s in range(0, len(pts), 65536):
            lk = C.corner_lookup(field.lattice, field.codes.nodes, field.codes.inside, pts[s:s + 65536], compact=False)
            v = field.model.blend(field.node_term, tt(lk.slot), tt(lk.inside), tt(lk.rel), tt(lk.weight))
            out[s:s + 65536] = v.numpy() * field.lattice.spacing
    return out.reshape((res,) * 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--parts", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--res", type=int, default=129)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model(resource_path("models", "implicit.safetensors"))
    dec = load_decoder(resource_path("models", "deepsdf.safetensors"))[0]
    enc = load_encoder(resource_path("models", "encoder.safetensors"))
    parts = spread([p for p in catalog_parts(args.catalog) if p.split == "heldout"], lambda p: p.family, args.parts)
    print(f"{len(parts)} held-out parts, {args.res}^3, {torch.get_num_threads()} threads")
    rows = []
    for p in parts:
        mesh, _ = canonical_mesh(p.mesh_path)
        t = time.perf_counter()
        codes = C.encode_mesh(model, mesh)
        t_enc = time.perf_counter() - t
        blob = codes.to_bytes()
        t = time.perf_counter()
        field = C.Field(model, C.PartCodes.from_bytes(blob))
        fast = decode.grid_to_mesh(decode.decode_grid(field, args.res))
        t_fast = time.perf_counter() - t
        t = time.perf_counter()
        dense = decode.grid_to_mesh(dense_general(field, args.res))
        t_dense = time.perf_counter() - t
        z = encode(enc, [sample_surface(mesh, 4096, np.random.default_rng(0))[0]])[0]
        t = time.perf_counter()
        meshing.latent_to_mesh(dec, z, args.res)
        t_global = time.perf_counter() - t
        agree = metrics.surface_distances(dense, fast, n=20000)["chamfer_pct"]
        rows.append((t_fast, t_dense, t_global, t_enc, len(blob)))
        print(f"{p.part_number} {codes.grid:3d}^3 lattice {len(blob) / 1024:6.1f} KB  encode {t_enc:5.2f} s | decode "
              f"{t_fast:5.2f} s, dense general path {t_dense:6.2f} s (x{t_dense / t_fast:4.1f}), global latent "
              f"{t_global:6.2f} s (x{t_global / t_fast:4.1f}) | coarse-to-fine vs dense Chamfer {agree:.4f} %")
    r = np.array(rows)
    print(f"median: decode {np.median(r[:, 0]):.2f} s (max {r[:, 0].max():.2f}), dense general path x"
          f"{np.median(r[:, 1] / r[:, 0]):.1f}, global latent x{np.median(r[:, 2] / r[:, 0]):.1f}; encode "
          f"{np.median(r[:, 3]):.2f} s; stored {np.median(r[:, 4]) / 1024:.0f} KB (max {r[:, 4].max() / 1024:.0f})")


if __name__ == "__main__":
    main()
