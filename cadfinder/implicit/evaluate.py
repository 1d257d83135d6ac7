"""`cadfinder eval recon`: how faithfully the implicit form reproduces parts it was not trained on.

Three sets, each spread over its kinds of parts:
- `heldout`: the catalog's held-out parts of the families the model was trained on;
- `unseen_families`: every part of the families left out of training altogether;
- `outside`: parts of no catalog family (blocks, plates, rings with random holes, slots and
  pockets), built here with the open kernel (`novel_parts`).
Per part: genus of the decoded mesh's largest component against the exact part's, through-holes
kept (those at least 2 % of the diagonal across), Chamfer distance and 95th-percentile distance
as % of the bounding-box diagonal, encode and decode times, stored bytes. Optionally the same
for a raw narrow-band distance grid of the same storage (`reference`: what the codes should
approach) and for the global 256-d DeepSDF latent decoded by its decoder (`baseline`).
"""

from __future__ import annotations

import sys
import time
import zlib

import numpy as np

from cadfinder.implicit import codes as C
from cadfinder.implicit import decode, grid as G, metrics

PREVIEW_RES = 129


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def raw_band_grid(mesh, max_bytes: int, distance=None) -> tuple[np.ndarray | None, int, int]:
    """The reference: exact signed distances (float16) on the nodes of active cells of the finest
    lattice among 33..129 whose compressed storage fits `max_bytes`, signs elsewhere; returned
    as a dense grid for marching cubes, with its lattice size and stored bytes."""
    from cadfinder.geometry.sdf import MeshDistance

    md = distance or MeshDistance(mesh)
    best = None
    for size in (33, 49, 65, 97, 129):
        lat = G.Lattice(size)
        nodes = G.active_nodes(lat, G.active_cells(lat, md.unsigned))
        allpts = lat.positions(lat.unravel(np.arange(size**3)))
        sd = md.signed(allpts)
        vals = sd[nodes].astype(np.float16)
        payload = np.diff(nodes, prepend=0).astype(np.uint32).tobytes() + vals.tobytes() + np.packbits(sd < 0).tobytes()
        nbytes = len(zlib.compress(payload, 6))
        if nbytes > max_bytes and best is not None:
            break
        dense = np.where(sd < 0, -lat.spacing, lat.spacing).astype(np.float32)
        dense[nodes] = vals.astype(np.float32)
        best = (dense.reshape((size,) * 3), size, nbytes)
        if nbytes > max_bytes:
            break
    return best


def _mesh_of_grid(grid: np.ndarray):
    try:
        return decode.grid_to_mesh(grid)
    except ValueError:
        return None


def evaluate_part(model, mesh, name: str, kind: str, reference: bool = False, baseline=None, seed: int = 0) -> dict:
    """Every figure for one part (canonical frame)."""
    from cadfinder.geometry.sdf import MeshDistance

    md = MeshDistance(mesh)
    holes = metrics.through_holes(mesh, metrics.HOLE_MIN_DIAGONAL_FRACTION * metrics.diagonal(mesh))
    codes, t_enc = _timed(C.encode_mesh, model, mesh, md)
    blob = codes.to_bytes()
    stored = C.PartCodes.from_bytes(blob)
    stats: dict = {}
    decoded, t_dec = _timed(lambda: _mesh_of_grid(decode.decode_grid(C.Field(model, stored), PREVIEW_RES, stats)))
    row = {"part": name, "kind": kind, "grid": codes.grid, "nodes": int(len(codes.nodes)), "bytes": len(blob),
           "encode_s": t_enc, "decode_s": t_dec, "evaluations": stats.get("evaluated", 0),
           **metrics.compare(mesh, decoded, seed=seed, holes=holes)}
    if reference:
        grid, size, nbytes = raw_band_grid(mesh, len(blob), md)
        ref = metrics.compare(mesh, _mesh_of_grid(grid), seed=seed, holes=holes)
        row["reference"] = {"grid": size, "bytes": nbytes, **{k: ref[k] for k in
                                                               ("genus_match", "holes_kept", "chamfer_pct", "p95_pct")}}
    if baseline is not None:
        row["baseline"] = _baseline(baseline, mesh, holes, seed)
    return row


def _baseline(models_pair, mesh, holes, seed) -> dict:
    """The global latent of the search index, predicted by its encoder and decoded."""
    from cadfinder.deepsdf import meshing
    from cadfinder.deepsdf.encoder import encode
    from cadfinder.geometry.sdf import sample_surface

    decoder, encoder = models_pair
    surf, _ = sample_surface(mesh, 4096, np.random.default_rng(0))
    z = encode(encoder, [surf])[0]
    try:
        dec, t = _timed(meshing.latent_to_mesh, decoder, z, PREVIEW_RES)
    except ValueError:
        dec, t = None, float("nan")
    m = metrics.compare(mesh, dec, seed=seed, holes=holes)
    return {"decode_s": t, **{k: m[k] for k in ("genus_match", "holes_kept", "chamfer_pct", "p95_pct")}}


