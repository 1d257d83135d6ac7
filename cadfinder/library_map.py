"""The library map: every part as a point in a 2-D projection of its 256-d shape latent.

The projection is openTSNE's t-SNE on cosine distances (docs/library-map.md: compared with UMAP),
made by an admin (`cadfinder map build`, or the app's map panel) after the library changes and
stored in `library_map`, so every designer sees the same map without computing it. A part
ingested after the map was made has no position until the next build; `load` counts them.

A query lands on the map where its results are: the score-weighted mean position of its best
results (text and sketch queries have no shape latent to project).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cadfinder.pipeline import Compute, Fetch, Pipeline

PERPLEXITY = 30
QUERY_NEIGHBOURS = 5  # results that place a query on the map


@dataclass
class LibraryMap:
    """The stored map: N parts with their (N, 2) positions (projection units) and what the points
    may be coloured by."""

    part_numbers: list[str]
    xy: np.ndarray  # (N, 2) float32
    names: list[str]
    family: list[str | None]
    material: list[str | None]
    mass_kg: np.ndarray  # (N,) float, NaN where unknown
    missing: int = 0  # parts with a latent but no position (ingested after the map was made)
    made_at: str | None = None
    index: dict = field(default_factory=dict)  # part number -> row

    def __post_init__(self):
        self.index = {pn: k for k, pn in enumerate(self.part_numbers)}

    def __len__(self) -> int:
        return len(self.part_numbers)


def project(latents: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, D) latents -> (N, 2) float32 positions: t-SNE on cosine distances (openTSNE, FFT
    gradients). Fewer than 8 parts are laid out by their two principal components."""
    x = np.asarray(latents, dtype=np.float64)
    if len(x) < 8:
        c = x - x.mean(axis=0)
        if len(x) < 2:
            return np.zeros((len(x), 2), np.float32)
        _, _, vt = np.linalg.svd(c, full_matrices=False)
        out = np.zeros((len(x), 2))
        proj = c @ vt[:2].T
        out[:, : proj.shape[1]] = proj
        return out.astype(np.float32)
    from openTSNE import TSNE

    tsne = TSNE(perplexity=min(PERPLEXITY, (len(x) - 1) / 3), metric="cosine", n_jobs=-1, random_state=seed,
                verbose=False)
    return np.asarray(tsne.fit(x), dtype=np.float32)


def build() -> Pipeline:
    """Project every part that has a latent and store the map (replacing the old one, in one
    statement). Returns the number of parts placed."""
    rows = yield Fetch("SELECT id, sdf_latent FROM cad_models WHERE sdf_latent IS NOT NULL ORDER BY part_number, "
                       "revision")
    if not rows:
        yield Fetch("WITH gone AS (DELETE FROM library_map RETURNING 1) SELECT count(*) FROM gone")
        return 0
    latents = np.array([r[1].to_numpy() for r in rows], np.float32)
    xy = yield Compute(project, (latents,), "projecting")
    ids = [r[0] for r in rows]
    # One statement: both parts see the same snapshot, so the old rows are updated, not deleted.
    done = yield Fetch("WITH placed AS (INSERT INTO library_map (model_id, x, y) "
                       "SELECT * FROM unnest(%s::uuid[], %s::real[], %s::real[]) ON CONFLICT (model_id) DO UPDATE "
                       "SET x = EXCLUDED.x, y = EXCLUDED.y, made_at = now() RETURNING 1), "
                       "gone AS (DELETE FROM library_map WHERE model_id <> ALL(%s::uuid[])) SELECT count(*) FROM placed",
                       (ids, xy[:, 0].tolist(), xy[:, 1].tolist(), ids))
    return int(done[0][0])


def load() -> Pipeline:
    """The stored map (a LibraryMap; empty when none was built)."""
    rows = yield Fetch("SELECT m.part_number, p.x, p.y, m.family, m.material, m.mass_kg, p.made_at, m.name "
                       "FROM library_map p JOIN cad_models m ON m.id = p.model_id ORDER BY m.part_number")
    missing = yield Fetch("SELECT count(*) FROM cad_models m WHERE sdf_latent IS NOT NULL AND NOT EXISTS "
                          "(SELECT 1 FROM library_map p WHERE p.model_id = m.id)")
    xy = np.array([(r[1], r[2]) for r in rows], np.float32).reshape(-1, 2)
    mass = np.array([np.nan if r[5] is None else r[5] for r in rows], float)
    made = max((r[6] for r in rows), default=None)
    return LibraryMap([r[0] for r in rows], xy, [r[7] for r in rows], [r[3] for r in rows], [r[4] for r in rows], mass,
                      int(missing[0][0]), made.isoformat(timespec="seconds") if made else None)


def kept_by(filters: list) -> Pipeline:
    """The part numbers whitelisted search filters keep (the map dims the rest)."""
    from psycopg import sql

    from cadfinder.filters import to_sql

    cond, params = to_sql(filters)
    rows = yield Fetch(sql.SQL("SELECT part_number FROM cad_models WHERE {}").format(cond), params)
    return {r[0] for r in rows}


def query_position(lmap: LibraryMap, part_numbers: list[str], scores: list[float]) -> np.ndarray | None:
    """Where a query lands: the (2,) score-weighted mean position of its best results that are on
    the map (scores clipped at 0; equal weights when none is positive), or None."""
    rows = [(lmap.index[pn], max(float(s), 0.0)) for pn, s in zip(part_numbers, scores) if pn in lmap.index]
    rows = rows[:QUERY_NEIGHBOURS]
    if not rows:
        return None
    idx = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    w = w if w.sum() > 0 else np.ones(len(w))
    return (lmap.xy[idx] * w[:, None]).sum(axis=0) / w.sum()
