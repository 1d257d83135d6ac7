"""Parametric adaptation on the demo catalog: queries made from perturbed parameters.

For the first part of each family (default), every continuous parameter is scaled by 1 +/- a
random 8-20 % (within its bounds); the perturbed genome is instantiated and sampled (20k points:
the query); `adapt` starts from the original genome. Reported: the Chamfer distance between
the shapes themselves (original vs target and adapted vs target, both instantiated and sampled
with 200k points so sampling adds little), the point-to-plane Chamfer to the query that the
optimiser minimises, and the mean parameter error.

    python bench/bench_adapt.py [--catalog DIR] [--per-family 1] [--perturb 0.15] [--evaluations 200]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from cadfinder.bridge.adapt import _chamfer, _sample, adapt, free_parameters


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--per-family", type=int, default=1)
    ap.add_argument("--perturb", type=float, default=0.20)
    ap.add_argument("--evaluations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from cadfinder import demo

    cat = Path(args.catalog) if args.catalog else demo.catalog_dir()
    parts = json.loads((cat / "catalog.json").read_text())["parts"]
    picked, seen = [], {}
    for p in parts:
        if seen.get(p["family"], 0) < args.per_family:  # adaptation uses no learned model: any part
            seen[p["family"]] = seen.get(p["family"], 0) + 1
            picked.append(p["part_number"])
    rng = np.random.default_rng(args.seed)
    rows = []
    for pn in picked:
        g = json.loads((cat / f"{pn}.json").read_text())["genome"]
        target = copy.deepcopy(g)
        for k in free_parameters(g):
            p = target["parameters"][k]
            factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.08, args.perturb)
            p["value"] = float(np.clip(p["value"] * factor, p["min"], p["max"]))
        try:
            q, _ = _sample(target, 20_000, seed=7)
        except Exception as e:  # a perturbation the kernel cannot build: draw again next time
            print(f"{pn}: perturbed genome does not build ({e}); skipped")
            continue
        t = time.perf_counter()
        a = adapt(g, q, max_evaluations=args.evaluations)
        dense_t = _sample(target, 200_000, seed=11)[0]
        before = _chamfer(_sample(g, 200_000, seed=12)[0], dense_t)
        after = _chamfer(_sample(a.genome, 200_000, seed=13)[0], dense_t)
        err0 = np.mean([abs(g["parameters"][k]["value"] - target["parameters"][k]["value"]) for k in free_parameters(g)])
        err1 = np.mean([abs(a.genome["parameters"][k]["value"] - target["parameters"][k]["value"])
                        for k in free_parameters(g)])
        rows.append((pn, before, after, a.fit_before_mm, a.fit_after_mm, err0, err1, time.perf_counter() - t))
        print(f"{pn:10s} shape chamfer {before:6.3f} -> {after:6.3f} mm (x{before / after:4.1f})  "
              f"plane {a.fit_before_mm:6.3f} -> {a.fit_after_mm:6.3f} (x{a.fit_before_mm / max(a.fit_after_mm, 1e-9):5.1f})"
              f"  mean |param error| {err0:6.2f} -> {err1:6.2f} mm  {a.evaluations} evals {rows[-1][-1]:5.1f} s",
              flush=True)
    r = np.array([x[1:] for x in rows])
    print(f"\nmedian over {len(rows)} parts: chamfer x{np.median(r[:, 0] / r[:, 1]):.1f}, "
          f"plane chamfer x{np.median(r[:, 2] / np.maximum(r[:, 3], 1e-9)):.1f}, "
          f"parameter error x{np.median(r[:, 4] / np.maximum(r[:, 5], 1e-9)):.1f}, "
          f"{np.median(r[:, 6]):.1f} s per part")


if __name__ == "__main__":
    main()