def summarise(rows: list[dict]) -> dict:
    """Medians and rates of a set, in the terms of the targets."""
    if not rows:
        return {"parts": 0}
    with_holes = [r for r in rows if r["genus_exact"]]
    out = {
        "parts": len(rows),
        "genus_match_with_holes": float(np.mean([r["genus_match"] for r in with_holes])) if with_holes else None,
        "holes": int(sum(r["holes"] for r in rows)),
        "holes_kept": int(sum(r["holes_kept"] for r in rows)),
        "chamfer_pct_median": float(np.nanmedian([r["chamfer_pct"] for r in rows])),
        "p95_pct_median": float(np.nanmedian([r["p95_pct"] for r in rows])),
        "decode_s_median": float(np.median([r["decode_s"] for r in rows])),
        "decode_s_max": float(np.max([r["decode_s"] for r in rows])),
        "encode_s_median": float(np.median([r["encode_s"] for r in rows])),
        "bytes_median": int(np.median([r["bytes"] for r in rows])),
        "bytes_max": int(np.max([r["bytes"] for r in rows])),
    }
    for extra in ("reference", "baseline"):
        sub = [r[extra] for r in rows if extra in r]
        if sub:
            hw = [s for s, r in zip(sub, rows) if r["genus_exact"]]
            out[extra] = {"genus_match_with_holes": float(np.mean([s["genus_match"] for s in hw])) if hw else None,
                          "holes_kept": int(sum(s["holes_kept"] for s in sub)),
                          "chamfer_pct_median": float(np.nanmedian([s["chamfer_pct"] for s in sub])),
                          "p95_pct_median": float(np.nanmedian([s["p95_pct"] for s in sub]))}
    return out


def spread(items: list, key, n: int) -> list:
    """Up to n items taken in turn from each group of `key` (families, kinds)."""
    groups: dict = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out, i = [], 0
    keys = sorted(groups)
    while len(out) < min(n, len(items)):
        g = groups[keys[i % len(keys)]]
        k = i // len(keys)
        if k < len(g):
            out.append(g[k])
        i += 1
    return out


def evaluate(model, catalog_parts: list, held_out_families: list[str], per_set: int = 24, outside: int = 24,
             reference: bool = False, baseline=None, progress: bool = True, seed: int = 11) -> dict:
    """The benchmark over the three sets; `catalog_parts` as from deepsdf.dataset.catalog_parts."""
    from cadfinder.deepsdf.dataset import canonical_mesh
    from cadfinder.implicit import novel_parts

    held = set(held_out_families)
    sets = {
        "heldout": spread([p for p in catalog_parts if p.split == "heldout" and p.family not in held],
                          lambda p: p.family, per_set),
        "unseen_families": spread([p for p in catalog_parts if p.family in held], lambda p: p.family, per_set),
    }
    report: dict = {"units": "distances in % of the exact part's bounding-box diagonal (Chamfer: mean of the two "
                             "one-sided mean point-to-surface distances; p95: 95th percentile of both sides)",
                    "resolution": PREVIEW_RES, "held_out_families": sorted(held), "sets": {}}

    def note(set_name, k, total, row):
        if progress:
            print(f"[{set_name} {k}/{total}] {row['part']:>22s} grid {row['grid']:3d}  genus {row['genus_decoded']}"
                  f"/{row['genus_exact']}  holes {row['holes_kept']}/{row['holes']}  chamfer "
                  f"{row['chamfer_pct']:.3f}%  p95 {row['p95_pct']:.3f}%  decode {row['decode_s']:.2f}s  "
                  f"{row['bytes'] / 1024:.0f} KB", file=sys.stderr, flush=True)

    for set_name, parts in sets.items():
        rows = []
        for k, p in enumerate(parts):
            mesh, _ = canonical_mesh(p.mesh_path)
            rows.append(evaluate_part(model, mesh, p.part_number, p.family, reference, baseline))
            note(set_name, k + 1, len(parts), rows[-1])
        report["sets"][set_name] = {"summary": summarise(rows), "parts": rows}
    if outside:
        from cadfinder.geometry.normalize import catalog_frame

        rows = []
        novel = novel_parts.build(outside, seed)
        for k, p in enumerate(novel):
            frame = catalog_frame(p.mesh.vertices)
            import trimesh

            mesh = trimesh.Trimesh(frame.to_canonical(p.mesh.vertices), p.mesh.faces, process=False)
            rows.append(evaluate_part(model, mesh, p.name, p.kind, reference, baseline))
            note("outside", k + 1, len(novel), rows[-1])
        report["sets"]["outside"] = {"summary": summarise(rows), "parts": rows}
    return report
