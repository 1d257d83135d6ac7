"""Near-duplicate parts: latent neighbours confirmed by comparing their surfaces.

For every part, its nearest latents (HNSW) are candidates; a pair is a near-duplicate when the
symmetric mean surface distance between the two canonical shapes is at most the threshold and
their real sizes agree within 5%.
"""

from __future__ import annotations

import psycopg

from cadfinder.geometry.compare import shape_distance
from cadfinder.stored import unpack_surface


def find(conn: psycopg.Connection, threshold: float = 0.01, neighbours: int = 5,
         max_size_ratio: float = 1.05) -> list[dict]:
    rows = conn.execute(
        """SELECT a.part_number, a.name, a.norm_scale, a.surface_sample, n.part_number, n.name, n.norm_scale,
                  n.surface_sample
             FROM cad_models a
             CROSS JOIN LATERAL (
                  SELECT b.part_number, b.name, b.norm_scale, b.surface_sample FROM cad_models b
                   WHERE b.id <> a.id AND b.sdf_latent IS NOT NULL
                   ORDER BY b.sdf_latent <=> a.sdf_latent LIMIT %s) n
            WHERE a.sdf_latent IS NOT NULL AND a.part_number < n.part_number""",
        (neighbours,),
    ).fetchall()
    conn.commit()
    pairs = []
    for pa, na, sa, blob_a, pb, nb, sb, blob_b in rows:
        if blob_a is None or blob_b is None:
            continue
        ratio = max(sa, sb) / max(min(sa, sb), 1e-12)
        if ratio > max_size_ratio:
            continue
        d = shape_distance(unpack_surface(blob_a)[0], unpack_surface(blob_b)[0])
        if d <= threshold:
            pairs.append({"a": pa, "b": pb, "distance": d, "size_ratio": ratio, "a_name": na, "b_name": nb})
    pairs.sort(key=lambda p: p["distance"])
    return pairs
