"""Sensor noise out of a query scan before it is encoded and compared with library parts.

Each point moves onto the plane through its nearest neighbours (local PCA), by no more than a
few times the cloud's own noise level, which is estimated from the same planes: in a clean mesh
sample (noise ~0) flat faces and their sharp edges stay where they are, and a curved face moves
by no more than its sag across a neighbourhood (a 0.15-radius boss: under 0.005).

Why it matters: the re-rank judges a part by the mean distance of the scan to it. With noise of
spread sigma, a systematic gap d between the scan and a part (a plate 1 mm thicker, a hole
elsewhere) adds only about d^2 / sigma to that mean while d < sigma: the noise hides exactly the
small differences that tell a part from its siblings.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

NEIGHBOURS = 16
CLIP = 3.0  # the most a point moves, in noise levels


def noise_level(offsets: np.ndarray) -> float:
    """A robust spread (Gaussian sigma) of the points' distances from their local planes."""
    return float(np.median(np.abs(offsets)) / 0.6745)


def denoise(points: np.ndarray, neighbours: int = NEIGHBOURS, clip: float = CLIP) -> np.ndarray:
    """The points projected onto their local planes (see the module docstring)."""
    p = np.asarray(points, float)
    if len(p) <= neighbours:
        return p.copy()
    _, idx = cKDTree(p).query(p, neighbours)
    nb = p[idx]
    centre = nb.mean(1)
    u = nb - centre[:, None]
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", u, u))
    normal = vecs[:, :, 0]  # the direction of least spread
    offset = np.einsum("ni,ni->n", p - centre, normal)
    limit = clip * noise_level(offset)
    step = np.clip(offset, -limit, limit)
    return p - step[:, None] * normal
