"""Genome generators for twelve families of real mechanical parts, with realistic ranges.

Each generator draws a part from a seeded random generator and returns (genome, name,
description). Dimensions are parameters with bounds; features reference them by expression,
so the bridge and parametric adaptation can change any of them.
"""

from __future__ import annotations

import re

import numpy as np

from cadfinder.genome import SCHEMA_ID

# Metric coarse-thread hex bolts (ISO 4017): size -> (across flats s, head height k)
HEX_BOLTS = {3: (5.5, 2.0), 4: (7, 2.8), 5: (8, 3.5), 6: (10, 4), 8: (13, 5.3), 10: (16, 6.4), 12: (18, 7.5),
             16: (24, 10), 20: (30, 12.5), 24: (36, 15)}
BOLT_LENGTHS = (10, 12, 16, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100, 120)


class Genome:
    """A small builder that keeps parameter names, feature ids and the Creo mapping consistent."""

    def __init__(self, family: str, material: str):
        self.family = family
        self.material = material
        self.params: dict = {}
        self.features: list = []

    def p(self, name, value, unit="mm", lo=None, hi=None, integer=False, desc=""):
        value = int(value) if integer else round(float(value), 3)
        lo = value * 0.5 if lo is None and unit == "mm" else lo
        hi = value * 1.5 if hi is None and unit == "mm" else hi
        entry = {"value": value, "unit": unit}
        if lo is not None:
            entry["min"] = round(min(lo, value), 3)
        if hi is not None:
            entry["max"] = round(max(hi, value), 3)
        if integer:
            entry["integer"] = True
        if desc:
            entry["description"] = desc
        self.params[name] = entry
        return value

    def f(self, type_, name, **fields):
        fid = f"F{len(self.features) + 1}"
        self.features.append({"id": fid, "type": type_, "name": name, **fields})
        return fid

    def build(self, name: str) -> dict:
        creo_feats = {}
        for feat in self.features:
            creo_name = re.sub(r"[^A-Z0-9_]", "_", feat["name"].upper())[:31]
            creo_feats[feat["id"]] = {"name": creo_name, "id": 10 + len(creo_feats)}
        return {
            "schema": SCHEMA_ID,
            "family": self.family,
            "name": name,
            "units": "mm",
            "material": self.material,
            "parameters": self.params,
            "features": self.features,
            "creo": {
                "model_file": f"cf_{self.family}.prt",
                "parameters": {k: k.upper() for k in self.params},
                "dimensions": {k: f"d{i}" for i, k in enumerate(self.params) if self.params[k]["unit"] in ("mm", "deg")},
                "features": creo_feats,
            },
        }


def _r(rng, lo, hi, step=1.0):
    return float(np.round(rng.uniform(lo, hi) / step) * step)


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


# ---- families ---------------------------------------------------------------------------------


