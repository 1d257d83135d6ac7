"""`cadfinder eval recon`: reconstruction quality of both inference paths on held-out and
training parts: Chamfer-L2 and normal consistency against the true surface (canonical frame)."""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.spatial import cKDTree

from cadfinder.deepsdf import dataset, infer, meshing
from cadfinder.deepsdf.encoder import encode
from cadfinder.geometry.sdf import SamplingRecipe, sample_sdf, sample_surface

EVAL_POINTS = 10_000


def surface_metrics(recon, truth_pts: np.ndarray, truth_nrm: np.ndarray, rng) -> tuple[float, float]:
    """(Chamfer-L2, normal consistency) between a reconstructed mesh and true surface samples."""
    pts, nrm = sample_surface(recon, EVAL_POINTS, rng)
    d_tr, i_tr = cKDTree(pts).query(truth_pts)
    d_rt, _ = cKDTree(truth_pts).query(pts)
    chamfer = float((d_tr**2).mean() + (d_rt**2).mean())
    normal_consistency = float(np.abs((truth_nrm * nrm[i_tr]).sum(axis=1)).mean())
    return chamfer, normal_consistency


def evaluate(decoder, encoder, parts: list[dataset.CatalogPart], fit_iterations: int = 100,
             resolution: int = 129, progress: bool = True) -> dict:
    """Both paths on each part; returns per-split means and timings."""
    rows = []
    for k, part in enumerate(parts):
        rng = np.random.default_rng(k)
        mesh, _ = dataset.canonical_mesh(part.mesh_path)
        truth_pts, truth_nrm = sample_surface(mesh, EVAL_POINTS, rng)
        samples = sample_sdf(mesh, SamplingRecipe(total=30_000, surface=5000), seed=k)
        t = time.perf_counter()
        z_ad, _ = infer.fit_latent(decoder, samples.points, samples.sdf, iterations=fit_iterations,
                                   samples_per_step=4096, seed=k)
        t_ad = time.perf_counter() - t
        cloud = samples.surface_points
        t = time.perf_counter()
        z_enc = encode(encoder, [cloud])[0]
        t_enc = time.perf_counter() - t
        row = {"part_number": part.part_number, "family": part.family, "split": part.split,
               "autodecoder_s": t_ad, "encoder_s": t_enc}
        for name, z in (("autodecoder", z_ad), ("encoder", z_enc)):
            try:
                recon = meshing.latent_to_mesh(decoder, z, res=resolution)
                row[f"{name}_chamfer"], row[f"{name}_normal"] = surface_metrics(recon, truth_pts, truth_nrm, rng)
            except ValueError:  # no surface decoded
                row[f"{name}_chamfer"], row[f"{name}_normal"] = float("nan"), float("nan")
        rows.append(row)
        if progress:
            print(f"[{k + 1}/{len(parts)}] {part.part_number} {part.split:7s} "
                  f"AD chamfer {row['autodecoder_chamfer']:.5f}  encoder chamfer {row['encoder_chamfer']:.5f}",
                  file=sys.stderr, flush=True)
    summary = {}
    for split in ("heldout", "train"):
        sel = [r for r in rows if r["split"] == split]
        if not sel:
            continue
        summary[split] = {
            "parts": len(sel),
            **{f"{m}_{path}": float(np.nanmean([r[f"{path}_{m}"] for r in sel]))
               for path in ("autodecoder", "encoder") for m in ("chamfer", "normal")},
            # A thin part decoded with a stray blob dominates a mean: report the median too.
            **{f"chamfer_{path}_median": float(np.nanmedian([r[f"{path}_chamfer"] for r in sel]))
               for path in ("autodecoder", "encoder")},
            "autodecoder_ms": 1000 * float(np.mean([r["autodecoder_s"] for r in sel])),
            "encoder_ms": 1000 * float(np.mean([r["encoder_s"] for r in sel])),
        }
    return {"units": "Chamfer-L2 in the unit-sphere frame (mean squared distance, both ways); "
                     "normal consistency in [0, 1]", "fit_iterations": fit_iterations,
            "resolution": resolution, "summary": summary, "parts": rows}


def pick_parts(parts: list[dataset.CatalogPart], per_split: int) -> list[dataset.CatalogPart]:
    """The first `per_split` held-out and training parts, spread over families."""
    out = []
    for split in ("heldout", "train"):
        pool = [p for p in parts if p.split == split]
        fams = sorted({p.family for p in pool})
        chosen, i = [], 0
        while len(chosen) < min(per_split, len(pool)):
            fam = fams[i % len(fams)]
            cand = [p for p in pool if p.family == fam and p not in chosen]
            if cand:
                chosen.append(cand[0])
            i += 1
        out += chosen
    return out

