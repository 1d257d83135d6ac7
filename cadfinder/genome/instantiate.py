"""Instantiate a genome with the open kernel (CadQuery on OpenCascade): B-rep, STEP, mesh.

Each feature of the tree becomes CadQuery operations on one solid; dimensions are the
genome's expressions evaluated over its parameters, so editing a parameter and instantiating
again changes the part accordingly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from cadfinder.errors import GenomeError
from cadfinder.genome import expressions
from cadfinder.genome.validate import check, is_creo_tree, parameter_values

PLANES = {"XY": "XY", "YZ": "YZ", "ZX": "ZX", "XZ": "XZ", "YX": "YX", "ZY": "ZY"}


@dataclass
class Instance:
    """A genome made solid."""

    shape: object  # cadquery.Shape (a Solid or Compound)
    genome: dict

    @property
    def volume_mm3(self) -> float:
        return float(self.shape.Volume())

    @property
    def area_mm2(self) -> float:
        return float(self.shape.Area())

    def center_of_mass(self) -> np.ndarray:
        import cadquery as cq

        c = cq.Shape.centerOfMass(self.shape)
        return np.array([c.x, c.y, c.z])

    def export_step(self, path: str | Path) -> Path:
        import cadquery as cq

        path = Path(path)
        cq.exporters.export(self.shape, str(path), exportType="STEP")
        return path

    def mesh(self, tolerance: float | None = None, angular: float = 0.2) -> trimesh.Trimesh:
        """Tessellate with a chordal tolerance (default 0.1% of the diagonal, at least 0.01 mm)."""
        bb = self.shape.BoundingBox()
        tol = tolerance or max(0.01, 1e-3 * bb.DiagonalLength)
        verts, tris = self.shape.tessellate(tol, angular)
        v = np.array([(p.x, p.y, p.z) for p in verts], dtype=np.float64)
        m = trimesh.Trimesh(v, np.asarray(tris, dtype=np.int64), process=True)
        m.merge_vertices(digits_vertex=6)
        trimesh.repair.fix_normals(m)
        return m


class _Builder:
    def __init__(self, genome: dict):
        self.g = genome
        self.p = parameter_values(genome)

    def ev(self, expr, what: str) -> float:
        try:
            return expressions.evaluate(expr, self.p)
        except expressions.ExpressionError as e:
            raise GenomeError(f"{what}: {e}") from None

    def positive(self, expr, what: str) -> float:
        v = self.ev(expr, what)
        if v <= 0:
            raise GenomeError(f"{what} must be positive, is {v:g}")
        return v

    def points(self, placement: dict | None, fid: str) -> list[tuple[float, float]]:
        placement = placement or {}
        pts = [(self.ev(x, f"{fid}.at"), self.ev(y, f"{fid}.at")) for x, y in placement.get("at", [])]
        pat = placement.get("pattern")
        if pat and pat["kind"] == "polar":
            n = round(self.positive(pat["count"], f"{fid}.pattern.count"))
            r = self.ev(pat["radius"], f"{fid}.pattern.radius")
            a0 = math.radians(self.ev(pat.get("start_angle", 0), f"{fid}.pattern.start_angle"))
            pts += [(r * math.cos(a0 + 2 * math.pi * i / n), r * math.sin(a0 + 2 * math.pi * i / n)) for i in range(n)]
        elif pat:
            nx = round(self.positive(pat["nx"], f"{fid}.pattern.nx"))
            ny = round(self.positive(pat["ny"], f"{fid}.pattern.ny"))
            px, py = self.ev(pat["pitch_x"], f"{fid}.pattern.pitch_x"), self.ev(pat["pitch_y"], f"{fid}.pattern.pitch_y")
            pts += [((i - (nx - 1) / 2) * px, (j - (ny - 1) / 2) * py) for i in range(nx) for j in range(ny)]
        return pts or [(0.0, 0.0)]

    def workplane(self, solid, sketch: dict | None, fid: str):
        import cadquery as cq

        sketch = sketch or {}
        if sketch.get("face"):
            if solid is None:
                raise GenomeError(f"{fid}: a sketch on a face needs an earlier feature")
            try:
                wp = solid.faces(sketch["face"]).workplane(centerOption="ProjectedOrigin", origin=(0, 0, 0))
            except Exception as e:
                raise GenomeError(f"{fid}: face {sketch['face']!r} is not a single planar face ({_msg(e)})") from None
        else:
            wp = cq.Workplane(PLANES[sketch.get("plane", "XY")])
        off = self.ev(sketch.get("offset", 0), f"{fid}.sketch.offset")
        if off:
            wp = wp.workplane(offset=off)
        return wp

    def profile(self, wp, prof: dict, pts, fid: str):
        shape = prof["shape"]
        if shape == "rect":
            w, h = self.positive(prof["width"], f"{fid}.width"), self.positive(prof["height"], f"{fid}.height")
            c = self._center(prof, fid)
            return wp.pushPoints([(x + c[0], y + c[1]) for x, y in pts]).rect(w, h)
        if shape == "circle":
            d = self.positive(prof["diameter"], f"{fid}.diameter")
            c = self._center(prof, fid)
            wp = wp.pushPoints([(x + c[0], y + c[1]) for x, y in pts]).circle(d / 2)
            if prof.get("inner_diameter") is not None:
                di = self.positive(prof["inner_diameter"], f"{fid}.inner_diameter")
                if di >= d:
                    raise GenomeError(f"{fid}: inner diameter {di:g} must be smaller than the diameter {d:g}")
                wp = wp.pushPoints([(x + c[0], y + c[1]) for x, y in pts]).circle(di / 2)
            return wp
        if shape == "polygon":
            n = round(self.positive(prof["sides"], f"{fid}.sides"))
            if n < 3:
                raise GenomeError(f"{fid}: a polygon needs at least 3 sides")
            c = self._center(prof, fid)
            return wp.pushPoints([(x + c[0], y + c[1]) for x, y in pts]).polygon(n, self.positive(prof["diameter"], f"{fid}.diameter"))
        if shape == "slot":
            length = self.positive(prof["length"], f"{fid}.length")
            width = self.positive(prof["width"], f"{fid}.width")
            c = self._center(prof, fid)
            return wp.pushPoints([(x + c[0], y + c[1]) for x, y in pts]).slot2D(
                length, width, self.ev(prof.get("angle", 0), f"{fid}.angle"))
        if shape == "polyline":
            verts = [(self.ev(x, f"{fid}.points"), self.ev(y, f"{fid}.points")) for x, y in prof["points"]]
            # A parameter at zero (e.g. no hub) collapses an edge: drop the repeated vertex.
            verts = [v for i, v in enumerate(verts) if math.dist(v, verts[i - 1]) > 1e-6]
            if len(verts) < 3:
                raise GenomeError(f"{fid}: the polyline collapses to fewer than 3 distinct points")
            if len(pts) != 1 or pts[0] != (0.0, 0.0):
                raise GenomeError(f"{fid}: a polyline profile cannot be placed or patterned")
            return wp.polyline(verts).close()
        if shape == "gear":
            verts = gear_outline(self.positive(prof["module"], f"{fid}.module"),
                                 round(self.positive(prof["teeth"], f"{fid}.teeth")),
                                 self.ev(prof.get("pressure_angle", 20), f"{fid}.pressure_angle"))
            return wp.polyline(verts).close()
        raise GenomeError(f"{fid}: unknown profile shape {shape!r}")

    def _center(self, prof, fid):
        c = prof.get("center", [0, 0])
        return self.ev(c[0], f"{fid}.center"), self.ev(c[1], f"{fid}.center")

    def build(self):
        solid = None
        for f in self.g["features"]:
            if f.get("suppressed"):
                continue
            fid = f"feature {f['id']} ({f['type']})"
            try:
                solid = getattr(self, "_" + f["type"])(solid, f, fid)
            except GenomeError:
                raise
            except Exception as e:  # OpenCascade failures: fillet too big, empty boolean...
                raise GenomeError(f"{fid} failed in the kernel: {_msg(e)}") from None
            if solid is None or not solid.vals():
                raise GenomeError(f"{fid} left no solid")
        return solid

    def _extrude(self, solid, f, fid, cut=False):
        wp = self.workplane(solid, f.get("sketch"), fid)
        sk = self.profile(wp, f["profile"], self.points(f.get("placement"), fid), fid)
        if cut and f.get("through"):
            body = sk.extrude(self._big(solid), both=True)
        else:
            dist = self.ev(f.get("distance"), f"{fid}.distance") if f.get("distance") is not None else None
            if dist is None or dist == 0:
                raise GenomeError(f"{fid}: needs a non-zero distance (or through: true for a cut)")
            body = sk.extrude(dist, both=bool(f.get("symmetric")))
        if cut:
            if solid is None:
                raise GenomeError(f"{fid}: a cut needs an earlier feature")
            return solid.cut(body)
        return body if solid is None else solid.union(body)

    def _cut(self, solid, f, fid):
        return self._extrude(solid, f, fid, cut=True)

    def _big(self, solid):
        return 4 * solid.val().BoundingBox().DiagonalLength + 1

    def _revolve(self, solid, f, fid):
        wp = self.workplane(None, f.get("sketch") or {"plane": "XZ"}, fid)
        sk = self.profile(wp, f["profile"], [(0.0, 0.0)], fid)
        angle = self.ev(f.get("angle", 360), f"{fid}.angle")
        body = sk.revolve(angle, (0, 0, 0), (0, 1, 0))
        if f.get("operation") == "cut":
            if solid is None:
                raise GenomeError(f"{fid}: a cut needs an earlier feature")
            return solid.cut(body)
        return body if solid is None else solid.union(body)

    def _hole(self, solid, f, fid):
        """Drilled along the sketch plane's negative normal, from a face or a named plane (+offset)."""
        import cadquery as cq

        if solid is None:
            raise GenomeError(f"{fid}: a hole needs an earlier feature")
        sketch = f["sketch"]
        if sketch.get("face"):
            wp = self.workplane(solid, sketch, fid)
        else:
            plane = cq.Workplane(PLANES[sketch.get("plane", "XY")])
            off = self.ev(sketch.get("offset", 0), f"{fid}.sketch.offset")
            wp = solid.copyWorkplane(plane.workplane(offset=off) if off else plane)
        wp = wp.pushPoints(self.points(f.get("placement"), fid))
        d = self.positive(f["diameter"], f"{fid}.diameter")
        depth = None if f.get("through", f.get("depth") is None) else self.positive(f["depth"], f"{fid}.depth")
        if f.get("counterbore"):
            cb = f["counterbore"]
            return wp.cboreHole(d, self.positive(cb["diameter"], f"{fid}.counterbore.diameter"),
                                self.positive(cb["depth"], f"{fid}.counterbore.depth"), depth)
        if f.get("countersink"):
            cs = f["countersink"]
            return wp.cskHole(d, self.positive(cs["diameter"], f"{fid}.countersink.diameter"),
                              self.ev(cs.get("angle", 90), f"{fid}.countersink.angle"), depth)
        return wp.hole(d, depth)

    def _fillet(self, solid, f, fid):
        return solid.edges(f["edges"]).fillet(self.positive(f["radius"], f"{fid}.radius"))

    def _chamfer(self, solid, f, fid):
        return solid.edges(f["edges"]).chamfer(self.positive(f["length"], f"{fid}.length"))

    def _shell(self, solid, f, fid):
        return solid.faces(f["faces"]).shell(self.ev(f["thickness"], f"{fid}.thickness"))


