"""A shape signature that ignores pose, size and handedness: the duplicate analysis's candidates.

A part's stored surface sample is in its own canonical frame, which keeps the part's pose: a
rotated copy of a part has another DeepSDF latent and another sample. The signature is made of
distributions that do not change under rotation, translation, uniform scale or mirroring:

- the D2 shape distribution (Osada et al. 2002): distances between random pairs of surface points;
- the distances of surface points from the centroid;
- the angles between each surface normal and the direction from the centroid (flat, curved);
- the principal variances' shares (elongated, flat or round).

Distances are in units of the sample's RMS radius. Histograms are stored as square roots, so the
Euclidean distance between two signatures is their Hellinger distance (robust to a few bins
moving), and each block is weighted to count about as much as the others.
"""

from __future__ import annotations

import numpy as np

VERSION = "sig1"
D2_BINS, RADIAL_BINS, ANGLE_BINS = 32, 16, 8
D2_RANGE, RADIAL_RANGE = 3.5, 2.5  # RMS radii
D2_PAIRS = 32768
DIMENSIONS = D2_BINS + RADIAL_BINS + ANGLE_BINS + 3
_WEIGHTS = (1.0, 0.8, 0.6, 1.5)  # D2, radial, angle, variances


def _hist(values: np.ndarray, bins: int, top: float) -> np.ndarray:
    h = np.bincount(np.clip((values * (bins / top)).astype(np.int64), 0, bins - 1), minlength=bins)
    return np.sqrt(h / max(h.sum(), 1))


def signature(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) surface points with (N, 3) unit normals, any frame and unit -> (DIMENSIONS,) float32.

    The pairs of the D2 distribution are drawn from a fixed seed, so a part's signature is the
    same every time it is computed.
    """
    p = np.asarray(points, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) < 8 or not np.isfinite(p).all():
        raise ValueError("a signature needs at least 8 finite (x, y, z) surface points")
    d = p - p.mean(axis=0)
    rms = float(np.sqrt((d**2).sum(axis=1).mean()))
    if rms <= 0:
        raise ValueError("degenerate surface sample: all points coincide")
    d /= rms
    r = np.linalg.norm(d, axis=1)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(p), D2_PAIRS), rng.integers(0, len(p), D2_PAIRS)
    d2 = np.linalg.norm(d[i] - d[j], axis=1)
    cos = np.abs((n * d).sum(axis=1)) / np.maximum(r, 1e-9)
    var = np.linalg.eigvalsh(d.T @ d / len(d))[::-1]
    blocks = (_hist(d2, D2_BINS, D2_RANGE), _hist(r, RADIAL_BINS, RADIAL_RANGE),
              _hist(cos, ANGLE_BINS, 1.0 + 1e-9), np.sqrt(np.clip(var / var.sum(), 0, 1)))
    return np.concatenate([w * b for w, b in zip(_WEIGHTS, blocks)]).astype(np.float32)

