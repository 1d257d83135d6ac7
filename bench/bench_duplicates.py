"""The duplicate analysis on a library with planted duplicates: precision, recall, time.

Copies of randomly chosen library parts are made from their catalog meshes and ingested as
parts of their own (DUP-...): moved, turned to a random pose (and moved), remeshed (every edge
split to a fifteenth of the part's size), scaled by 1.6 in a random pose, and mirrored in a
random pose; one kind per copy in turn. The analysis then runs on the whole library and is
scored on the copies:

- recall: copies whose original is in the same group (and, per kind, the kind the pair got);
- precision: a found pair with a copy in it is right when the other part is its original or a
  part whose genome parameters are exactly the original's (the demo catalog holds a few such
  natural duplicates); pairs among the library's own parts are counted apart (they are
  parts of one family of close proportions; which are "duplicates" is the admin's threshold).

Seed 0 was used to choose the threshold and the comparison's settings (docs/duplicates.md);
seed 1 is the report. Timing at 100,000 parts: the candidate step (all-pairs signature
neighbours) is run on 100,000 signatures (the library's own plus jittered copies); the
comparisons, linear in the pairs, are extrapolated from this run's pairs per part and time per
pair (said so in the output).

    python bench/bench_duplicates.py [--seed 1] [--copies 40] [--keep]
(CADFINDER_HOME: an ingested demo library; the planted parts are removed at the end unless --keep)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

KINDS = ("moved", "rotated", "remeshed", "scaled", "mirrored")
EXPECTED = {"moved": "same", "rotated": "same", "remeshed": "same", "scaled": "scaled", "mirrored": "mirror"}
THRESHOLDS = (0.002, 0.003, 0.004, 0.006)


def plant(catalog: Path, picked: list[str], out: Path, seed: int) -> dict[str, tuple[str, str]]:
    """Write the copies as STL files; returns {copy part number: (original, kind)}."""
    truth = {}
    for n, pn in enumerate(picked):
        kind = KINDS[n % len(KINDS)]
        m = trimesh.load(catalog / f"{pn}.stl", force="mesh")
        v, f = m.vertices.copy(), m.faces.copy()
        rot = Rotation.random(random_state=seed * 1000 + n).as_matrix()
        if kind == "moved":
            v = v + [100.0, -50.0, 20.0]
        elif kind == "rotated":
            v = v @ rot.T + 30.0
        elif kind == "remeshed":
            v, f = trimesh.remesh.subdivide_to_size(v, f, max_edge=m.scale / 15)
        elif kind == "scaled":
            v = 1.6 * v @ rot.T
        else:
            v, f = (v * [-1.0, 1.0, 1.0]) @ rot.T, f[:, ::-1]
        copy = f"DUP-{pn}-{kind}"
        trimesh.Trimesh(v, f, process=False).export(out / f"{copy}.stl")
        truth[copy] = (pn, kind)
    return truth


def score(analysis, truth: dict, same_params: dict[str, set], threshold: float) -> dict:
    from cadfinder.duplicates import components

    pairs = [p for g in analysis.groups for p in g.pairs if p.distance <= threshold]
    names = sorted({x for p in pairs for x in (p.a, p.b)})
    at = {x: k for k, x in enumerate(names)}
    group = {names[i]: g for g, comp in enumerate(components(len(names), [(at[p.a], at[p.b]) for p in pairs]))
             for i in comp}
    kind_of = {frozenset((p.a, p.b)): p.kind for p in pairs}
    found, kind_right, per_kind = 0, 0, {k: [0, 0, 0] for k in KINDS}  # copies, found, kind right
    for copy, (orig, kind) in truth.items():
        per_kind[kind][0] += 1
        if copy in group and group[copy] == group.get(orig, -1):
            found += 1
            per_kind[kind][1] += 1
            got = kind_of.get(frozenset((copy, orig)))
            # a mirrored copy of a part that is its own mirror image is the same shape
            if got == EXPECTED[kind] or (kind == "mirrored" and got == "same"):
                kind_right += 1
                per_kind[kind][2] += 1
    with_copy = [p for p in pairs if p.a in truth or p.b in truth]
    right = 0
    for p in with_copy:
        copy, other = (p.a, p.b) if p.a in truth else (p.b, p.a)
        orig = truth[copy][0]
        twin = truth[other][0] if other in truth else other
        right += twin == orig or twin in same_params.get(orig, set())
    library_pairs = [p for p in pairs if p.a not in truth and p.b not in truth]
    natural = sum(p.b in same_params.get(p.a, set()) for p in library_pairs)
    return {"threshold": threshold, "recall": found / len(truth), "kind_accuracy": kind_right / max(found, 1),
            "precision": right / max(len(with_copy), 1), "pairs_with_copies": len(with_copy),
            "per_kind": {k: {"copies": v[0], "found": v[1], "kind_right": v[2]} for k, v in per_kind.items()},
            "library_pairs": len(library_pairs), "library_pairs_identical_parameters": natural,
            "library_identical_parameter_pairs": sum(len(v) for v in same_params.values()) // 2}


def candidates_at(n: int, signatures: np.ndarray, seed: int) -> dict:
    from cadfinder.duplicates import candidate_pairs

    rng = np.random.default_rng(seed)
    reps = signatures[rng.integers(0, len(signatures), n)]
    big = (reps + rng.normal(0, 0.01, reps.shape)).astype(np.float32)  # resampled copies differ by about this
    t = time.perf_counter()
    pairs = candidate_pairs(big)
    return {"parts": n, "seconds": time.perf_counter() - t, "pairs": len(pairs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--large", type=int, default=100_000, help="parts for the candidate-step timing (0: skip)")
    args = ap.parse_args()
    from cadfinder import demo, duplicates, ingest, library, models, pipeline, settings

    s = settings.load()
    cat = demo.catalog_dir()
    with library.writer(s, None) as conn:
        rows = conn.execute("SELECT part_number, genome->'parameters' FROM cad_models WHERE part_number NOT LIKE "
                            "'DUP-%%' ORDER BY part_number").fetchall()
        conn.commit()
        numbers = [r[0] for r in rows if (cat / f"{r[0]}.stl").exists()]
        params = {r[0]: json.dumps({k: v.get("value") for k, v in (r[1] or {}).items()}, sort_keys=True)
                  for r in rows}
        same_params: dict[str, set] = {}
        by_value: dict[str, list] = {}
        for pn, v in params.items():
            by_value.setdefault(v, []).append(pn)
        for group in by_value.values():
            for pn in group:
                same_params[pn] = set(group) - {pn}
        rng = np.random.default_rng(args.seed)
        picked = [numbers[i] for i in rng.choice(len(numbers), args.copies, replace=False)]
        with tempfile.TemporaryDirectory() as tmp:
            truth = plant(cat, picked, Path(tmp), args.seed)
            t = time.perf_counter()
            summary = ingest.ingest(conn, [tmp], models.weights_dir(s), jobs=2, progress=False)
            ingest_s = time.perf_counter() - t
        try:
            a = pipeline.run(duplicates.analyse(threshold=max(THRESHOLDS)), conn)
            sigs = np.array([r[0].to_numpy() for r in conn.execute(
                "SELECT shape_signature FROM cad_models WHERE shape_signature IS NOT NULL").fetchall()])
            conn.commit()
        finally:
            if not args.keep:
                conn.execute("DELETE FROM cad_models WHERE part_number LIKE 'DUP-%%'")
                conn.commit()
    per_pair = a.timings_ms.get("comparing", 0) / 1000 / max(a.candidates, 1)
    out = {"seed": args.seed, "copies": len(truth), "ingested": summary.added + summary.updated,
           "ingest_seconds": round(ingest_s, 1), "parts": a.parts, "candidate_pairs": a.candidates,
           "analysis_seconds": round(a.seconds, 1), "timings_ms": {k: round(v) for k, v in a.timings_ms.items()},
           "seconds_per_pair": round(per_pair, 4), "scores": [score(a, truth, same_params, t) for t in THRESHOLDS]}
    if args.large:
        big = candidates_at(args.large, sigs, args.seed)
        pairs_per_part = a.candidates / max(a.parts, 1)
        big["comparisons_extrapolated_seconds"] = round(args.large * pairs_per_part * per_pair)
        big["note"] = ("candidate step measured on jittered copies of this library's signatures; comparisons "
                       "extrapolated: this run's pairs per part x seconds per pair")
        out["at_scale"] = big
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