def bracket(rng):
    g = Genome("bracket", _pick(rng, ["steel", "aluminium", "stainless steel"]))
    t = g.p("thickness", _r(rng, 3, 8, 0.5), lo=2, hi=12)
    a = g.p("leg_a", _r(rng, 30, 90), lo=20, hi=150, desc="horizontal leg length")
    b = g.p("leg_b", _r(rng, 30, 90), lo=20, hi=150, desc="vertical leg length")
    w = g.p("width", _r(rng, 20, 60), lo=12, hi=100)
    hd = g.p("hole_d", _pick(rng, [4.5, 5.5, 6.6, 9.0]), lo=3, hi=11)
    n = g.p("holes_per_leg", int(rng.integers(1, 3)) if w < 40 else int(rng.integers(1, 4)), "count", 1, 3, True)
    g.f("extrude", "Angle", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": [
        [0, 0], ["leg_a", 0], ["leg_a", "thickness"], ["thickness", "thickness"], ["thickness", "leg_b"], [0, "leg_b"]]},
        distance="width", symmetric=True)
    pitch = "width / holes_per_leg"
    g.f("hole", "Base holes", sketch={"plane": "XY", "offset": "thickness"}, diameter="hole_d", through=True,
        placement={"at": [["(leg_a + thickness) / 2", f"({i} - (holes_per_leg - 1) / 2) * {pitch}"]
                          for i in range(n)]})
    g.f("hole", "Upright holes", sketch={"plane": "YZ", "offset": "thickness"}, diameter="hole_d", through=True,
        placement={"at": [[f"({i} - (holes_per_leg - 1) / 2) * {pitch}", "(leg_b + thickness) / 2"] for i in range(n)]})
    g.p("bend_radius", _r(rng, 0.5, 1.5, 0.5) * t, lo=0.5, hi=20)
    g.f("fillet", "Edge rounds", edges="|Y", radius="bend_radius * 0.3")
    name = f"Angle bracket {a:g}x{b:g}x{w:g}, t{t:g}"
    desc = f"L-shaped angle bracket, legs {a:g} and {b:g} mm, {w:g} mm wide, {t:g} mm thick, {2 * n} holes Ø{hd:g}"
    return g, name, desc


def flange(rng):
    g = Genome("flange", _pick(rng, ["steel", "stainless steel", "cast iron"]))
    D = g.p("outer_d", _r(rng, 80, 260, 5), lo=50, hi=400)
    bore = g.p("bore_d", _r(rng, 0.2, 0.4, 0.01) * D, lo=10, hi=0.5 * D)
    t = g.p("thickness", _r(rng, 0.08, 0.14, 0.01) * D, lo=6, hi=40)
    hub = g.p("hub_d", bore + _r(rng, 0.12, 0.22, 0.01) * D, lo=bore + 5, hi=0.7 * D)
    g.p("hub_h", _r(rng, 0.6, 1.4, 0.1) * t, lo=0, hi=60)
    n = g.p("bolt_count", _pick(rng, [4, 6, 8, 12]), "count", 3, 16, True)
    bcd = g.p("bolt_circle_d", (hub + D) / 2 + _r(rng, -0.02, 0.02, 0.01) * D, lo=hub + 10, hi=D - 10)
    bd = g.p("bolt_hole_d", min(_pick(rng, [11, 14, 18, 22]), 0.55 * (D - hub) / 2), lo=5, hi=30)
    g.p("chamfer", round(min(2.0, 0.1 * t), 2), lo=0.2, hi=3)
    g.f("revolve", "Body", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": [
        ["bore_d / 2", 0], ["outer_d / 2", 0], ["outer_d / 2", "thickness"], ["hub_d / 2", "thickness"],
        ["hub_d / 2", "thickness + hub_h"], ["bore_d / 2", "thickness + hub_h"]]})
    g.f("hole", "Bolt holes", sketch={"plane": "XY", "offset": "thickness"}, diameter="bolt_hole_d", through=True,
        placement={"pattern": {"kind": "polar", "count": "bolt_count", "radius": "bolt_circle_d / 2",
                               "start_angle": "180 / bolt_count"}})
    g.f("chamfer", "Hub chamfer", edges=">Z", length="chamfer")
    g.f("chamfer", "Face chamfer", edges="<Z", length="chamfer")
    name = f"Hub flange Ø{D:g}, bore {bore:g}, {n}x Ø{bd:g}"
    desc = f"Round hub flange, outer diameter {D:g} mm, bore {bore:g} mm, {n} bolt holes on a {bcd:g} mm circle"
    return g, name, desc


