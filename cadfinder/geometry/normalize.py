"""Canonical frames: catalog parts into the unit sphere (DeepSDF), queries by PCA with hypotheses.

A `Frame` maps millimetres to canonical coordinates and back:
    canonical = ((p_mm - offset) @ rotation) / scale,   p_mm = (canonical * scale) @ rotation.T + offset
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# DeepSDF leaves a small margin inside the unit sphere so decoded surfaces never touch the bound.
UNIT_SPHERE_MARGIN = 1.03


@dataclass(frozen=True)
class Frame:
    offset: np.ndarray  # (3,) mm
    scale: float  # mm per canonical unit
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: canonical axes in mm frame

    def to_canonical(self, p: np.ndarray) -> np.ndarray:
        return ((np.asarray(p, dtype=np.float64) - self.offset) @ self.rotation) / self.scale

    def to_mm(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) * self.scale) @ self.rotation.T + self.offset

    def as_dict(self) -> dict:
        return {"offset": self.offset.tolist(), "scale": float(self.scale), "rotation": self.rotation.tolist()}

    @staticmethod
    def from_dict(d: dict) -> "Frame":
        return Frame(np.asarray(d["offset"], float), float(d["scale"]), np.asarray(d.get("rotation", np.eye(3)), float))


def catalog_frame(vertices: np.ndarray) -> Frame:
    """The frame DeepSDF uses for training shapes: bounding-box centre, farthest vertex at 1/1.03."""
    v = np.asarray(vertices, dtype=np.float64)
    centre = (v.min(axis=0) + v.max(axis=0)) / 2
    radius = float(np.linalg.norm(v - centre, axis=1).max())
    if radius <= 0:
        raise ValueError("degenerate geometry: all vertices coincide")
    return Frame(centre, radius * UNIT_SPHERE_MARGIN)


def _proper_sign_flips() -> list[np.ndarray]:
    flips = []
    for sx in (1, -1):
        for sy in (1, -1):
            flips.append(np.diag([sx, sy, sx * sy]).astype(float))  # det = +1
    return flips


def pca_frames(points: np.ndarray, robust_quantile: float = 0.98) -> list[Frame]:
    """Pose/scale hypotheses for a query in unknown pose: PCA axes, largest variance first.

    The first hypothesis fixes each axis sign by the skewness (third moment) of the projections;
    the other three are the remaining proper sign flips, for when skewness is unreliable
    (symmetric parts, partial scans). Scale is a high quantile of the distance from the centroid,
    which a few outliers in a scan do not move.
    """
    p = np.asarray(points, dtype=np.float64)
    centre = p.mean(axis=0)
    d = p - centre
    cov = d.T @ d / len(p)
    evals, evecs = np.linalg.eigh(cov)
    axes = evecs[:, ::-1].copy()
    proj = d @ axes
    skew = (proj**3).mean(axis=0)
    for i in range(2):
        if skew[i] < 0:
            axes[:, i] *= -1
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    radius = float(np.quantile(np.linalg.norm(d, axis=1), robust_quantile)) * UNIT_SPHERE_MARGIN
    if radius <= 0:
        raise ValueError("degenerate point cloud: all points coincide")
    return [Frame(centre, radius, axes @ f) for f in _proper_sign_flips()]


def rotation_angle_deg(r1: np.ndarray, r2: np.ndarray) -> float:
    """Geodesic angle between two rotations, in degrees."""
    c = (np.trace(r1.T @ r2) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
