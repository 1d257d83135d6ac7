"""A part's image-side embeddings: its rendered views and their pooled vector.

Written at ingestion, and by `cadfinder embed` for parts ingested before (or with other) CLIP
weights: that works from the database alone (the stored mesh and canonical frame).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from cadfinder.embeddings.model import ClipModel


@dataclass
class PartEmbeddings:
    views: np.ndarray  # (K, 2, 512): per view, shaded and line drawing
    image: np.ndarray  # (512,) normalised mean of all views
    version: str


def embed_part(cm: ClipModel, canonical_mesh) -> PartEmbeddings:
    """Render the canonical views of a part (canonical frame) and embed them."""
    from cadfinder.views import render_views

    views = render_views(canonical_mesh)
    k, s = views.shape[0], views.shape[-1]
    emb = cm.embed_images(views.reshape(k * 2, s, s)).reshape(k, 2, -1)
    pooled = emb.reshape(k * 2, -1).mean(axis=0)
    pooled /= max(float(np.linalg.norm(pooled)), 1e-9)
    return PartEmbeddings(emb.astype(np.float32), pooled.astype(np.float32), cm.version)


def store(conn, model_id, e: PartEmbeddings) -> None:
    """Replace a part's view embeddings and vectors (inside the caller's transaction)."""
    conn.execute("DELETE FROM part_views WHERE model_id = %s", (model_id,))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO part_views (model_id, view, style, embedding) VALUES (%s, %s, %s, %s)",
                        [(model_id, v, s, e.views[v, s]) for v in range(e.views.shape[0]) for s in (0, 1)])
    conn.execute("UPDATE cad_models SET image_embedding = %s, clip_version = %s WHERE id = %s",
                 (e.image, e.version, model_id))


def backfill(conn, cm: ClipModel, everything: bool = False, progress: bool = True) -> dict:
    """Embed the views of parts whose embeddings are missing or from other weights; resumable
    (one transaction per part). Returns counts."""
    from tqdm import tqdm

    from cadfinder.stored import canonical_mesh

    ids = [r[0] for r in conn.execute(
        "SELECT id FROM cad_models WHERE mesh_data IS NOT NULL AND (%s OR clip_version IS DISTINCT FROM %s) "
        "ORDER BY part_number", (everything, cm.version)).fetchall()]
    conn.commit()
    done, failed, errors = 0, 0, []
    for model_id in tqdm(ids, desc="embed views", unit="part", disable=not progress or not ids, file=sys.stderr):
        pn, blob, fmt, off, scale = conn.execute(
            "SELECT part_number, mesh_data, mesh_format, norm_offset, norm_scale FROM cad_models "
            "WHERE id = %s", (model_id,)).fetchone()
        conn.commit()
        try:
            e = embed_part(cm, canonical_mesh(blob, fmt, off, scale))
        except Exception as ex:  # one unreadable stored mesh must not stop the rest
            failed += 1
            errors.append(f"{pn}: {type(ex).__name__}: {ex}")
            continue
        with conn.transaction():
            store(conn, model_id, e)
        done += 1
    return {"embedded": done, "failed": failed, "errors": errors[:20], "clip_version": cm.version}