def shaft(rng):
    g = Genome("shaft", _pick(rng, ["steel", "stainless steel"]))
    steps = int(rng.integers(2, 5))
    d0 = _r(rng, 12, 40)
    diam = sorted([d0 * f for f in rng.uniform(0.6, 1.0, steps)], reverse=True)
    order = list(range(steps))
    rng.shuffle(order)
    pts = [[0, 0]]
    z = "0"
    for i in range(steps):
        di = g.p(f"d{i + 1}", round(diam[order[i]], 1), lo=5, hi=80, desc=f"diameter of step {i + 1}")
        g.p(f"l{i + 1}", _r(rng, 0.8, 3.0, 0.1) * di, lo=3, hi=250, desc=f"length of step {i + 1}")
        pts += [[f"d{i + 1} / 2", z], [f"d{i + 1} / 2", f"{z} + l{i + 1}"]]
        z = f"{z} + l{i + 1}"
    pts.append([0, z])
    g.p("chamfer", 1.0, lo=0.2, hi=3)
    g.f("revolve", "Shaft body", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
    g.f("chamfer", "End chamfer A", edges="<Z", length="chamfer")
    g.f("chamfer", "End chamfer B", edges=">Z", length="chamfer")
    big = int(np.argmax([g.params[f"d{i + 1}"]["value"] for i in range(steps)]))
    dk = g.params[f"d{big + 1}"]["value"]
    lk = g.params[f"l{big + 1}"]["value"]
    if lk > 1.2 * dk * 0.6 + 6 and rng.random() < 0.7:
        start = " + ".join(["0"] + [f"l{j + 1}" for j in range(big)])
        g.p("key_w", round(max(3.0, dk * 0.25), 1), lo=2, hi=20)
        g.p("key_len", round(min(lk * 0.6, 3 * dk), 1), lo=5, hi=150)
        g.p("key_depth", round(max(1.5, dk * 0.15), 1), lo=1, hi=8)
        g.f("cut", "Keyway", sketch={"plane": "YZ", "offset": f"d{big + 1} / 2 - key_depth"},
            profile={"shape": "slot", "length": "key_len", "width": "key_w", "angle": 90,
                     "center": [0, f"{start} + l{big + 1} / 2"]}, distance="key_depth * 2")
    total = sum(g.params[f"l{i + 1}"]["value"] for i in range(steps))
    name = f"Stepped shaft Ø{diam[0]:.0f}x{total:.0f}, {steps} steps"
    desc = f"Turned stepped shaft with {steps} diameters, max Ø{max(diam):.0f} mm, {total:.0f} mm long"
    if any(f["name"] == "Keyway" for f in g.features):
        desc += ", with keyway"
    return g, name, desc


def bushing(rng):
    g = Genome("bushing", _pick(rng, ["bronze", "brass", "pom", "nylon", "steel"]))
    di = g.p("inner_d", _r(rng, 6, 50), lo=3, hi=100)
    do = g.p("outer_d", di + _r(rng, 0.2, 0.5, 0.05) * di + 3, lo=di + 2, hi=2.2 * di + 10)
    L = g.p("length", _r(rng, 0.6, 2.0, 0.1) * di + 4, lo=4, hi=200)
    collar = rng.random() < 0.5
    pts = [["inner_d / 2", 0], ["outer_d / 2", 0], ["outer_d / 2", "length"], ["inner_d / 2", "length"]]
    if collar:
        g.p("collar_d", do + _r(rng, 0.3, 0.6, 0.05) * (do - di) + 4, lo=do + 2, hi=3 * do)
        g.p("collar_t", _r(rng, 0.12, 0.25, 0.01) * L + 1, lo=1, hi=0.5 * L)
        pts = [["inner_d / 2", 0], ["collar_d / 2", 0], ["collar_d / 2", "collar_t"], ["outer_d / 2", "collar_t"],
               ["outer_d / 2", "length"], ["inner_d / 2", "length"]]
    g.p("chamfer", round(min(1.0, 0.15 * (do - di)), 2), lo=0.2, hi=2)
    g.f("revolve", "Sleeve", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
    g.f("chamfer", "Top chamfer", edges=">Z", length="chamfer")
    g.f("chamfer", "Bottom chamfer", edges="<Z", length="chamfer")
    kind = "Flanged bushing" if collar else "Plain bushing"
    name = f"{kind} {di:g}x{do:g}x{L:g}"
    desc = f"{kind.lower()} (plain bearing sleeve), bore {di:g} mm, outside {do:g} mm, {L:g} mm long"
    return g, name, desc


def spur_gear(rng):
    g = Genome("spur_gear", _pick(rng, ["steel", "pom", "brass", "nylon"]))
    m = g.p("module", _pick(rng, [1.0, 1.25, 1.5, 2.0, 2.5, 3.0]), lo=0.5, hi=4)
    z = g.p("teeth", int(rng.integers(14, 48)), "count", 10, 80, True)
    b = g.p("face_width", _r(rng, 6, 12) * m, lo=3, hi=60)
    pitch_d = m * z
    bore = g.p("bore_d", max(5.0, round(_r(rng, 0.18, 0.3, 0.01) * pitch_d)), lo=3, hi=0.5 * pitch_d)
    g.p("pressure_angle", 20, "deg", 14.5, 25)
    g.f("extrude", "Gear blank", profile={"shape": "gear", "module": "module", "teeth": "teeth",
                                          "pressure_angle": "pressure_angle"}, distance="face_width")
    g.f("hole", "Bore", sketch={"face": ">Z"}, diameter="bore_d", through=True)
    g.p("key_w", round(max(2.0, bore * 0.25), 1), lo=1, hi=14)
    g.f("cut", "Keyway", sketch={"plane": "XY"}, profile={"shape": "rect", "width": "key_w", "height": "key_w",
                                                          "center": [0, "bore_d / 2"]}, through=True)
    if z >= 30 and rng.random() < 0.6:
        g.p("web_holes", _pick(rng, [4, 5, 6]), "count", 3, 8, True)
        g.p("web_hole_d", round((pitch_d / 2 - 1.25 * m - bore / 2) * 0.45, 1), lo=3, hi=80)
        g.f("hole", "Lightening holes", sketch={"face": ">Z"}, diameter="web_hole_d", through=True,
            placement={"pattern": {"kind": "polar", "count": "web_holes",
                                   "radius": "(module * teeth / 2 - 1.25 * module + bore_d / 2) / 2"}})
    name = f"Spur gear m{m:g} z{z}, b{b:g}"
    desc = f"Involute spur gear, module {m:g}, {z} teeth, pitch diameter {pitch_d:g} mm, bore {bore:g} mm with keyway"
    return g, name, desc


def plate(rng):
    g = Genome("plate", _pick(rng, ["aluminium", "steel", "stainless steel"]))
    L = g.p("length", _r(rng, 60, 240, 5), lo=30, hi=400)
    W = g.p("width", _r(rng, 40, 160, 5), lo=20, hi=300)
    t = g.p("thickness", _pick(rng, [3, 4, 5, 6, 8, 10, 12]), lo=2, hi=25)
    nx = g.p("holes_x", int(rng.integers(2, 5)), "count", 1, 8, True)
    ny = g.p("holes_y", int(rng.integers(2, 4)), "count", 1, 8, True)
    g.p("pitch_x", round((L - 24) / max(nx - 1, 1), 1), lo=5, hi=300)
    g.p("pitch_y", round((W - 24) / max(ny - 1, 1), 1), lo=5, hi=300)
    hd = g.p("hole_d", _pick(rng, [4.5, 5.5, 6.6, 9.0]), lo=2, hi=11)
    g.p("corner_r", round(_r(rng, 2, 10), 1), lo=0.5, hi=20)
    g.f("extrude", "Plate", profile={"shape": "rect", "width": "length", "height": "width"}, distance="thickness")
    g.f("fillet", "Corner radii", edges="|Z", radius="corner_r")
    g.f("hole", "Hole grid", sketch={"face": ">Z"}, diameter="hole_d", through=True,
        placement={"pattern": {"kind": "grid", "nx": "holes_x", "ny": "holes_y", "pitch_x": "pitch_x",
                               "pitch_y": "pitch_y"}})
    if rng.random() < 0.4 and L > 100:
        g.p("pocket_l", round(L * 0.3, 1), lo=5, hi=200)
        g.p("pocket_w", round(min(W * 0.25, g.params["pitch_y"]["value"] * 0.6), 1), lo=3, hi=100)
        g.p("pocket_depth", round(t * 0.5, 1), lo=0.5, hi=20)
        g.f("cut", "Pocket", sketch={"plane": "XY", "offset": "thickness"},
            profile={"shape": "slot", "length": "pocket_l", "width": "pocket_w"}, distance="-pocket_depth")
    name = f"Mounting plate {L:g}x{W:g}x{t:g}"
    desc = f"Flat rectangular mounting plate {L:g} x {W:g} mm, {t:g} mm thick, {nx * ny} holes Ø{hd:g} in a grid"
    return g, name, desc


def housing(rng):
    g = Genome("housing", _pick(rng, ["aluminium", "cast iron"]))
    L = g.p("length", _r(rng, 60, 200, 5), lo=30, hi=400)
    W = g.p("width", _r(rng, 50, 150, 5), lo=30, hi=300)
    H = g.p("height", _r(rng, 30, 100, 5), lo=15, hi=200)
    wall = g.p("wall", _r(rng, 3, 8, 0.5), lo=1.5, hi=15)
    g.p("corner_r", round(max(min(_r(rng, 4, 15), W / 4), 2 * wall), 1), lo=1, hi=40)
    g.f("extrude", "Block", profile={"shape": "rect", "width": "length", "height": "width"}, distance="height")
    g.f("fillet", "Corner radii", edges="|Z", radius="corner_r")
    g.f("shell", "Shell", faces=">Z", thickness="-wall")
    g.p("port_d", round(min(H * 0.4, W * 0.3), 1), lo=4, hi=80)
    g.f("hole", "Cable port", sketch={"plane": "YZ", "offset": "length / 2"}, diameter="port_d", depth="wall * 2",
        placement={"at": [[0, "height / 2"]]})
    g.p("screw_d", _pick(rng, [3.4, 4.5, 5.5]), lo=2, hi=8)
    g.f("hole", "Floor mounting holes", sketch={"plane": "XY", "offset": "wall"}, diameter="screw_d", through=True,
        placement={"pattern": {"kind": "grid", "nx": 2, "ny": 2, "pitch_x": "length - 4 * wall - 2 * screw_d",
                               "pitch_y": "width - 4 * wall - 2 * screw_d"}})
    name = f"Enclosure housing {L:g}x{W:g}x{H:g}"
    desc = f"Open-top box housing (enclosure) {L:g} x {W:g} x {H:g} mm, wall {wall:g} mm, side port, 4 floor holes"
    return g, name, desc


def pulley(rng):
    g = Genome("pulley", _pick(rng, ["cast iron", "aluminium", "steel"]))
    D = g.p("outer_d", _r(rng, 50, 200, 5), lo=30, hi=300)
    grooves = g.p("grooves", int(rng.integers(1, 4)), "count", 1, 4, True)
    gw = g.p("groove_w", _pick(rng, [10.0, 13.0, 17.0]), lo=6, hi=25)
    gd = g.p("groove_depth", round(gw * 0.8, 1), lo=3, hi=20)
    e = g.p("edge", round(gw * 0.35, 1), lo=2, hi=10)
    bore = g.p("bore_d", max(8.0, _r(rng, 0.12, 0.22, 0.01) * D), lo=5, hi=0.4 * D)
    g.p("hub_d", bore * 1.8 + 6, lo=bore + 4, hi=D - 2 * gd)
    pts = [["bore_d / 2", 0], ["outer_d / 2", 0]]
    for i in range(grooves):
        z0 = f"edge + {i} * (groove_w + edge)"
        pts += [["outer_d / 2", z0], ["outer_d / 2 - groove_depth", f"{z0} + groove_w * 0.3"],
                ["outer_d / 2 - groove_depth", f"{z0} + groove_w * 0.7"], ["outer_d / 2", f"{z0} + groove_w"]]
    width = "edge + grooves * (groove_w + edge)"
    g.p("hub_ext", round(_r(rng, 0.0, 0.5, 0.05) * (grooves * (gw + e) + e), 1), lo=0, hi=60)
    pts += [["outer_d / 2", width], ["hub_d / 2", width], ["hub_d / 2", f"{width} + hub_ext"],
            ["bore_d / 2", f"{width} + hub_ext"]]
    g.f("revolve", "Pulley body", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
    g.p("set_screw_d", _pick(rng, [4.2, 5.0, 6.8]), lo=3, hi=10)
    g.f("hole", "Set screw", sketch={"plane": "XZ", "offset": "hub_d"}, diameter="set_screw_d", depth="hub_d",
        placement={"at": [[0, f"({width}) / 2"]]})
    name = f"V-belt pulley Ø{D:g}, {grooves} groove{'s' if grooves > 1 else ''}, bore {bore:g}"
    desc = f"V-belt pulley (sheave), outer diameter {D:g} mm, {grooves} V-grooves, bore {bore:g} mm, set screw"
    return g, name, desc


def fastener(rng):
    size = _pick(rng, list(HEX_BOLTS))
    s, k = HEX_BOLTS[size]
    lengths = [x for x in BOLT_LENGTHS if 2 * size <= x <= 10 * size]
    L = _pick(rng, lengths)
    g = Genome("fastener", _pick(rng, ["steel", "stainless steel", "brass"]))
    g.p("thread_d", size, lo=2, hi=30, desc="nominal thread diameter (M size)")
    g.p("length", L, lo=4, hi=200)
    g.p("across_flats", s, lo=3, hi=50)
    g.p("head_h", k, lo=1, hi=20)
    g.f("extrude", "Head", profile={"shape": "polygon", "sides": 6, "diameter": "across_flats / cos(radians(30))"},
        distance="head_h")
    g.f("extrude", "Shank", profile={"shape": "circle", "diameter": "thread_d"}, distance="-length")
    g.f("chamfer", "Thread end chamfer", edges="<Z", length="thread_d * 0.1")
    g.f("chamfer", "Head chamfer", edges=">Z", length="head_h * 0.15")
    name = f"Hex bolt M{size} x {L}"
    desc = f"Hexagon head bolt M{size} x {L} mm (ISO 4017), {s:g} mm across flats"
    return g, name, desc


def profile(rng):
    kind = _pick(rng, ["I-beam", "channel", "T-section", "tube", "Z-section"])
    g = Genome("profile", _pick(rng, ["aluminium", "steel"]))
    h = g.p("height", _r(rng, 30, 100, 5), lo=15, hi=200)
    w = g.p("flange_w", _r(rng, 0.5, 1.0, 0.05) * h, lo=10, hi=200)
    t = g.p("wall", round(_r(rng, 0.06, 0.12, 0.01) * h, 1), lo=1.5, hi=20)
    L = g.p("length", _r(rng, 2, 6, 0.5) * h, lo=20, hi=1000)
    if kind == "I-beam":
        pts = [["-flange_w/2", "-height/2"], ["flange_w/2", "-height/2"], ["flange_w/2", "-height/2+wall"],
               ["wall/2", "-height/2+wall"], ["wall/2", "height/2-wall"], ["flange_w/2", "height/2-wall"],
               ["flange_w/2", "height/2"], ["-flange_w/2", "height/2"], ["-flange_w/2", "height/2-wall"],
               ["-wall/2", "height/2-wall"], ["-wall/2", "-height/2+wall"], ["-flange_w/2", "-height/2+wall"]]
    elif kind == "channel":
        pts = [[0, "-height/2"], ["flange_w", "-height/2"], ["flange_w", "-height/2+wall"], ["wall", "-height/2+wall"],
               ["wall", "height/2-wall"], ["flange_w", "height/2-wall"], ["flange_w", "height/2"], [0, "height/2"]]
    elif kind == "T-section":
        pts = [["-flange_w/2", "height/2-wall"], ["-wall/2", "height/2-wall"], ["-wall/2", "-height/2"],
               ["wall/2", "-height/2"], ["wall/2", "height/2-wall"], ["flange_w/2", "height/2-wall"],
               ["flange_w/2", "height/2"], ["-flange_w/2", "height/2"]]
    elif kind == "Z-section":
        pts = [["-flange_w+wall/2", "-height/2"], ["wall/2", "-height/2"], ["wall/2", "height/2-wall"],
               ["flange_w-wall/2", "height/2-wall"], ["flange_w-wall/2", "height/2"], ["-wall/2", "height/2"],
               ["-wall/2", "-height/2+wall"], ["-flange_w+wall/2", "-height/2+wall"]]
    else:
        pts = None
    if pts:
        g.f("extrude", f"{kind} section", profile={"shape": "polyline", "points": pts}, distance="length")
    else:
        g.f("extrude", "Tube section", profile={"shape": "rect", "width": "flange_w", "height": "height"},
            distance="length")
        g.f("cut", "Tube bore", profile={"shape": "rect", "width": "flange_w - 2 * wall", "height": "height - 2 * wall"},
            through=True)
    if rng.random() < 0.5:
        g.p("hole_d", round(min(0.3 * h, 0.25 * L), 1), lo=2, hi=40)
        g.f("hole", "Web holes", sketch={"plane": "YZ", "offset": "flange_w"}, diameter="hole_d", through=True,
            placement={"at": [[0, "length * 0.15"], [0, "length * 0.85"]]})
    name = f"{kind} profile {h:g}x{w:g}x{t:g}, L{L:g}"
    desc = f"Structural {kind.lower()} extrusion profile, {h:g} x {w:g} mm section, wall {t:g} mm, {L:g} mm long"
    return g, name, desc


def clamp(rng):
    g = Genome("clamp", _pick(rng, ["steel", "aluminium", "stainless steel"]))
    di = g.p("bore_d", _r(rng, 8, 50), lo=4, hi=100)
    do = g.p("outer_d", di * _r(rng, 1.7, 2.2, 0.05) + 6, lo=di + 6, hi=3 * di + 20)
    w = g.p("width", _r(rng, 0.3, 0.5, 0.05) * di + 6, lo=4, hi=60)
    g.p("gap", round(max(1.0, 0.05 * di), 1), lo=0.5, hi=5)
    g.p("screw_d", _pick(rng, [3.4, 4.5, 5.5]) if di < 30 else _pick(rng, [5.5, 6.6]), lo=2, hi=9)
    g.f("extrude", "Ring", profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "bore_d"},
        distance="width")
    g.f("cut", "Split", profile={"shape": "rect", "width": "outer_d / 2", "height": "gap",
                                 "center": ["outer_d / 4 + bore_d / 4", 0]}, through=True)
    g.f("hole", "Clamp screw", sketch={"plane": "XZ", "offset": "outer_d"}, diameter="screw_d", through=True,
        placement={"at": [["(outer_d + bore_d) / 4 + screw_d * 0.1", "width / 2"]]})
    g.p("chamfer", round(min(0.8, 0.1 * w), 2), lo=0.2, hi=2)
    g.f("chamfer", "Edge chamfer", edges=">Z", length="chamfer")
    name = f"Shaft collar clamp Ø{di:g}, OD {do:g}, w {w:g}"
    desc = f"Split shaft collar (clamp collar) for a Ø{di:g} mm shaft, outside {do:g} mm, {w:g} mm wide, clamp screw"
    return g, name, desc


def hinge(rng):
    g = Genome("hinge", _pick(rng, ["steel", "stainless steel", "brass"]))
    L = g.p("length", _r(rng, 40, 120, 5), lo=20, hi=200)
    W = g.p("leaf_w", _r(rng, 20, 50), lo=10, hi=100)
    t = g.p("thickness", _r(rng, 1.5, 3.5, 0.5), lo=1, hi=6)
    k = g.p("knuckles", _pick(rng, [3, 5]), "count", 3, 7, True)
    g.p("knuckle_d", round(t * 2.6, 1), lo=2, hi=20)
    g.p("pin_d", round(t * 1.2, 1), lo=1, hi=10)
    hd = g.p("hole_d", _pick(rng, [3.5, 4.5]), lo=2, hi=8)
    holes = g.p("holes", 2 if L < 70 else 3, "count", 1, 6, True)
    g.f("extrude", "Leaf", profile={"shape": "rect", "width": "length", "height": "leaf_w",
                                    "center": [0, "leaf_w / 2"]}, distance="thickness")
    g.f("extrude", "Knuckle barrel", sketch={"plane": "YZ"},
        profile={"shape": "circle", "diameter": "knuckle_d", "center": [0, "thickness / 2"]},
        distance="length / 2", symmetric=True)
    gaps = [[f"-length / 2 + (2 * {i} + 1.5) * length / knuckles", 0] for i in range((k - 1) // 2)]
    g.f("cut", "Knuckle gaps", sketch={"plane": "XY", "offset": "-knuckle_d"},
        profile={"shape": "rect", "width": "length / knuckles + 0.5", "height": "knuckle_d + 1",
                 "center": [0, "-0.5"]}, placement={"at": gaps}, distance="knuckle_d * 2")
    g.f("hole", "Pin bore", sketch={"plane": "YZ", "offset": "length / 2"}, diameter="pin_d", through=True,
        placement={"at": [[0, "thickness / 2"]]})
    g.f("hole", "Screw holes", sketch={"plane": "XY", "offset": "thickness"}, diameter="hole_d", through=True,
        countersink={"diameter": "hole_d * 2", "angle": 90},
        placement={"at": [[f"({i} - (holes - 1) / 2) * length / holes", "leaf_w * 0.6 + knuckle_d / 4"]
                          for i in range(holes)]})
    name = f"Butt hinge leaf {L:g}x{W:g}, {k} knuckles"
    desc = f"Butt hinge leaf {L:g} mm long, {W:g} mm wide, {t:g} mm thick, {k} knuckles, {holes} countersunk holes Ø{hd:g}"
    return g, name, desc


FAMILIES = {
    "bracket": bracket,
    "flange": flange,
    "shaft": shaft,
    "bushing": bushing,
    "spur_gear": spur_gear,
    "plate": plate,
    "housing": housing,
    "pulley": pulley,
    "fastener": fastener,
    "profile": profile,
    "clamp": clamp,
    "hinge": hinge,
}
PREFIX = {"bracket": "BRK", "flange": "FLG", "shaft": "SHF", "bushing": "BSH", "spur_gear": "GER", "plate": "PLT",
          "housing": "HSG", "pulley": "PUL", "fastener": "FST", "profile": "PRF", "clamp": "CLP", "hinge": "HNG"}


def drawn(generator, rng: np.random.Generator) -> tuple[dict, str, str]:
    """(genome, name, description) of one part drawn by a generator of (Genome, name, description)."""
    g, name, desc = generator(rng)
    return g.build(name), name, desc + f", {g.material}"


def generate(family: str, rng: np.random.Generator) -> tuple[dict, str, str]:
    """(genome, name, description) of one random part of `family`."""
    return drawn(FAMILIES[family], rng)

