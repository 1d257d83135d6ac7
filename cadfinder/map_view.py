"""What the library map shows, without Qt: colours, the view (pan and zoom), hit tests, lasso,
and the picture itself, rasterised with numpy.

The app's map canvas (cadfinder.gui.map_canvas) only forwards mouse events here and paints the
(H, W, 4) image `render` returns; `cadfinder map show --png` writes the same picture. Drawing
100,000 dots is a few array writes (docs/library-map.md has the frame times), so pan and zoom
redraw everything every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cadfinder.library_map import LibraryMap

COLOUR_BY = ("family", "material", "mass")
PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229)], np.uint8)
_RAMP = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], float)  # low -> high
UNKNOWN = np.array((170, 170, 170), np.uint8)
DIMMED = np.array((225, 225, 225), np.uint8)
BACKGROUND = np.array((255, 255, 255, 255), np.uint8)
RESULT, SELECTED, QUERY = (0, 0, 0), (230, 20, 20), (230, 20, 20)
HIT_RADIUS_PX = 6


@dataclass
class Legend:
    entries: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)


def colours(lmap: LibraryMap, by: str) -> tuple[np.ndarray, Legend]:
    """(N, 3) uint8 point colours and their legend: a palette for family or material (the most
    common first; the 20th colour and on repeat), a ramp over log mass."""
    n = len(lmap)
    if by == "mass":
        m = np.log10(np.clip(lmap.mass_kg, 1e-6, None))
        ok = np.isfinite(lmap.mass_kg) & (lmap.mass_kg > 0)
        out = np.tile(UNKNOWN, (n, 1))
        if ok.any():
            lo, hi = np.quantile(m[ok], [0.02, 0.98])
            t = np.clip((m[ok] - lo) / max(hi - lo, 1e-9), 0, 1) * (len(_RAMP) - 1)
            k = np.minimum(t.astype(int), len(_RAMP) - 2)
            f = (t - k)[:, None]
            out[ok] = (_RAMP[k] * (1 - f) + _RAMP[k + 1] * f).astype(np.uint8)
            return out, Legend([(f"{10**lo:.3g} kg", tuple(_RAMP[0].astype(int))),
                                (f"{10**hi:.3g} kg", tuple(_RAMP[-1].astype(int)))])
        return out, Legend([("mass unknown", tuple(UNKNOWN))])
    if by not in COLOUR_BY:
        raise ValueError(f"colour by one of {', '.join(COLOUR_BY)}, not {by!r}")
    values = lmap.family if by == "family" else lmap.material
    names, counts = np.unique([v or "" for v in values], return_counts=True)
    order = [str(names[i]) for i in np.argsort(-counts, kind="stable")]
    code = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(order)}
    out = np.array([code[v or ""] for v in values], np.uint8).reshape(-1, 3)
    return out, Legend([(name or "unknown", tuple(int(c) for c in code[name])) for name in order])


class MapView:
    """A LibraryMap seen through a window of `size` pixels: the view transform, the colouring,
    which parts are results, selected or filtered out, and where the query landed."""

    def __init__(self, lmap: LibraryMap, size: tuple[int, int] = (600, 400)):
        self.lmap = lmap
        self.size = size  # (width, height) px
        self.colour_by = "family"
        self.rgb, self.legend = colours(lmap, self.colour_by)
        self.kept = np.ones(len(lmap), bool)  # False: filtered out (dimmed)
        self.results = np.zeros(0, int)  # rows of the current results
        self.selected: int | None = None
        self.query_xy: np.ndarray | None = None
        self._tree = None
        self.fitted = True  # showing everything, until the user zooms or pans (a resize then refits)
        self.fit()

    # -- view ---------------------------------------------------------------------------------

    def fit(self) -> None:
        """Show every point, with a margin."""
        w, h = self.size
        self.fitted = True
        if len(self.lmap) == 0:
            self.centre, self.scale = np.zeros(2), 1.0
            return
        lo, hi = self.lmap.xy.min(axis=0), self.lmap.xy.max(axis=0)
        self.centre = (lo + hi) / 2
        span = np.maximum(hi - lo, 1e-6)
        self.scale = 0.92 * min(w / span[0], h / span[1])  # px per map unit

    def resize(self, size: tuple[int, int]) -> None:
        """A new window size; a map still showing everything is fitted to it again."""
        new = (max(1, int(size[0])), max(1, int(size[1])))
        if new != self.size:
            self.size = new
            if self.fitted:
                self.fit()

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        """Map units -> pixel coordinates (x right, y down)."""
        w, h = self.size
        p = (np.asarray(xy, float) - self.centre) * self.scale
        return np.stack([p[..., 0] + w / 2, h / 2 - p[..., 1]], -1)

    def from_px(self, px: np.ndarray) -> np.ndarray:
        w, h = self.size
        p = np.asarray(px, float)
        return np.stack([(p[..., 0] - w / 2) / self.scale, (h / 2 - p[..., 1]) / self.scale], -1) + self.centre

    def zoom(self, factor: float, at_px: tuple[float, float] | None = None) -> None:
        """Zoom by `factor` keeping the map point under `at_px` (default: the centre) in place."""
        at = np.asarray(at_px if at_px is not None else (self.size[0] / 2, self.size[1] / 2), float)
        before = self.from_px(at)
        self.fitted = False
        self.scale = float(np.clip(self.scale * factor, 1e-6, 1e9))
        self.centre = self.centre + before - self.from_px(at)

    def pan(self, dx_px: float, dy_px: float) -> None:
        self.fitted = False
        self.centre = self.centre - np.array([dx_px, -dy_px]) / self.scale

    # -- what is shown ------------------------------------------------------------------------

    def set_colour_by(self, by: str) -> None:
        self.rgb, self.legend = colours(self.lmap, by)
        self.colour_by = by

    def set_kept(self, part_numbers: set[str] | None) -> None:
        """Dim the parts the filters drop (None: keep all)."""
        if part_numbers is None:
            self.kept = np.ones(len(self.lmap), bool)
        else:
            self.kept = np.array([pn in part_numbers for pn in self.lmap.part_numbers], bool)

    def set_results(self, part_numbers: list[str], scores: list[float]) -> None:
        from cadfinder.library_map import query_position

        self.results = np.array([self.lmap.index[pn] for pn in part_numbers if pn in self.lmap.index], int)
        self.query_xy = query_position(self.lmap, part_numbers, scores)

    def select(self, part_number: str | None) -> None:
        self.selected = self.lmap.index.get(part_number) if part_number else None

    # -- hit tests ----------------------------------------------------------------------------

    def nearest(self, px: tuple[float, float], radius_px: float = HIT_RADIUS_PX) -> int | None:
        """The row of the point nearest the pixel, if within `radius_px`."""
        if len(self.lmap) == 0:
            return None
        if self._tree is None:
            from cadfinder.geometry.nearest import NearestTree

            self._tree = NearestTree(np.column_stack([self.lmap.xy, np.zeros(len(self.lmap))]))
        d, i = self._tree.query(np.append(self.from_px(np.asarray(px, float)), 0.0)[None])
        return int(i[0]) if d[0] * self.scale <= radius_px else None

    def lasso(self, polygon_px: np.ndarray) -> np.ndarray:
        """Rows of the points inside a closed polygon drawn in pixels ((M, 2), M >= 3), among those
        the filters keep (even-odd rule)."""
        poly = np.asarray(polygon_px, float)
        if len(poly) < 3 or len(self.lmap) == 0:
            return np.zeros(0, int)
        p = self.to_px(self.lmap.xy)
        x, y = p[:, 0:1], p[:, 1:2]
        x0, y0 = poly[:, 0], poly[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / np.where(y1 == y0, 1e-12, y1 - y0) + x0)
        inside = (crosses.sum(axis=1) % 2 == 1) & self.kept
        return np.flatnonzero(inside)

    # -- the picture --------------------------------------------------------------------------

    def render(self) -> np.ndarray:
        """The map as an (H, W, 4) uint8 RGBA image: filtered-out parts pale, the rest in their
        colours, results ringed in black, the selected part and the query in red."""
        w, h = self.size
        img = np.empty((h, w, 4), np.uint8)
        img[:] = BACKGROUND
        if len(self.lmap) == 0:
            return img
        p = np.round(self.to_px(self.lmap.xy)).astype(np.int64)
        dim = ~self.kept
        _dots(img, p[dim], np.broadcast_to(DIMMED, (int(dim.sum()), 3)), 1)
        _dots(img, p[~dim], self.rgb[~dim], 1 if len(self.lmap) > 20000 else 2 if len(self.lmap) > 3000 else 3)
        if len(self.results):
            _rings(img, p[self.results], RESULT, 4)
        if self.selected is not None:
            _rings(img, p[[self.selected]], SELECTED, 6)
        if self.query_xy is not None:
            q = np.round(self.to_px(self.query_xy[None])).astype(np.int64)
            _cross(img, q[0], QUERY, 8)
        return img


def _dots(img: np.ndarray, p: np.ndarray, rgb: np.ndarray, r: int) -> None:
    """Filled squares of half-width r (later points over earlier ones)."""
    h, w = img.shape[:2]
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            if dx * dx + dy * dy > r * r + 1:
                continue
            x, y = p[:, 0] + dx, p[:, 1] + dy
            ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            img[y[ok], x[ok], :3] = rgb[ok]


def _rings(img: np.ndarray, p: np.ndarray, rgb, r: int) -> None:
    h, w = img.shape[:2]
    t = np.linspace(0, 2 * np.pi, 8 * r, endpoint=False)
    for dr in (0, 1):
        off = np.round(np.column_stack([np.cos(t), np.sin(t)]) * (r + dr)).astype(np.int64)
        q = (p[:, None, :] + off[None]).reshape(-1, 2)
        ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
        img[q[ok, 1], q[ok, 0], :3] = rgb


def _cross(img: np.ndarray, c: np.ndarray, rgb, r: int) -> None:
    h, w = img.shape[:2]
    for t in range(-r, r + 1):
        for dx, dy in ((t, 0), (0, t), (t, 1), (1, t)):
            x, y = c[0] + dx, c[1] + dy
            if 0 <= x < w and 0 <= y < h:
                img[y, x, :3] = rgb