def _msg(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def gear_outline(module: float, teeth: int, pressure_angle_deg: float = 20.0, flank_points: int = 6) -> list:
    """Closed polyline of an involute spur gear (standard addendum m, dedendum 1.25 m)."""
    if teeth < 6:
        raise GenomeError(f"a spur gear needs at least 6 teeth, not {teeth}")
    r = module * teeth / 2
    rb = r * math.cos(math.radians(pressure_angle_deg))
    ra = r + module
    rf = max(r - 1.25 * module, 0.2 * r)

    def inv(a):
        return math.tan(a) - a

    # Half tooth thickness angle at the pitch circle, plus involute offset.
    half = math.pi / (2 * teeth) + inv(math.radians(pressure_angle_deg))
    r_start = max(rb, rf)
    radii = [r_start + (ra - r_start) * i / (flank_points - 1) for i in range(flank_points)]
    flank = []
    for rr in radii:
        alpha = math.acos(min(1.0, rb / rr))
        flank.append((rr, half - inv(alpha)))
    pts = []
    pitch = 2 * math.pi / teeth
    for k in range(teeth):
        c = k * pitch
        tooth = [(rf, c - half - 0.0)] if rf < r_start else []
        tooth += [(rr, c - t) for rr, t in flank]
        tooth += [(rr, c + t) for rr, t in reversed(flank)]
        if rf < r_start:
            tooth.append((rf, c + half))
        for rr, th in tooth:
            pts.append((rr * math.cos(th), rr * math.sin(th)))
    return pts


def instantiate(genome: dict) -> Instance:
    """Validate and build the genome's solid; GenomeError says which feature failed and why."""
    check(genome)
    if is_creo_tree(genome):
        raise GenomeError("this part's feature tree is Creo's own (ingested from Creo): open it in Creo; "
                          "the open kernel cannot rebuild it")
    wp = _Builder(genome).build()
    if wp is None:
        raise GenomeError("every feature is suppressed: there is nothing to build")
    import cadquery as cq

    vals = wp.vals()
    shape = vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)
    solids = shape.Solids()
    if not solids:
        raise GenomeError("the genome produced no solid")
    if not shape.isValid():
        raise GenomeError("the genome produced an invalid solid (self-intersecting or broken topology)")
    volume, diagonal = shape.Volume(), shape.BoundingBox().DiagonalLength
    # OpenCascade calls these valid; found fuzzing (an outer diameter below the bore, a wall of 1e-12)
    if not math.isfinite(volume) or abs(volume) <= 1e-9 * diagonal ** 3:
        raise GenomeError("the genome produced a solid with no volume: a dimension is zero or nearly so")
    if volume < 0:
        raise GenomeError("the genome produced an inside-out solid (negative volume): a profile crosses itself, "
                          "e.g. an inner diameter larger than the outer one")
    return Instance(shape, genome)


def with_parameters(genome: dict, **values: float) -> dict:
    """A copy of the genome with some parameter values changed (validated by instantiate)."""
    import copy

    g = copy.deepcopy(genome)
    for k, v in values.items():
        if k not in g["parameters"]:
            raise GenomeError(f"no parameter {k!r} (has: {', '.join(g['parameters'])})")
        g["parameters"][k]["value"] = v
    return g
