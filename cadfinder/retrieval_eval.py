"""`cadfinder eval retrieval`: exact-part recall and family precision on held-out parts.

The library must hold the catalog (ingested). Queries are made from the catalog's parts that
no model trained on, in two splits reported apart: `heldout` (every tenth part, of families
seen in training) and `unseen_family` (every part of the families a catalog leaves out whole,
`catalog build --unseen`). Kinds of query: (i) the complete mesh surface, (ii) a partial noisy
scan in the part's own pose, (iii) the same in a random pose at the true size (a metric
scanner), (iv) in a random pose and scale (units missing or wrong). A D2 shape distribution
(Osada et al.) over the same library is reported as the classical baseline.

Some parts cannot be told from another library part by shape alone (siblings that differ only
in size, for a query of unknown size). An oracle finds each query part's look-alikes
(`duplicates.look_alikes`, within ORACLE_DISTANCE) and reports how many queries are ambiguous,
the recall@1 an ideal method could attain, and recall@1 counting a look-alike as right.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import trimesh

from cadfinder.deepsdf import dataset
from cadfinder.geometry.scan import ScanSettings, simulate_scan
from cadfinder.geometry.sdf import sample_surface
from cadfinder.stored import unpack_surface

KINDS = {
    "full_mesh": None,
    "partial_scan_catalog_pose": ScanSettings(points=5000, views=1),
    "partial_scan_random_pose_true_size": ScanSettings(points=5000, views=1, random_pose=True),
    "partial_scan_random_pose": ScanSettings(points=5000, views=1, random_pose=True, scale_range=(0.3, 3.0)),
}
SPLITS = ("heldout", "unseen_family")
# Look-alikes: exact surfaces within 0.01 RMS radii, about the scans' sensor noise (0.004 of the
# bounding diagonal, which is 2.5-3.5 RMS radii).
ORACLE_DISTANCE = 0.01


def unknown_scale(kind: str) -> bool:
    s = KINDS[kind]
    return s is not None and s.scale_range != (1.0, 1.0)


def d2_histogram(points: np.ndarray, bins: int = 48, pairs: int = 20000, seed: int = 0) -> np.ndarray:
    """Distribution of distances between random point pairs, scale-normalised by their mean."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(points), (2, pairs))
    d = np.linalg.norm(points[i] - points[j], axis=1)
    d = d / max(d.mean(), 1e-12)
    h, _ = np.histogram(d, bins=bins, range=(0, 3))
    return h / h.sum()


def query_points(mesh: trimesh.Trimesh, kind: str, seed: int) -> np.ndarray:
    settings = KINDS[kind]
    if settings is None:
        return sample_surface(mesh, 5000, np.random.default_rng(seed))[0]
    return simulate_scan(mesh, settings, seed=seed).points


def query_parts(catalog, n_queries: int) -> dict[str, list]:
    """Split -> up to n_queries catalog parts no model trained on (in catalog order, which
    takes the families in turn)."""
    parts = dataset.catalog_parts(catalog)
    return {split: [p for p in parts if p.split == split][:n_queries] for split in SPLITS
            if any(p.split == split for p in parts)}


def evaluate(searcher, conn, catalog, n_queries: int = 100, k: int = 10, progress: bool = True,
             kinds: list[str] | None = None, oracle: bool = True) -> dict:
    """Per split and kind of query: recall@1 / @k, family precision@k, p50 / p95 latency, the
    D2 baseline's recall and (oracle) look-alikes. n_queries per split."""
    from cadfinder import duplicates

    splits = query_parts(catalog, n_queries)
    library = conn.execute("SELECT part_number, family, surface_sample FROM cad_models "
                           "WHERE surface_sample IS NOT NULL").fetchall()
    conn.commit()
    stored = {r[0] for r in library}
    missing = [p.part_number for ps in splits.values() for p in ps if p.part_number not in stored]
    if missing:
        raise ValueError(f"{len(missing)} held-out parts are not in the library (e.g. {missing[0]}): "
                         "ingest the catalog")
    lib_names = [r[0] for r in library]
    lib_d2 = np.stack([d2_histogram(unpack_surface(r[2])[0]) for r in library])
    alike = (duplicates.look_alikes(conn, [p.part_number for ps in splits.values() for p in ps], ORACLE_DISTANCE)
             if oracle else {})
    report: dict = {}
    residuals = []  # (residual of the top result, whether it is the right part)
    misses = []  # each query whose top result is not its part
    for split, parts in splits.items():
        for kind in kinds or list(KINDS):
            hit1 = hit10 = fam = d2_1 = d2_10 = loose1 = ambiguous = 0
            attainable = 0.0
            latencies = []
            for qi, part in enumerate(parts):
                mesh = trimesh.load(part.mesh_path, process=True)
                pts = query_points(mesh, kind, seed=10_000 + qi)
                t = time.perf_counter()
                # Random-scale queries have no real units: only the estimated scale is fair there.
                res = searcher.search_points(pts, k=k, metric=not unknown_scale(kind))
                latencies.append(1000 * (time.perf_counter() - t))
                names = [r.part_number for r in res.results]
                hit1 += names[:1] == [part.part_number]
                hit10 += part.part_number in names
                fam += sum(r.family == part.family for r in res.results) / k
                twins = {pn for pn, how in alike.get(part.part_number, ())
                         if how == "same" or unknown_scale(kind)}
                ambiguous += bool(twins)
                attainable += 1 / (1 + len(twins))
                loose1 += bool(names[:1]) and (names[0] == part.part_number or names[0] in twins)
                if names[:1] != [part.part_number]:
                    misses.append({"split": split, "kind": kind, "part": part.part_number, "top": names[:3],
                                   "rank": names.index(part.part_number) + 1 if part.part_number in names else None,
                                   "look_alike": bool(names[:1]) and names[0] in twins})
                if res.results and res.results[0].residual is not None:
                    residuals.append((res.results[0].residual, names[0] == part.part_number))
                order = np.argsort(np.abs(lib_d2 - d2_histogram(pts)).sum(axis=1))
                top = [lib_names[i] for i in order[:k]]
                d2_1 += top[:1] == [part.part_number]
                d2_10 += part.part_number in top
                if progress:
                    print(f"\r{split} {kind}: {qi + 1}/{len(parts)}  recall@1 {hit1 / (qi + 1):.3f}  recall@{k} "
                          f"{hit10 / (qi + 1):.3f}", end="", file=sys.stderr, flush=True)
            if progress:
                print(file=sys.stderr)
            n = len(parts)
            row = {"queries": n, "recall@1": hit1 / n, f"recall@{k}": hit10 / n,
                   f"family_precision@{k}": fam / n, "latency_ms_p50": float(np.median(latencies)),
                   "latency_ms_p95": float(np.percentile(latencies, 95)),
                   "d2_baseline_recall@1": d2_1 / n, f"d2_baseline_recall@{k}": d2_10 / n}
            if oracle:
                row |= {"ambiguous": ambiguous, "oracle_recall@1": attainable / n,
                        "recall@1_up_to_look_alikes": loose1 / n}
            report.setdefault(split, {})[kind] = row
    return {"library_size": len(library), "k": k, "results": report, "residuals": residuals,
            "look_alikes": {pn: v for pn, v in alike.items() if v}, "misses": misses}


def fit_calibration(residuals: list[tuple[float, bool]]) -> dict:
    """Logistic P(top result is the exact part | residual) (calibration.fit)."""
    from cadfinder import calibration

    r_half, width, _ = calibration.fit([x for x, _ in residuals], [c for _, c in residuals])
    return {"r_half": r_half, "width": width, "fitted_on": len(residuals)}
