"""Hand-sketch look for line drawings: wobbly strokes, gaps, over-strokes, line widths.

Used to train the image tower so that canvas sketches land near the line drawings of the
parts they depict, and (with other seeds and a camera the training never used) to evaluate it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sketchify(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A grey uint8 line drawing (black on white) made to look hand-drawn."""
    h, w = img.shape
    ink = (255 - img.astype(np.float32)) / 255.0
    # Small global distortion: the sketch is never drawn to scale.
    ang = rng.normal(0, 0.05 * strength)
    sx, sy = np.exp(rng.normal(0, 0.08 * strength, 2))
    c, s = np.cos(ang), np.sin(ang)
    mat = np.array([[c / sy, -s / sy], [s / sx, c / sx]])
    centre = np.array([h / 2, w / 2])
    ink = ndimage.affine_transform(ink, mat, offset=centre - mat @ centre, order=1)
    # Wobble: a smooth random displacement field of a few pixels.
    amp = rng.uniform(0.5, 2.5) * strength
    smooth = rng.uniform(6, 14)
    dy = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), smooth)
    dx = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), smooth)
    dy *= amp / (np.abs(dy).max() + 1e-9)
    dx *= amp / (np.abs(dx).max() + 1e-9)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ink = ndimage.map_coordinates(ink, [yy + dy, xx + dx], order=1)
    # Over-strokes: part of the drawing traced again, slightly off.
    if rng.random() < 0.6 * strength:
        keep = ndimage.gaussian_filter(rng.random((h, w)), 4) > 0.5
        shifted = ndimage.shift(ink, rng.normal(0, 1.2, 2), order=1)
        ink = np.maximum(ink, shifted * keep)
    # Gaps: the pen lifts here and there.
    gaps = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(1.5, 3.0))
    ink = ink * (gaps > np.quantile(gaps, rng.uniform(0.0, 0.25) * strength))
    # Line width: thicker or thinner pens.
    width = int(rng.integers(-1, 3))
    if width > 0:
        ink = ndimage.grey_dilation(ink, size=(width + 1, width + 1))
    elif width < 0:
        ink = ink * (ink > 0.6)
    ink = np.clip(ink * rng.uniform(0.7, 1.0), 0, 1)
    return (255 - 255 * ink).astype(np.uint8)


OUTLINE_VIEWS = (0, 1)  # views.VIEWS: top and front, the views a designer draws as an outline
PAPER = 250  # a shaded render's background is white (255); anything darker is the part


def outline(shaded: np.ndarray) -> np.ndarray:
    """The silhouette's outline of a shaded render (grey uint8, part on white), 1-2 px black on white:
    what a designer draws of a part's front or top when only its shape matters."""
    mask = ndimage.binary_fill_holes(shaded < PAPER)
    edge = mask & ~ndimage.binary_erosion(mask)
    # Through-holes seen along the view are part of the outline too (the fill above closed them).
    holes = mask & (shaded >= PAPER)
    edge |= holes & ~ndimage.binary_erosion(holes)
    return np.where(ndimage.binary_dilation(edge), 0, 255).astype(np.uint8)


def dotted(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The strokes of a line drawing broken into dashes (a pen tapping along the line): ink kept
    in alternate cells of a checkerboard of 3-6 px, so a stroke in any direction alternates."""
    h, w = img.shape
    d = rng.uniform(3.0, 6.0)
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((np.floor((yy + rng.uniform(0, d)) / d) + np.floor((xx + rng.uniform(0, d)) / d)) % 2) == 0
    return np.where((img < 128) & on, 0, 255).astype(np.uint8)


def outline_sketch(shaded: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn outline of a shaded render: jittery strokes, dashed half the time."""
    line = outline(shaded)
    return sketchify(dotted(line, rng) if rng.random() < 0.5 else line, rng, strength=1.2)
