"""`cadfinder eval clip`: family precision@10 of text and sketch queries on the ingested library.

Queries are built so the model never saw them: text from the held-out phrasings and family
names (captions.EVAL_*), sketches from camera directions turned away from the training
cameras and sketchified with seeds training never used: line drawings of any view (`sketch`)
and outlines of the top or front view, jittery or dashed (`outline`). The queries come in equal
shares from the catalog's held-out parts (whose views and captions the model never trained on),
from its families left out of training whole (a variety catalog's `unseen_family` split) and
from training parts; precision is reported for each. `calibrate` fits the text and sketch
score calibrations on the training parts' queries and measures them on the held-out parts'.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from cadfinder.embeddings.captions import caption
from cadfinder.embeddings.sketch import OUTLINE_VIEWS, outline_sketch, sketchify
from cadfinder.semantic_search import SemanticSearcher

EVAL_SEED = 10_000
EVAL_JITTER = 0.25  # radians: away from both the exact and the jittered training cameras


def _precision(results, family: str, k: int, family_of: dict) -> float:
    """Share of the first k results of the family (the catalog's, which a library of bare files lacks)."""
    rs = results[:k]
    return float(np.mean([family_of.get(r.part_number, r.family) == family for r in rs])) if rs else 0.0


def _attainable(conn, family_parts: list[str], query: str, k: int) -> float:
    """The best precision@k the query's hard filters (a material, a mass) leave: min(k, parts of
    the family that pass them) / k."""
    from psycopg import sql

    from cadfinder import filters, text_query

    cond, params = filters.to_sql(text_query.parse(query).filters())
    n = conn.execute(sql.SQL("SELECT count(*) FROM cad_models m WHERE part_number = ANY(%(pns)s) AND {}").format(cond),
                     params | {"pns": family_parts}).fetchone()[0]
    conn.commit()
    return min(k, n) / k


def evaluate(conn, clip, catalog: str | Path, queries: int = 96, k: int = 10, ef_search: int = 200,
             progress: bool = True) -> dict:
    from tqdm import tqdm

    from cadfinder.deepsdf.dataset import canonical_mesh, catalog_parts
    from cadfinder.views import render_views

    catalog = Path(catalog)
    parts = catalog_parts(catalog)
    stored = {r[0] for r in conn.execute("SELECT part_number FROM cad_models WHERE clip_version = %s",
                                         (clip.version,)).fetchall()}
    conn.commit()
    parts = [p for p in parts if p.part_number in stored]
    if not parts:
        raise ValueError("no catalog part is ingested with view embeddings of the current model "
                         "(cadfinder ingest CATALOG / cadfinder embed)")
    rng = np.random.default_rng(EVAL_SEED)
    pick = []
    splits = [s for s in ("heldout", "unseen_family", "train") if any(p.split == s for p in parts)]
    for split in splits:
        pool = [p for p in parts if p.split == split]
        n = min(len(pool), queries // len(splits) if split != "train" else queries - len(pick))
        pick += [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
    family_of = {p.part_number: p.family for p in parts}
    members = {}
    for pn, fam in family_of.items():
        members.setdefault(fam, []).append(pn)
    searcher = SemanticSearcher(conn, clip, ef_search=ef_search)
    out = {"library_parts": len(stored), "heldout_parts": sum(p.split == "heldout" for p in parts), "k": k,
           "score_pairs": {}}
    for kind in ("text", "sketch", "outline"):
        p_all, split_of, hit, lat, examples, attainable = [], [], [], [], [], []
        # (raw score, of the query's family, query from a held-out part); outlines are sketches to the calibration
        pairs = out["score_pairs"].setdefault("text" if kind == "text" else "sketch", [])
        for p in tqdm(pick, desc=f"eval {kind}", unit="query", disable=not progress, file=sys.stderr):
            meta = json.loads((catalog / f"{p.part_number}.json").read_text())
            if kind == "text":
                q = caption(meta, rng, held_out=True)
                t = time.perf_counter()
                res = searcher.search_text(q, k=k)
                lat.append(1000 * (time.perf_counter() - t))
                attainable.append(_attainable(conn, members[p.family], q, k))
            else:
                from cadfinder.semantic_search import sketch_is_blank
                from cadfinder.views import VIEWS

                mesh, _ = canonical_mesh(p.mesh_path)
                for _ in range(6):  # a thin part seen edge-on draws (almost) nothing: a designer draws another view
                    v = int(rng.integers(6)) if kind == "sketch" else OUTLINE_VIEWS[int(rng.integers(2))]
                    img = render_views(mesh, views=[VIEWS[v]], angle_jitter=EVAL_JITTER,
                                       seed=int(rng.integers(1 << 30)))
                    q = sketchify(img[0, 1], rng) if kind == "sketch" else outline_sketch(img[0, 0], rng)
                    if not sketch_is_blank(q):
                        break
                t = time.perf_counter()
                res = searcher.search_sketch(q, k=k)
                lat.append(1000 * (time.perf_counter() - t))
            p_all.append(_precision(res.results, p.family, k, family_of))
            pairs += [(r.raw_score, family_of.get(r.part_number, r.family) == p.family, p.split != "train")
                      for r in res.results[:k]]
            split_of.append(p.split)
            hit.append(any(r.part_number == p.part_number for r in res.results[:k]))
            if kind == "text" and len(examples) < 8:
                examples.append({"query": q, "family": p.family, "precision": p_all[-1]})
        pa, sp = np.array(p_all), np.array(split_of)
        out[kind] = {"family_precision_at_k": round(float(pa.mean()), 3)}
        at = np.array(attainable)
        if attainable:  # the best the queries' own filters (a material, a mass) leave possible
            out[kind]["family_precision_at_k_attainable"] = round(float(at.mean()), 3)
        for split, label in (("heldout", "heldout"), ("unseen_family", "unseen_family"), ("train", "training")):
            if split in splits and (sp == split).any():
                out[kind][f"family_precision_at_k_{label}_queries"] = round(float(pa[sp == split].mean()), 3)
                if attainable:
                    key = f"family_precision_at_k_attainable_{label}_queries"
                    out[kind][key] = round(float(at[sp == split].mean()), 3)
        out[kind] |= {"exact_part_recall_at_k": round(float(np.mean(hit)), 3),
                      "latency_ms_p50": round(float(np.median(lat)), 1),
                      "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
                      "queries": len(pick)}
        if examples:
            out[kind]["examples"] = examples
    return out


def calibrate(score_pairs: dict) -> tuple[dict, dict]:
    """The semantic calibration (cadfinder.calibration.SEMANTIC) fitted on the training parts'
    queries, and how it does on the held-out parts' queries: the mean shown score against the
    share of results of the asked-for family, the log-loss, and the spread of shown scores."""
    from cadfinder.calibration import fit, log_loss, rising

    values, report = {}, {}
    for kind, pairs in score_pairs.items():
        if not pairs:
            raise ValueError(f"no {kind} results to calibrate on")
        raw, match, held = (np.array(x, float) for x in zip(*pairs))
        train, test = held == 0, held == 1
        if not train.any() or not test.any():
            raise ValueError("calibrating needs queries from both training and held-out parts: "
                             "use a catalog with both (cadfinder catalog build) and more --queries")
        mid, width, _ = fit(raw[train], match[train], increasing=True)
        values |= {f"{kind}_mid": mid, f"{kind}_width": width}
        shown = np.array([rising(x, mid, width) for x in raw[test]])
        y = match[test]
        report[kind] = {"fitted_on": int(train.sum()), "measured_on": int(test.sum()),
                        "mean_shown_score": round(float(shown.mean()), 3),
                        "share_of_asked_family": round(float(y.mean()), 3),
                        "log_loss": round(log_loss(shown, y), 3),
                        "shown_score_p5_p95": [round(float(np.percentile(shown, q)), 3) for q in (5, 95)],
                        "raw_score_p5_p95": [round(float(np.percentile(raw[test], q)), 3) for q in (5, 95)]}
    return values, report
