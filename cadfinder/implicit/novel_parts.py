"""Parts from outside the demo catalog's twelve families, built with the open kernel for the
reconstruction benchmark: blocks, plates and rings with random holes, slots, pockets and
cut-outs, in proportions from thin sheet to chunky block. No model ever trains on them.
Features keep a wall of at least 1.5 % of the diagonal between them, as drawn parts do.

Each part is a CadQuery solid tessellated as the catalog's parts are (chordal tolerance 0.1 % of
the diagonal); `build(n, seed)` is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh

KINDS = ("block", "plate", "ring", "stepped_block")


@dataclass
class NovelPart:
    name: str
    kind: str
    mesh: trimesh.Trimesh  # millimetres, watertight


class Footprint:
    """What a block's through-features occupy seen from above, rasterised, so that a new feature
    keeps at least `wall` (mm) of material to every earlier one: touching or tangent features
    leave walls of no thickness, which no part a designer draws has and no finite grid holds."""

    def __init__(self, half_x: float, half_y: float, wall: float, pixel: float):
        self.wall, self.pixel = wall, pixel
        self.x = np.arange(-half_x, half_x + pixel, pixel)
        self.y = np.arange(-half_y, half_y + pixel, pixel)
        self.taken = np.zeros((len(self.x), len(self.y)), bool)
        self.xx, self.yy = np.meshgrid(self.x, self.y, indexing="ij")

    def circle(self, x, y, d):
        return (self.xx - x) ** 2 + (self.yy - y) ** 2 <= (d / 2) ** 2

    def capsule(self, x, y, length, width, angle_deg):
        a = math.radians(angle_deg)
        u = (self.xx - x) * math.cos(a) + (self.yy - y) * math.sin(a)
        v = -(self.xx - x) * math.sin(a) + (self.yy - y) * math.cos(a)
        along = np.clip(np.abs(u) - (length - width) / 2, 0, None)
        return along**2 + v**2 <= (width / 2) ** 2

    def rect(self, x, y, w, h):
        return (np.abs(self.xx - x) <= w / 2) & (np.abs(self.yy - y) <= h / 2)

    def band_y(self, y, width):
        return np.abs(self.yy - y) <= width / 2

    def band_x(self, x, width):
        return np.abs(self.xx - x) <= width / 2

    def take(self, mask: np.ndarray, border: bool = True) -> bool:
        """Claim the mask if it keeps `wall` to everything taken (and to the outline): True if so."""
        from scipy import ndimage

        if not mask.any():
            return False
        clear = ndimage.distance_transform_edt(~self.taken) * self.pixel if self.taken.any() else None
        if clear is not None and clear[mask].min() < self.wall:
            return False
        if border:
            margin = np.minimum.reduce([self.xx - self.x[0], self.x[-1] - self.xx, self.yy - self.y[0],
                                        self.y[-1] - self.yy])
            if margin[mask].min() < self.wall:
                return False
        self.taken |= mask
        return True


def _cyl(x, y, d, depth):
    import cadquery as cq

    return cq.Workplane("XY").center(x, y).circle(d / 2).extrude(depth * 3).translate((0, 0, -depth * 1.5))


def _slot(x, y, length, width, angle, depth):
    import cadquery as cq

    return (cq.Workplane("XY").center(x, y).slot2D(length, width, angle).extrude(depth * 3)
            .translate((0, 0, -depth * 1.5)))


def _block(rng, kind: str):
    import cadquery as cq

    if kind == "plate":
        lx, ly = rng.uniform(60, 220), rng.uniform(30, 160)
        lz = rng.uniform(2.0, 8.0)
    else:
        lx, ly = rng.uniform(30, 140), rng.uniform(20, 110)
        lz = rng.uniform(12, 70)
    diag = math.sqrt(lx * lx + ly * ly + lz * lz)
    fp = Footprint(lx / 2, ly / 2, wall=0.015 * diag, pixel=min(lx, ly) / 300)
    body = cq.Workplane("XY").box(lx, ly, lz)
    if kind == "stepped_block":
        sx, sz = lx * rng.uniform(0.3, 0.6), lz * rng.uniform(0.3, 0.6)
        body = body.cut(cq.Workplane("XY").box(sx, ly, sz).translate((lx / 2 - lx * 0.15, 0, lz / 2)))
        fp.taken |= fp.band_x(lx / 2 - lx * 0.15 - sx / 2, fp.pixel)  # the step's wall
    holes, slots = int(rng.integers(1, 9)), int(rng.integers(0, 3))
    for _ in range(holes * 8):  # tries
        if not holes:
            break
        d = float(rng.uniform(0.025, 0.09) * diag)
        x, y = float(rng.uniform(-lx / 2, lx / 2)), float(rng.uniform(-ly / 2, ly / 2))
        if fp.take(fp.circle(x, y, d)):
            body = body.cut(_cyl(x, y, d, lz))
            holes -= 1
    for _ in range(slots * 8):
        if not slots:
            break
        width = rng.uniform(0.03, 0.06) * diag
        length = max(rng.uniform(0.15, 0.35) * lx, width * 1.2)
        x, y = rng.uniform(-0.3, 0.3) * lx, rng.uniform(-0.3, 0.3) * ly
        angle = float(rng.choice([0.0, 90.0, 30.0]))
        if fp.take(fp.capsule(x, y, length, width, angle)):
            body = body.cut(_slot(x, y, length, width, angle, lz))
            slots -= 1
    if kind != "plate" and rng.random() < 0.7:
        # A blind pocket from the top face.
        px, py, pd = rng.uniform(0.2, 0.4) * lx, rng.uniform(0.2, 0.4) * ly, rng.uniform(0.2, 0.5) * lz
        cx, cy = rng.uniform(-0.2, 0.2) * lx, rng.uniform(-0.2, 0.2) * ly
        if fp.take(fp.rect(cx, cy, px, py)):
            body = body.cut(cq.Workplane("XY").box(px, py, pd).translate((cx, cy, lz / 2 - pd / 2 + 0.01)))
    if kind != "plate" and rng.random() < 0.5:
        # A cross hole through the side, clear of everything from above.
        d = rng.uniform(0.05, 0.2) * lz
        y = rng.uniform(-0.3, 0.3) * ly
        if fp.take(fp.band_y(y, d), border=False):
            body = body.cut(cq.Workplane("YZ").circle(d / 2).extrude(lx * 2).translate((-lx, y, 0)))
    return body


def _ring(rng):
    import cadquery as cq

    od = rng.uniform(40, 200)
    idia = od * rng.uniform(0.3, 0.8)
    t = rng.uniform(3, 0.5 * od)
    body = cq.Workplane("XY").circle(od / 2).circle(idia / 2).extrude(t)
    n = int(rng.integers(0, 9))
    if n:
        wall = (od - idia) / 2
        d = wall * rng.uniform(0.25, 0.55)
        r = (od + idia) / 4
        for k in range(n):
            a = 2 * math.pi * k / n
            body = body.cut(cq.Workplane("XY").center(r * math.cos(a), r * math.sin(a)).circle(d / 2)
                            .extrude(t * 3).translate((0, 0, -t)))
    if rng.random() < 0.5:
        # Radial holes through the wall.
        d = min(t * 0.5, (od - idia) * 0.4)
        for k in range(int(rng.integers(1, 4))):
            a = 2 * math.pi * k / 3
            body = body.cut(cq.Workplane("XY").circle(d / 2).extrude(od).translate((0, 0, t / 2))
                            .rotate((0, 0, t / 2), (0, 1, t / 2), 90).rotate((0, 0, 0), (0, 0, 1), math.degrees(a)))
    if rng.random() < 0.5:
        # A keyway in the bore.
        w = idia * rng.uniform(0.1, 0.25)
        body = body.cut(cq.Workplane("XY").box(w, w, t * 3).translate((idia / 2, 0, t / 2)))
    return body


def _tessellate(shape) -> trimesh.Trimesh:
    bb = shape.BoundingBox()
    tol = max(0.01, 1e-3 * bb.DiagonalLength)
    verts, tris = shape.tessellate(tol, 0.2)
    m = trimesh.Trimesh(np.array([(p.x, p.y, p.z) for p in verts]), np.asarray(tris, np.int64), process=True)
    m.merge_vertices(digits_vertex=6)
    trimesh.repair.fix_normals(m)
    return m


def build_one(seed: int, index: int) -> NovelPart | None:
    """One random part (None when the kernel fails on the draw or the solid is not watertight)."""
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    try:
        wp = _ring(rng) if kind == "ring" else _block(rng, kind)
        mesh = _tessellate(wp.val())
    except Exception:  # the open kernel rejects some random draws; the caller draws again
        return None
    if not mesh.is_watertight or len(mesh.split(only_watertight=False)) != 1:
        return None
    return NovelPart(f"NOVEL-{kind}-{index:03d}", kind, mesh)


def build(n: int, seed: int = 7) -> list[NovelPart]:
    """n parts, the kinds in turn."""
    out, index = [], 0
    while len(out) < n and index < n * 5:
        p = build_one(seed, index)
        index += 1
        if p is not None:
            out.append(p)
    return out
