"""Genome generators for kinds of mechanical parts beyond the demo catalog's twelve families.

A company library holds hundreds of kinds of parts; models trained on twelve learn twelve. These
kinds (standard parts after their ISO/DIN tables, machined and turned parts, sheet and cast
shapes) and two generators of random parts, prismatic and turned (stock plus random holes,
pockets, slots, bosses, ribs, grooves, fillets and chamfers), give training and evaluation the
variety of a real library. Every part is a genome the open kernel instantiates, with parameters,
bounds and a Creo mapping, like the catalog's (`families.Genome`).

Each generator takes a seeded `numpy.random.Generator` and returns (Genome builder, name,
description). `NAMES[kind]` holds how designers call the kind: training words first, then words
kept for evaluation only (standards' names and synonyms a caption never used).
"""

from __future__ import annotations

import math

import numpy as np

from cadfinder.catalog.families import Genome, _pick, _r, drawn

# ISO 4032 hex nuts: thread -> (across flats, height)
HEX_NUTS = {
    3: (5.5, 2.4),
    4: (7, 3.2),
    5: (8, 4.7),
    6: (10, 5.2),
    8: (13, 6.8),
    10: (16, 8.4),
    12: (18, 10.8),
    16: (24, 14.8),
    20: (30, 18),
    24: (36, 21.5),
}
# ISO 4762 socket head cap screws: thread -> (head diameter, head height, socket across flats)
CAP_SCREWS = {
    3: (5.5, 3, 2.5),
    4: (7, 4, 3),
    5: (8.5, 5, 4),
    6: (10, 6, 5),
    8: (13, 8, 6),
    10: (16, 10, 8),
    12: (18, 12, 10),
    16: (24, 16, 14),
    20: (30, 20, 17),
}
# ISO 7089 plain washers: thread -> (inner, outer, thickness)
WASHERS = {
    3: (3.2, 7, 0.5),
    4: (4.3, 9, 0.8),
    5: (5.3, 10, 1),
    6: (6.4, 12, 1.6),
    8: (8.4, 16, 1.6),
    10: (10.5, 20, 2),
    12: (13, 24, 2.5),
    16: (17, 30, 3),
    20: (21, 37, 3),
    24: (25, 44, 4),
}
# DIN 6885 parallel keys: width -> height
KEYS = {2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7, 10: 8, 12: 8, 14: 9, 16: 10, 18: 11, 20: 12}
# ISO 606 roller chain: pitch -> roller diameter
CHAINS = {8.0: 5.0, 9.525: 6.35, 12.7: 8.51, 15.875: 10.16, 19.05: 12.07, 25.4: 15.88}


def hex_nut(rng):
    size = _pick(rng, list(HEX_NUTS))
    s, m = HEX_NUTS[size]
    g = Genome("hex_nut", _pick(rng, ["steel", "stainless steel", "brass"]))
    g.p("thread_d", size, lo=2, hi=30, desc="nominal thread (M size)")
    g.p("across_flats", s, lo=3, hi=50)
    g.p("height", m, lo=1, hi=30)
    g.f(
        "extrude",
        "Hexagon",
        profile={"shape": "polygon", "sides": 6, "diameter": "across_flats / cos(radians(30))"},
        distance="height",
    )
    g.f("hole", "Thread core", sketch={"face": ">Z"}, diameter="thread_d * 0.85", through=True)
    g.f("chamfer", "Bearing face chamfers", edges="not |Z", length="height * 0.08")
    return g, f"Hex nut M{size}", f"Hexagon nut M{size} (ISO 4032), {s:g} mm across flats, {m:g} mm high"


def cap_screw(rng):
    size = _pick(rng, list(CAP_SCREWS))
    dk, k, sw = CAP_SCREWS[size]
    L = _pick(rng, [x for x in (8, 10, 12, 16, 20, 25, 30, 35, 40, 50, 60, 70, 80, 100) if 1.5 * size <= x <= 8 * size])
    g = Genome("cap_screw", _pick(rng, ["steel", "stainless steel"]))
    g.p("thread_d", size, lo=2, hi=30)
    g.p("length", L, lo=4, hi=200)
    g.p("head_d", dk, lo=3, hi=50)
    g.p("head_h", k, lo=2, hi=30)
    g.p("socket_s", sw, lo=1, hi=25, desc="hexagon socket across flats")
    g.f("extrude", "Head", profile={"shape": "circle", "diameter": "head_d"}, distance="head_h")
    g.f(
        "cut",
        "Hexagon socket",
        sketch={"plane": "XY", "offset": "head_h"},
        profile={"shape": "polygon", "sides": 6, "diameter": "socket_s / cos(radians(30))"},
        distance="-head_h * 0.6",
    )
    g.f("extrude", "Shank", profile={"shape": "circle", "diameter": "thread_d"}, distance="-length")
    g.f("chamfer", "Thread end chamfer", edges="<Z", length="thread_d * 0.1")
    g.f("fillet", "Head round", edges=">Z and %CIRCLE", radius="head_h * 0.08")
    return (
        g,
        f"Socket head cap screw M{size} x {L}",
        f"Socket head cap screw M{size} x {L} mm (ISO 4762), head Ø{dk:g} mm, hexagon socket {sw:g} mm",
    )


def washer(rng):
    size = _pick(rng, list(WASHERS))
    d1, d2, h = WASHERS[size]
    large = rng.random() < 0.3
    if large:
        d2, h = round(d2 * 1.5, 1), round(h * 1.3, 1)
    g = Genome("washer", _pick(rng, ["steel", "stainless steel", "brass", "nylon"]))
    g.p("inner_d", d1, lo=1, hi=40)
    g.p("outer_d", d2, lo=3, hi=100)
    g.p("thickness", h, lo=0.3, hi=8)
    g.f(
        "extrude",
        "Washer",
        profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "inner_d"},
        distance="thickness",
    )
    kind = "Fender washer" if large else "Plain washer"
    return g, f"{kind} M{size}", f"{kind.lower()} for M{size}, {d1:g} x {d2:g} x {h:g} mm (ISO 7089 series)"


def pin(rng):
    kind = _pick(rng, ["dowel", "clevis", "grooved"])
    d = _pick(rng, [3, 4, 5, 6, 8, 10, 12, 16, 20])
    L = _r(rng, 3, 10) * d
    g = Genome("pin", _pick(rng, ["steel", "stainless steel"]))
    g.p("diameter", d, lo=1, hi=40)
    g.p("length", L, lo=3, hi=400)
    if kind == "clevis":
        g.p("head_d", round(d * 1.6, 1), lo=2, hi=60)
        g.p("head_h", round(d * 0.35 + 1, 1), lo=0.5, hi=20)
        pts = [
            [0, 0],
            ["head_d / 2", 0],
            ["head_d / 2", "head_h"],
            ["diameter / 2", "head_h"],
            ["diameter / 2", "head_h + length"],
            [0, "head_h + length"],
        ]
        g.f("revolve", "Pin with head", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
        g.p("split_pin_d", round(max(1.0, d * 0.25), 1), lo=0.5, hi=10)
        g.f(
            "hole",
            "Split pin hole",
            sketch={"plane": "XZ", "offset": "diameter"},
            diameter="split_pin_d",
            through=True,
            placement={"at": [[0, "head_h + length - split_pin_d * 1.5"]]},
        )
        g.f("chamfer", "End chamfer", edges=">Z", length="diameter * 0.1")
        name, desc = (
            f"Clevis pin Ø{d:g} x {L:g}",
            f"Clevis pin with head (ISO 2341), Ø{d:g} mm, {L:g} mm long, split pin hole",
        )
    elif kind == "grooved":
        g.p("groove_w", round(max(0.8, d * 0.12), 2), lo=0.3, hi=5)
        g.p("groove_d", round(d * 0.85, 2), lo=0.5, hi=38)
        g.p("groove_at", round(d * 0.6 + 1, 1), lo=0.5, hi=50)
        pts = [
            [0, 0],
            ["diameter / 2", 0],
            ["diameter / 2", "length - groove_at - groove_w"],
            ["groove_d / 2", "length - groove_at - groove_w"],
            ["groove_d / 2", "length - groove_at"],
            ["diameter / 2", "length - groove_at"],
            ["diameter / 2", "length"],
            [0, "length"],
        ]
        g.f("revolve", "Pin", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
        g.f("chamfer", "End chamfers", edges="%CIRCLE and (>Z or <Z)", length="diameter * 0.06")
        name = f"Grooved pin Ø{d:g} x {L:g}"
        desc = f"Pin Ø{d:g} mm, {L:g} mm long, with a retaining ring groove (DIN 471 groove)"
    else:
        g.f("extrude", "Pin", profile={"shape": "circle", "diameter": "diameter"}, distance="length")
        g.f("chamfer", "End chamfers", edges="not |Z", length="diameter * 0.1")
        name, desc = f"Dowel pin Ø{d:g} x {L:g}", f"Parallel dowel pin (ISO 8734) Ø{d:g} mm, {L:g} mm long"
    return g, name, desc


def parallel_key(rng):
    b = _pick(rng, list(KEYS))
    h = KEYS[b]
    L = _r(rng, 2.5, 8) * b
    rounded = rng.random() < 0.6
    g = Genome("parallel_key", "steel")
    g.p("width", b, lo=1, hi=30)
    g.p("height", h, lo=1, hi=20)
    g.p("length", L, lo=4, hi=300)
    prof = (
        {"shape": "slot", "length": "length", "width": "width"}
        if rounded
        else {"shape": "rect", "width": "length", "height": "width"}
    )
    g.f("extrude", "Key", profile=prof, distance="height")
    g.f("chamfer", "Edge chamfers", edges="not |Z", length="min(width, height) * 0.06")
    form = "A (round ends)" if rounded else "B (square ends)"
    return g, f"Parallel key {b:g}x{h:g}x{L:g}", f"Parallel key form {form} (DIN 6885) {b:g} x {h:g} x {L:g} mm"


def standoff(rng):
    size = _pick(rng, [2.5, 3, 4, 5, 6, 8])
    s = {2.5: 5, 3: 5.5, 4: 7, 5: 8, 6: 10, 8: 13}[size]
    L = _r(rng, 5, 60)
    male = rng.random() < 0.5
    g = Genome("standoff", _pick(rng, ["brass", "steel", "aluminium", "nylon"]))
    g.p("thread_d", size, lo=1.5, hi=12)
    g.p("across_flats", s, lo=3, hi=24)
    g.p("length", L, lo=3, hi=150)
    g.f(
        "extrude",
        "Hexagon body",
        profile={"shape": "polygon", "sides": 6, "diameter": "across_flats / cos(radians(30))"},
        distance="length",
    )
    if male:
        g.p("stud_length", round(size * 1.5 + 2, 1), lo=2, hi=30)
        g.f("extrude", "Threaded stud", profile={"shape": "circle", "diameter": "thread_d"}, distance="-stud_length")
        g.f(
            "hole",
            "Tapped hole",
            sketch={"plane": "XY", "offset": "length"},
            diameter="thread_d * 0.85",
            depth="min(length * 0.8, thread_d * 2.5)",
        )
    else:
        g.f("hole", "Tapped bore", sketch={"plane": "XY", "offset": "length"}, diameter="thread_d * 0.85", through=True)
    kind = "male-female" if male else "female-female"
    return g, f"Hex standoff M{size:g} x {L:g}", f"Hexagon standoff (spacer bolt) {kind}, M{size:g}, {L:g} mm long"


def spacer(rng):
    di = _r(rng, 3, 40, 0.5)
    do = di + _r(rng, 2, 16, 0.5)
    L = _r(rng, 2, 80)
    g = Genome("spacer", _pick(rng, ["aluminium", "steel", "nylon", "stainless steel"]))
    g.p("inner_d", di, lo=1, hi=100)
    g.p("outer_d", do, lo=2, hi=150)
    g.p("length", L, lo=1, hi=200)
    g.f(
        "extrude",
        "Sleeve",
        profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "inner_d"},
        distance="length",
    )
    g.f("chamfer", "Edge chamfers", edges="not |Z", length="min(length, outer_d - inner_d) * 0.08")
    return (
        g,
        f"Round spacer {di:g}x{do:g}x{L:g}",
        f"Round spacer sleeve, bore {di:g} mm, outside {do:g} mm, {L:g} mm long",
    )


def set_collar(rng):
    di = _r(rng, 6, 60)
    do = round(di * _r(rng, 1.6, 2.0, 0.05) + 6, 1)
    w = round(di * _r(rng, 0.35, 0.6, 0.05) + 4, 1)
    g = Genome("set_collar", _pick(rng, ["steel", "stainless steel", "aluminium"]))
    g.p("bore_d", di, lo=3, hi=120)
    g.p("outer_d", do, lo=6, hi=250)
    g.p("width", w, lo=3, hi=80)
    g.p("set_screw_d", _pick(rng, [3.3, 4.2, 5.0, 6.8]) if di > 12 else 3.3, lo=2, hi=12)
    g.f(
        "extrude",
        "Collar",
        profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "bore_d"},
        distance="width",
    )
    g.f(
        "hole",
        "Set screw",
        sketch={"plane": "XZ", "offset": "outer_d"},
        diameter="set_screw_d",
        depth="outer_d * 0.75",
        placement={"at": [[0, "width / 2"]]},
    )
    g.f("chamfer", "Edge chamfers", edges="not |Z and %CIRCLE", length="min(width, outer_d - bore_d) * 0.04")
    return (
        g,
        f"Set collar Ø{di:g}",
        f"Solid set collar (adjusting ring, DIN 705) for Ø{di:g} mm, outside {do:g} mm, {w:g} mm wide, set screw",
    )


def sprocket(rng):
    p = _pick(rng, list(CHAINS))
    d1 = CHAINS[p]
    z = int(rng.integers(10, 40))
    g = Genome("sprocket", _pick(rng, ["steel", "cast iron", "nylon"]))
    g.p("pitch", p, lo=6, hi=40, desc="chain pitch")
    g.p("teeth", z, "count", 8, 80, True)
    g.p("roller_d", d1, lo=3, hi=25)
    g.p("width", round(d1 * 0.9, 1), lo=2, hi=25)
    pd = p / math.sin(math.pi / z)
    bore = max(6.0, round(pd * _r(rng, 0.15, 0.3, 0.01)))
    g.p("bore_d", bore, lo=4, hi=0.6 * pd)
    g.f(
        "extrude",
        "Blank",
        profile={"shape": "circle", "diameter": "pitch * (0.6 + 1 / tan(pi / teeth))"},
        distance="width",
    )
    g.f(
        "cut",
        "Roller seats",
        profile={"shape": "circle", "diameter": "roller_d * 1.02"},
        through=True,
        placement={"pattern": {"kind": "polar", "count": "teeth", "radius": "pitch / sin(pi / teeth) / 2"}},
    )
    if rng.random() < 0.6:
        g.p("hub_d", round(min(bore * 1.8 + 8, pd - 2.2 * d1), 1), lo=bore + 4, hi=pd)
        g.p("hub_h", round(_r(rng, 0.5, 1.5, 0.1) * d1 + 4, 1), lo=1, hi=80)
        g.f(
            "extrude",
            "Hub",
            sketch={"plane": "XY", "offset": "width"},
            profile={"shape": "circle", "diameter": "hub_d"},
            distance="hub_h",
        )
    g.f("hole", "Bore", sketch={"plane": "XY", "offset": 500}, diameter="bore_d", through=True)
    return (
        g,
        f"Chain sprocket {z}T, pitch {p:g}",
        f"Roller chain sprocket (ISO 606 chain, {p:g} mm pitch), {z} teeth, pitch diameter {pd:.0f} mm, "
        f"bore {bore:g} mm",
    )


def coupling(rng):
    d = _r(rng, 6, 40)
    D = round(d * _r(rng, 1.6, 2.2, 0.05) + 6, 1)
    L = round(d * _r(rng, 2.5, 4.0, 0.1) + 10, 1)
    g = Genome("coupling", _pick(rng, ["steel", "aluminium", "stainless steel"]))
    g.p("bore_d", d, lo=3, hi=100)
    g.p("outer_d", D, lo=8, hi=250)
    g.p("length", L, lo=10, hi=400)
    g.p("set_screw_d", 3.3 if d < 12 else _pick(rng, [4.2, 5.0, 6.8]), lo=2, hi=12)
    g.f(
        "extrude",
        "Sleeve",
        profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "bore_d"},
        distance="length",
    )
    g.f(
        "hole",
        "Set screws",
        sketch={"plane": "XZ", "offset": "outer_d"},
        diameter="set_screw_d",
        depth="outer_d * 0.75",
        placement={"at": [[0, "length * 0.25"], [0, "length * 0.75"]]},
    )
    if rng.random() < 0.5:
        g.p("key_w", round(max(2.0, d * 0.25), 1), lo=1, hi=30)
        g.f(
            "cut",
            "Keyway",
            profile={"shape": "rect", "width": "key_w", "height": "key_w", "center": [0, "bore_d / 2"]},
            through=True,
        )
    if rng.random() < 0.5:
        g.p("slit_w", round(max(1.0, d * 0.06), 1), lo=0.5, hi=5)
        g.f(
            "cut",
            "Clamp slits",
            sketch={"plane": "XY", "offset": "length / 2"},
            profile={"shape": "rect", "width": "slit_w", "height": "outer_d", "center": [0, "outer_d / 2"]},
            distance="length",
        )
        name = f"Clamp coupling Ø{d:g}"
    else:
        name = f"Rigid sleeve coupling Ø{d:g}"
    g.f("chamfer", "End chamfers", edges="%CIRCLE and (>Z or <Z)", length="min(outer_d - bore_d, length) * 0.03")
    return g, name, f"{name.split(' Ø')[0]} for Ø{d:g} mm shafts, outside {D:g} mm, {L:g} mm long, set screws"


def plate_cam(rng):
    base = _r(rng, 15, 60)
    lift = round(base * _r(rng, 0.2, 0.8, 0.05), 1)
    g = Genome("plate_cam", _pick(rng, ["steel", "aluminium"]))
    g.p("base_r", base, lo=5, hi=150, desc="base circle radius")
    g.p("lift", lift, lo=0.5, hi=100)
    g.p("thickness", round(base * _r(rng, 0.2, 0.5, 0.05) + 3, 1), lo=2, hi=60)
    g.p("bore_d", round(base * _r(rng, 0.35, 0.6, 0.05), 1), lo=3, hi=80)
    rise = _r(rng, 100, 200, 10)
    pts = []
    for k in range(48):
        a = 360.0 * k / 48
        u = min(a / rise, 1.0) if a <= rise else max(0.0, (360 - a) / (360 - rise))
        f = round(0.5 - 0.5 * math.cos(math.pi * u), 4)  # harmonic rise and return
        c, s = round(math.cos(math.radians(a)), 5), round(math.sin(math.radians(a)), 5)
        pts.append([f"(base_r + lift * {f}) * {c}", f"(base_r + lift * {f}) * {s}"])
    g.f("extrude", "Cam disc", profile={"shape": "polyline", "points": pts}, distance="thickness")
    g.f("hole", "Bore", sketch={"plane": "XY", "offset": "thickness"}, diameter="bore_d", through=True)
    g.p("key_w", round(max(2.0, base * 0.12), 1), lo=1, hi=30)
    g.f(
        "cut",
        "Keyway",
        profile={"shape": "rect", "width": "key_w", "height": "key_w", "center": [0, "bore_d / 2"]},
        through=True,
    )
    return (
        g,
        f"Plate cam r{base:g}, lift {lift:g}",
        f"Disc cam (plate cam) with base circle radius {base:g} mm, {lift:g} mm lift over {rise:g} degrees, keyed bore",
    )


def lever(rng):
    L = _r(rng, 40, 200, 5)
    w = round(L * _r(rng, 0.12, 0.25, 0.01) + 6, 1)
    g = Genome("lever", _pick(rng, ["steel", "aluminium", "cast iron"]))
    g.p("length", L, lo=10, hi=400, desc="distance between the pivots")
    g.p("arm_w", w, lo=4, hi=100)
    g.p("thickness", round(w * _r(rng, 0.25, 0.5, 0.05) + 2, 1), lo=2, hi=40)
    g.p("boss_d", round(w * _r(rng, 1.3, 1.8, 0.1), 1), lo=5, hi=150)
    g.p("boss_h", round(g.params["thickness"]["value"] * _r(rng, 1.3, 2.2, 0.1), 1), lo=2, hi=100)
    g.p("pivot_d", round(w * _r(rng, 0.4, 0.6, 0.05), 1), lo=2, hi=60)
    g.f("extrude", "Arm", profile={"shape": "slot", "length": "length + arm_w", "width": "arm_w"}, distance="thickness")
    g.f(
        "extrude",
        "Pivot bosses",
        profile={"shape": "circle", "diameter": "boss_d"},
        distance="boss_h",
        placement={"at": [["-length / 2", 0], ["length / 2", 0]]},
    )
    g.f(
        "hole",
        "Pivot bores",
        sketch={"plane": "XY", "offset": "boss_h"},
        diameter="pivot_d",
        through=True,
        placement={"at": [["-length / 2", 0], ["length / 2", 0]]},
    )
    if rng.random() < 0.5:
        g.p("slot_l", round(L * 0.35, 1), lo=3, hi=200)
        g.f(
            "cut",
            "Adjusting slot",
            profile={"shape": "slot", "length": "slot_l", "width": "arm_w * 0.35"},
            through=True,
        )
    return g, f"Lever arm {L:g}", f"Lever arm with two pivot bosses {L:g} mm apart, arm {w:g} mm wide"


def cover(rng):
    L, W = _r(rng, 50, 250, 5), _r(rng, 40, 180, 5)
    H = _r(rng, 8, 30)
    g = Genome("cover", _pick(rng, ["aluminium", "steel", "abs"]))
    g.p("length", L, lo=20, hi=500)
    g.p("width", W, lo=20, hi=400)
    g.p("height", H, lo=3, hi=80)
    g.p("wall", _r(rng, 1.5, 4, 0.5), lo=0.8, hi=10)
    g.p("corner_r", round(min(W / 5, _r(rng, 3, 15)), 1), lo=0.5, hi=40)
    g.p("screw_d", _pick(rng, [3.4, 4.5, 5.5]), lo=2, hi=8)
    g.f("extrude", "Lid block", profile={"shape": "rect", "width": "length", "height": "width"}, distance="height")
    g.f("fillet", "Corner radii", edges="|Z", radius="corner_r")
    g.f("shell", "Hollow", faces="<Z", thickness="-wall")
    g.f(
        "hole",
        "Corner screw holes",
        sketch={"plane": "XY", "offset": "height"},
        diameter="screw_d",
        depth="wall * 2",
        placement={
            "pattern": {
                "kind": "grid",
                "nx": 2,
                "ny": 2,
                "pitch_x": "length - 2 * corner_r - 2 * screw_d",
                "pitch_y": "width - 2 * corner_r - 2 * screw_d",
            }
        },
    )
    if rng.random() < 0.5:
        g.p("vent_w", round(W * 0.05 + 1, 1), lo=1, hi=20)
        g.f(
            "cut",
            "Vent slots",
            sketch={"plane": "XY", "offset": "height"},
            profile={"shape": "slot", "length": "width * 0.5", "width": "vent_w", "angle": 90},
            placement={
                "pattern": {
                    "kind": "grid",
                    "nx": int(rng.integers(3, 7)),
                    "ny": 1,
                    "pitch_x": "vent_w * 2.5",
                    "pitch_y": 1,
                }
            },
            distance="-wall * 2",
        )
    return (
        g,
        f"Cover {L:g}x{W:g}x{H:g}",
        f"Cover (lid) {L:g} x {W:g} x {H:g} mm, open underneath, four corner screw holes",
    )


def heat_sink(rng):
    L, W = _r(rng, 30, 150, 5), _r(rng, 30, 120, 5)
    n = int(rng.integers(5, 16))
    g = Genome("heat_sink", "aluminium")
    g.p("length", L, lo=10, hi=400)
    g.p("width", W, lo=10, hi=400)
    g.p("base_t", _r(rng, 3, 8, 0.5), lo=1, hi=20)
    g.p("fins", n, "count", 2, 60, True)
    g.p("fin_pitch", round(L / n, 2), lo=1, hi=50)
    g.p("fin_t", round(L / n * _r(rng, 0.2, 0.45, 0.05), 2), lo=0.5, hi=10)
    g.p("fin_h", _r(rng, 10, 50), lo=3, hi=150)
    g.f("extrude", "Base", profile={"shape": "rect", "width": "length", "height": "width"}, distance="base_t")
    g.f(
        "extrude",
        "Fins",
        sketch={"plane": "XY", "offset": "base_t"},
        profile={"shape": "rect", "width": "fin_t", "height": "width"},
        placement={"pattern": {"kind": "grid", "nx": "fins", "ny": 1, "pitch_x": "fin_pitch", "pitch_y": 1}},
        distance="fin_h",
    )
    return (
        g,
        f"Heat sink {L:g}x{W:g}, {n} fins",
        f"Extruded aluminium heat sink {L:g} x {W:g} mm with {n} straight fins",
    )


def pillow_block(rng):
    d = _r(rng, 10, 50)
    D = round(d * _r(rng, 1.8, 2.4, 0.1) + 10, 1)
    g = Genome("pillow_block", _pick(rng, ["cast iron", "aluminium", "steel"]))
    g.p("bore_d", d, lo=4, hi=120)
    g.p("boss_d", D, lo=10, hi=300)
    g.p("centre_h", round(D * _r(rng, 0.55, 0.8, 0.05), 1), lo=5, hi=300, desc="shaft centre height")
    g.p("base_l", round(D * _r(rng, 1.8, 2.6, 0.1), 1), lo=20, hi=700)
    g.p("base_t", round(D * 0.15 + 2, 1), lo=2, hi=60)
    g.p("width", round(D * _r(rng, 0.45, 0.7, 0.05), 1), lo=5, hi=200)
    g.p("bolt_d", _pick(rng, [6.6, 9.0, 11.0]) if D > 40 else 5.5, lo=3, hi=20)
    g.f("extrude", "Base", profile={"shape": "rect", "width": "base_l", "height": "width"}, distance="base_t")
    g.f(
        "extrude",
        "Pedestal",
        sketch={"plane": "XZ"},
        profile={"shape": "rect", "width": "boss_d", "height": "centre_h", "center": [0, "centre_h / 2"]},
        distance="width / 2",
        symmetric=True,
    )
    g.f(
        "extrude",
        "Bearing boss",
        sketch={"plane": "XZ"},
        profile={"shape": "circle", "diameter": "boss_d", "center": [0, "centre_h"]},
        distance="width / 2",
        symmetric=True,
    )
    g.f(
        "hole",
        "Bearing bore",
        sketch={"plane": "XZ", "offset": "width"},
        diameter="bore_d",
        through=True,
        placement={"at": [[0, "centre_h"]]},
    )
    g.f(
        "hole",
        "Foot bolt slots",
        sketch={"plane": "XY", "offset": "base_t"},
        diameter="bolt_d",
        through=True,
        placement={"at": [["-(base_l + boss_d) / 4", 0], ["(base_l + boss_d) / 4", 0]]},
    )
    return (
        g,
        f"Pillow block Ø{d:g}",
        f"Pillow block (plummer block) bearing housing, bore Ø{d:g} mm, "
        f"shaft centre {g.params['centre_h']['value']:g} mm high, two foot bolts",
    )


def u_bracket(rng):
    t = _r(rng, 2, 6, 0.5)
    a, b = _r(rng, 30, 120), _r(rng, 20, 80)
    g = Genome("u_bracket", _pick(rng, ["steel", "aluminium", "stainless steel"]))
    g.p("thickness", t, lo=1, hi=12)
    g.p("inside_w", a, lo=10, hi=300)
    g.p("leg_h", b, lo=8, hi=200)
    g.p("width", _r(rng, 15, 60), lo=8, hi=150)
    g.p("hole_d", _pick(rng, [4.5, 5.5, 6.6, 9.0]), lo=2, hi=12)
    g.f(
        "extrude",
        "U channel",
        sketch={"plane": "XZ"},
        profile={
            "shape": "polyline",
            "points": [
                ["-inside_w / 2 - thickness", 0],
                ["inside_w / 2 + thickness", 0],
                ["inside_w / 2 + thickness", "leg_h"],
                ["inside_w / 2", "leg_h"],
                ["inside_w / 2", "thickness"],
                ["-inside_w / 2", "thickness"],
                ["-inside_w / 2", "leg_h"],
                ["-inside_w / 2 - thickness", "leg_h"],
            ],
        },
        distance="width / 2",
        symmetric=True,
    )
    g.f(
        "hole",
        "Base holes",
        sketch={"plane": "XY", "offset": "thickness"},
        diameter="hole_d",
        through=True,
        placement={"at": [["-inside_w / 4", 0], ["inside_w / 4", 0]]},
    )
    g.f(
        "hole",
        "Leg holes",
        sketch={"plane": "YZ", "offset": "inside_w"},
        diameter="hole_d",
        through=True,
        placement={"at": [[0, "leg_h * 0.6 + thickness / 2"]]},
    )
    return (
        g,
        f"U bracket {a:g}x{b:g}, t{t:g}",
        f"U-shaped bracket (channel bracket), {a:g} mm inside, legs {b:g} mm high, holes in base and legs",
    )


def gusset_bracket(rng):
    t = _r(rng, 3, 10, 0.5)
    a = _r(rng, 40, 140)
    g = Genome("gusset_bracket", _pick(rng, ["steel", "cast iron", "aluminium"]))
    g.p("thickness", t, lo=2, hi=20)
    g.p("leg", a, lo=15, hi=300)
    g.p("width", _r(rng, 30, 90), lo=10, hi=200)
    g.p("rib_t", round(t * _r(rng, 0.8, 1.5, 0.1), 1), lo=1, hi=30)
    g.p("hole_d", _pick(rng, [6.6, 9.0, 11.0]), lo=3, hi=20)
    g.f(
        "extrude",
        "Angle",
        sketch={"plane": "XZ"},
        profile={
            "shape": "polyline",
            "points": [
                [0, 0],
                ["leg", 0],
                ["leg", "thickness"],
                ["thickness", "thickness"],
                ["thickness", "leg"],
                [0, "leg"],
            ],
        },
        distance="width / 2",
        symmetric=True,
    )
    g.f(
        "extrude",
        "Gusset rib",
        sketch={"plane": "XZ"},
        profile={
            "shape": "polyline",
            "points": [["thickness", "thickness"], ["leg * 0.85", "thickness"], ["thickness", "leg * 0.85"]],
        },
        distance="rib_t / 2",
        symmetric=True,
    )
    g.f(
        "hole",
        "Base holes",
        sketch={"plane": "XY", "offset": "thickness"},
        diameter="hole_d",
        through=True,
        placement={"at": [["leg * 0.6", "-width / 4 - rib_t / 4"], ["leg * 0.6", "width / 4 + rib_t / 4"]]},
    )
    g.f(
        "hole",
        "Wall holes",
        sketch={"plane": "YZ", "offset": "thickness"},
        diameter="hole_d",
        through=True,
        placement={"at": [["-width / 4 - rib_t / 4", "leg * 0.6"], ["width / 4 + rib_t / 4", "leg * 0.6"]]},
    )
    return (
        g,
        f"Gusset bracket {a:g}, t{t:g}",
        f"Ribbed angle bracket with a gusset (stiffened corner bracket), legs {a:g} mm, {t:g} mm thick",
    )


def t_slot_nut(rng):
    slot = _pick(rng, [6, 8, 10, 12, 14, 18, 22])
    size = {6: 5, 8: 6, 10: 8, 12: 10, 14: 12, 18: 16, 22: 20}[slot]
    g = Genome("t_slot_nut", "steel")
    g.p("slot_w", slot, lo=4, hi=40, desc="T-slot width")
    g.p("thread_d", size, lo=3, hi=30)
    g.p("foot_w", round(slot * 1.7, 1), lo=6, hi=80)
    g.p("foot_h", round(slot * 0.6, 1), lo=2, hi=30)
    g.p("neck_h", round(slot * 0.7, 1), lo=2, hi=30)
    g.p("length", round(slot * _r(rng, 1.5, 2.5, 0.1), 1), lo=5, hi=100)
    g.f(
        "extrude",
        "T section",
        sketch={"plane": "YZ"},
        profile={
            "shape": "polyline",
            "points": [
                ["-foot_w / 2", 0],
                ["foot_w / 2", 0],
                ["foot_w / 2", "foot_h"],
                ["slot_w / 2", "foot_h"],
                ["slot_w / 2", "foot_h + neck_h"],
                ["-slot_w / 2", "foot_h + neck_h"],
                ["-slot_w / 2", "foot_h"],
                ["-foot_w / 2", "foot_h"],
            ],
        },
        distance="length / 2",
        symmetric=True,
    )
    g.f(
        "hole",
        "Tapped hole",
        sketch={"plane": "XY", "offset": "foot_h + neck_h"},
        diameter="thread_d * 0.85",
        through=True,
    )
    return g, f"T-slot nut {slot} M{size}", f"T-slot nut (DIN 508) for a {slot} mm T-slot, thread M{size}"


def pipe_elbow(rng):
    dn = _r(rng, 10, 60)
    angle = _pick(rng, [45, 90, 90])
    g = Genome("pipe_elbow", _pick(rng, ["steel", "stainless steel", "pvc", "copper"]))
    g.p("outer_d", dn, lo=4, hi=200)
    g.p("wall", round(max(1.0, dn * _r(rng, 0.06, 0.12, 0.01)), 1), lo=0.5, hi=20)
    g.p("bend_r", round(dn * _r(rng, 1.0, 2.0, 0.1), 1), lo=4, hi=500)
    g.p("angle", angle, "deg", 10, 180)
    g.f(
        "revolve",
        "Bend",
        sketch={"plane": "XY"},
        profile={
            "shape": "circle",
            "diameter": "outer_d",
            "inner_diameter": "outer_d - 2 * wall",
            "center": ["bend_r", 0],
        },
        angle="angle",
    )
    return (
        g,
        f"Pipe elbow {angle}° OD {dn:g}",
        f"Pipe elbow (bend fitting) {angle} degrees, outside Ø{dn:g} mm, "
        f"bend radius {g.params['bend_r']['value']:g} mm",
    )


def pull_handle(rng):
    span = _r(rng, 60, 200, 5)
    g = Genome("pull_handle", _pick(rng, ["aluminium", "stainless steel", "steel"]))
    g.p("span", span, lo=20, hi=500, desc="hole centre distance")
    g.p("height", round(span * _r(rng, 0.2, 0.4, 0.02) + 10, 1), lo=8, hi=200)
    g.p("bar", round(span * _r(rng, 0.06, 0.1, 0.01) + 4, 1), lo=3, hi=40)
    g.p("thread_d", _pick(rng, [4, 5, 6, 8]), lo=2, hi=12)
    g.f(
        "extrude",
        "Grip",
        sketch={"plane": "XZ"},
        profile={
            "shape": "polyline",
            "points": [
                ["-span / 2 - bar / 2", 0],
                ["-span / 2 + bar / 2", 0],
                ["-span / 2 + bar / 2", "height - bar"],
                ["span / 2 - bar / 2", "height - bar"],
                ["span / 2 - bar / 2", 0],
                ["span / 2 + bar / 2", 0],
                ["span / 2 + bar / 2", "height"],
                ["-span / 2 - bar / 2", "height"],
            ],
        },
        distance="bar / 2",
        symmetric=True,
    )
    g.f("fillet", "Grip rounds", edges="|Y", radius="bar * 0.3")
    g.f(
        "hole",
        "Tapped holes",
        sketch={"plane": "XY"},
        diameter="thread_d * 0.85",
        depth="bar * 1.5",
        placement={"at": [["-span / 2", 0], ["span / 2", 0]]},
    )
    return g, f"Pull handle {span:g}", f"U-shaped pull handle (bow grip), {span:g} mm hole centres, tapped feet"


def knob(rng):
    D = _r(rng, 15, 70)
    n = int(rng.integers(5, 12))
    g = Genome("knob", _pick(rng, ["abs", "aluminium", "pom", "steel"]))
    g.p("diameter", D, lo=6, hi=200)
    g.p("height", round(D * _r(rng, 0.4, 0.9, 0.05), 1), lo=3, hi=150)
    g.p("flutes", n, "count", 3, 30, True)
    g.p("flute_d", round(D * math.pi / n * _r(rng, 0.35, 0.55, 0.05), 2), lo=0.5, hi=60)
    g.p("bore_d", round(max(3.0, D * 0.15), 1), lo=2, hi=40)
    g.f("extrude", "Body", profile={"shape": "circle", "diameter": "diameter"}, distance="height")
    g.f(
        "cut",
        "Flutes",
        profile={"shape": "circle", "diameter": "flute_d"},
        through=True,
        placement={"pattern": {"kind": "polar", "count": "flutes", "radius": "diameter / 2"}},
    )
    g.f("chamfer", "Top chamfer", edges=">Z", length="height * 0.06")
    g.f("hole", "Shaft bore", sketch={"plane": "XY"}, diameter="bore_d", depth="height * 0.7")
    return (
        g,
        f"Fluted knob Ø{D:g}",
        f"Fluted control knob (star grip, DIN 6336 style) Ø{D:g} mm with {n} flutes, blind bore",
    )


def circlip(rng):
    d = _r(rng, 10, 80)
    g = Genome("circlip", "spring steel")
    g.p("shaft_d", d, lo=4, hi=200)
    g.p("inner_d", round(d * 0.92, 2), lo=3, hi=190)
    g.p("outer_d", round(d * 0.92 + max(2.0, d * 0.16), 2), lo=5, hi=240)
    g.p("thickness", round(max(0.6, d * 0.03), 2), lo=0.3, hi=6)
    g.p("lug_d", round(max(4.0, d * 0.22), 2), lo=2, hi=40)
    g.p("lug_hole_d", round(max(1.0, d * 0.07), 2), lo=0.5, hi=10)
    g.f(
        "extrude",
        "Ring",
        profile={"shape": "circle", "diameter": "outer_d", "inner_diameter": "inner_d"},
        distance="thickness",
    )
    lugs = [
        ["(outer_d + inner_d) / 4 * cos(radians(28))", "(outer_d + inner_d) / 4 * sin(radians(28))"],
        ["(outer_d + inner_d) / 4 * cos(radians(28))", "-(outer_d + inner_d) / 4 * sin(radians(28))"],
    ]
    g.f(
        "extrude",
        "Lugs",
        profile={"shape": "circle", "diameter": "lug_d"},
        placement={"at": lugs},
        distance="thickness",
    )
    g.f(
        "cut",
        "Opening",
        profile={"shape": "rect", "width": "outer_d", "height": "lug_d * 0.7", "center": ["outer_d / 2", 0]},
        through=True,
    )
    g.f(
        "hole",
        "Lug holes",
        sketch={"plane": "XY", "offset": "thickness"},
        diameter="lug_hole_d",
        through=True,
        placement={"at": lugs},
    )
    return (
        g,
        f"Retaining ring {d:g}",
        f"External retaining ring (circlip, DIN 471) for a Ø{d:g} mm shaft, with lug holes",
    )


def random_prismatic(rng):
    """A block of stock with random machined features: holes (plain, counterbored), pockets,
    through slots, bosses, ribs, a step, rounded vertical edges and chamfered top edges."""
    L, W = _r(rng, 30, 200), _r(rng, 20, 150)
    H = _r(rng, 0.05, 0.6, 0.01) * max(L, W) + 3
    g = Genome("prismatic_part", _pick(rng, ["aluminium", "steel", "stainless steel", "brass", "pom"]))
    g.p("length", L, lo=10, hi=500)
    g.p("width", W, lo=10, hi=500)
    g.p("height", round(H, 1), lo=2, hi=300)
    g.f("extrude", "Stock", profile={"shape": "rect", "width": "length", "height": "width"}, distance="height")
    if rng.random() < 0.5:
        g.p("edge_r", round(min(L, W) * _r(rng, 0.03, 0.15, 0.01), 1), lo=0.2, hi=50)
        g.f("fillet", "Vertical edge rounds", edges="|Z", radius="edge_r")
    taken: list[tuple[float, float, float]] = []  # (x, y, radius) seen from above
    wall = 0.04 * min(L, W) + 1.0
    step = rng.random() < 0.3
    if step:
        g.p("step_w", round(L * _r(rng, 0.2, 0.4, 0.01), 1), lo=2, hi=400)
        g.p("step_h", round(H * _r(rng, 0.3, 0.6, 0.01), 1), lo=1, hi=250)
        g.f(
            "cut",
            "Step",
            sketch={"plane": "XY", "offset": "height"},
            profile={"shape": "rect", "width": "step_w * 2", "height": "width * 2", "center": ["length / 2", 0]},
            distance="-step_h",
        )
        taken.append((L / 2, 0.0, 0.0))
    lim_x = L / 2 - (g.params["step_w"]["value"] if step else 0)

    def free(r):
        for _ in range(40):
            x, y = rng.uniform(-L / 2 + r + wall, lim_x - r - wall), rng.uniform(-W / 2 + r + wall, W / 2 - r - wall)
            if -L / 2 + r + wall > lim_x - r - wall or -W / 2 + r + wall > W / 2 - r - wall:
                return None
            if all(math.hypot(x - a, y - b) > r + c + wall for a, b, c in taken if c > 0):
                taken.append((x, y, r))
                return round(float(x), 2), round(float(y), 2)
        return None

    budget = int(rng.integers(2, 7))
    n = 0
    while budget > 0:
        budget -= 1
        n += 1
        what = _pick(rng, ["holes", "holes", "pocket", "slot", "boss", "cbore"])
        size = min(L, W) * _r(rng, 0.06, 0.25, 0.01)
        if what in ("holes", "cbore"):
            k = int(rng.integers(1, 5))
            pts = [p for p in (free(size / 2 * (1.8 if what == "cbore" else 1)) for _ in range(k)) if p]
            if not pts:
                continue
            g.p(f"hole{n}_d", round(size, 1), lo=1, hi=200)
            extra = {}
            if what == "cbore":
                extra["counterbore"] = {"diameter": f"hole{n}_d * 1.7", "depth": f"hole{n}_d * 0.6"}
            through = rng.random() < 0.6
            g.f(
                "hole",
                f"Holes {n}",
                sketch={"plane": "XY", "offset": "height"},
                diameter=f"hole{n}_d",
                **({"through": True} if through else {"depth": f"height * {_r(rng, 0.3, 0.7, 0.05)}"}),
                placement={"at": [list(p) for p in pts]},
                **extra,
            )
        elif what == "pocket":
            a, b = size * _r(rng, 1.2, 2.5, 0.1), size * _r(rng, 1.0, 2.0, 0.1)
            p = free(math.hypot(a, b) / 2)
            if not p:
                continue
            g.p(f"pocket{n}_l", round(a, 1), lo=1, hi=400)
            g.p(f"pocket{n}_w", round(b, 1), lo=1, hi=400)
            g.f(
                "cut",
                f"Pocket {n}",
                sketch={"plane": "XY", "offset": "height"},
                profile={"shape": "rect", "width": f"pocket{n}_l", "height": f"pocket{n}_w", "center": list(p)},
                distance=f"-height * {_r(rng, 0.2, 0.6, 0.05)}",
            )
        elif what == "slot":
            length, width = size * _r(rng, 2, 4, 0.1), size * 0.6
            p = free(length / 2)
            if not p:
                continue
            g.p(f"slot{n}_l", round(length, 1), lo=1, hi=400)
            g.p(f"slot{n}_w", round(width, 1), lo=0.5, hi=100)
            g.f(
                "cut",
                f"Slot {n}",
                profile={
                    "shape": "slot",
                    "length": f"slot{n}_l",
                    "width": f"slot{n}_w",
                    "angle": float(_pick(rng, [0, 90, 45])),
                    "center": list(p),
                },
                through=True,
            )
        else:
            p = free(size * 0.7)
            if not p:
                continue
            g.p(f"boss{n}_d", round(size * 1.4, 1), lo=1, hi=400)
            g.p(f"boss{n}_h", round(H * _r(rng, 0.2, 0.8, 0.05) + 1, 1), lo=0.5, hi=300)
            g.f(
                "extrude",
                f"Boss {n}",
                sketch={"plane": "XY", "offset": "height"},
                profile={"shape": "circle", "diameter": f"boss{n}_d", "center": list(p)},
                distance=f"boss{n}_h",
            )
            g.f(
                "hole",
                f"Boss {n} bore",
                sketch={"plane": "XY", "offset": f"height + boss{n}_h"},
                diameter=f"boss{n}_d * 0.45",
                depth=f"boss{n}_h + height * 0.5",
                placement={"at": [list(p)]},
            )
    if rng.random() < 0.3 and not step:
        g.p("rib_t", round(min(L, W) * 0.06 + 1, 1), lo=0.5, hi=50)
        g.p("rib_h", round(H * _r(rng, 0.3, 0.8, 0.05) + 2, 1), lo=1, hi=200)
        g.f(
            "extrude",
            "Rib",
            sketch={"plane": "XY", "offset": "height"},
            profile={"shape": "rect", "width": "length", "height": "rib_t", "center": [0, "-width / 2 + rib_t / 2"]},
            distance="rib_h",
        )
    if rng.random() < 0.4:
        g.p("edge_chamfer", round(min(L, W, H) * 0.04 + 0.2, 2), lo=0.1, hi=10)
        g.f("chamfer", "Bottom edge chamfer", edges="<Z", length="edge_chamfer")
    counts = sum(f["type"] in ("hole", "cut") for f in g.features)
    return (
        g,
        f"Machined block {L:g}x{W:g}x{H:.0f}",
        f"Machined prismatic part from {L:g} x {W:g} x {H:.0f} mm stock with {counts} machined features",
    )


def random_turned(rng):
    """A turned part: a random stepped, tapered and grooved profile, a bore (through, blind or
    none), a cross hole and spanner flats."""
    n = int(rng.integers(1, 6))
    d_max = _r(rng, 8, 120)
    g = Genome("turned_part", _pick(rng, ["steel", "stainless steel", "brass", "aluminium", "pom"]))
    pts: list[list] = [[0, 0]]
    z = "0"
    ds = []
    for i in range(n):
        d = g.p(f"d{i + 1}", round(d_max * (1.0 if i == 0 else _r(rng, 0.35, 1.0, 0.05)), 1), lo=1, hi=400)
        g.p(f"l{i + 1}", round(d_max * _r(rng, 0.15, 1.2, 0.05) + 1, 1), lo=0.5, hi=800)
        ds.append(d)
        taper = i > 0 and rng.random() < 0.25
        pts.append([f"d{i + 1} / 2" if not taper else f"d{i} / 2", z])
        pts.append([f"d{i + 1} / 2", f"{z} + l{i + 1}"])
        z = f"{z} + l{i + 1}"
        if i < n - 1 and rng.random() < 0.3:
            g.p(f"groove{i + 1}_w", round(max(0.8, d * 0.08), 1), lo=0.3, hi=30)
            pts += [[f"d{i + 1} / 2 * 0.85", z], [f"d{i + 1} / 2 * 0.85", f"{z} + groove{i + 1}_w"]]
            z = f"{z} + groove{i + 1}_w"
    pts.append([0, z])
    order = np.argsort([-d for d in ds])
    if rng.random() < 0.5:  # mirror so the big end is not always first
        pts = [[x, f"-({y})" if y != 0 else 0] for x, y in pts]
    bore = rng.random()
    if bore < 0.6:
        g.p("bore_d", round(min(ds) * _r(rng, 0.3, 0.6, 0.05), 1), lo=0.5, hi=300)
        for p in pts:
            if p[0] == 0:
                p[0] = "bore_d / 2"
    g.f("revolve", "Turned body", sketch={"plane": "XZ"}, profile={"shape": "polyline", "points": pts})
    if bore >= 0.6 and bore < 0.8:
        g.p("blind_d", round(min(ds) * 0.4, 1), lo=0.5, hi=300)
        g.f("hole", "Centre bore", sketch={"face": ">Z"}, diameter="blind_d", depth=f"d{order[0] + 1} * 0.5")
    if rng.random() < 0.4:
        g.p("cross_d", round(min(ds) * _r(rng, 0.15, 0.35, 0.05), 1), lo=0.5, hi=100)
        k = int(order[-1]) + 1
        at = " + ".join(["0"] + [f"l{j}" for j in range(1, k)]) + f" + l{k} / 2"
        g.f(
            "hole",
            "Cross hole",
            sketch={"plane": "XZ", "offset": 1000},
            diameter="cross_d",
            through=True,
            placement={"at": [[0, at if pts[-1][1] == z else f"-({at})"]]},
        )
    if rng.random() < 0.3:
        k = int(order[0]) + 1
        g.p("flat_s", round(ds[k - 1] * 0.8, 1), lo=0.5, hi=400, desc="spanner flats across")
        at = " + ".join(["0"] + [f"l{j}" for j in range(1, k)]) + f" + l{k} / 2"
        g.f(
            "cut",
            "Spanner flats",
            sketch={"plane": "YZ"},
            profile={
                "shape": "rect",
                "width": f"d{k} * 2",
                "height": f"l{k} * 0.6",
                "center": [0, at if pts[-1][1] == z else f"-({at})"],
            },
            placement={"at": [[f"flat_s / 2 + d{k}", 0], [f"-flat_s / 2 - d{k}", 0]]},
            distance=f"d{k} * 3",
            symmetric=True,
        )
    if rng.random() < 0.5:
        g.p("end_chamfer", round(min(ds) * 0.05 + 0.2, 2), lo=0.1, hi=10)
        g.f("chamfer", "End chamfers", edges="(>Z or <Z) and %CIRCLE", length="end_chamfer")
    return (
        g,
        f"Turned part Ø{d_max:g}, {n} diameters",
        f"Turned (lathe) part, max Ø{d_max:g} mm, {n} diameters" + (", bored" if bore < 0.6 else ""),
    )


KINDS = {
    "hex_nut": hex_nut,
    "cap_screw": cap_screw,
    "washer": washer,
    "pin": pin,
    "parallel_key": parallel_key,
    "standoff": standoff,
    "spacer": spacer,
    "set_collar": set_collar,
    "sprocket": sprocket,
    "coupling": coupling,
    "plate_cam": plate_cam,
    "lever": lever,
    "cover": cover,
    "heat_sink": heat_sink,
    "pillow_block": pillow_block,
    "u_bracket": u_bracket,
    "gusset_bracket": gusset_bracket,
    "t_slot_nut": t_slot_nut,
    "pipe_elbow": pipe_elbow,
    "pull_handle": pull_handle,
    "knob": knob,
    "circlip": circlip,
    "prismatic_part": random_prismatic,
    "turned_part": random_turned,
}
PREFIX = {
    "hex_nut": "NUT",
    "cap_screw": "SCS",
    "washer": "WSH",
    "pin": "PIN",
    "parallel_key": "KEY",
    "standoff": "STO",
    "spacer": "SPC",
    "set_collar": "COL",
    "sprocket": "SPR",
    "coupling": "CPL",
    "plate_cam": "CAM",
    "lever": "LEV",
    "cover": "COV",
    "heat_sink": "HSK",
    "pillow_block": "PBK",
    "u_bracket": "UBR",
    "gusset_bracket": "GBR",
    "t_slot_nut": "TSN",
    "pipe_elbow": "ELB",
    "pull_handle": "HDL",
    "knob": "KNB",
    "circlip": "CIR",
    "prismatic_part": "MPR",
    "turned_part": "TRN",
}
# How designers name each kind: (training words, words kept for evaluation)
NAMES = {
    "hex_nut": (["hex nut", "nut", "hexagon nut"], ["ISO 4032 nut", "six-sided nut"]),
    "cap_screw": (["cap screw", "socket head screw", "allen screw"], ["SHCS", "ISO 4762 screw", "socket cap bolt"]),
    "washer": (["washer", "flat washer", "plain washer"], ["ISO 7089 washer", "fender washer", "shim ring"]),
    "pin": (["pin", "dowel pin", "clevis pin"], ["locating pin", "ISO 8734 dowel", "cylindrical pin"]),
    "parallel_key": (["key", "parallel key", "feather key"], ["DIN 6885 key", "shaft key", "keystock"]),
    "standoff": (["standoff", "hex standoff", "spacer bolt"], ["PCB standoff", "hex spacer", "stand-off pillar"]),
    "spacer": (["spacer", "round spacer", "distance sleeve"], ["spacer tube", "distance bush", "sleeve spacer"]),
    "set_collar": (
        ["set collar", "shaft collar", "adjusting ring"],
        ["DIN 705 collar", "stop collar", "locking collar"],
    ),
    "sprocket": (
        ["sprocket", "chain sprocket", "chain wheel"],
        ["roller chain sprocket", "chainwheel", "ISO 606 sprocket"],
    ),
    "coupling": (
        ["coupling", "shaft coupling", "sleeve coupling"],
        ["rigid coupling", "clamp coupling", "shaft coupler"],
    ),
    "plate_cam": (["cam", "plate cam", "disc cam"], ["cam disk", "eccentric cam", "radial cam"]),
    "lever": (["lever", "lever arm", "link arm"], ["rocker arm", "crank lever", "linkage arm"]),
    "cover": (["cover", "lid", "cover plate"], ["enclosure lid", "housing cover", "top cap"]),
    "heat_sink": (["heat sink", "heatsink", "cooling fins"], ["finned cooler", "thermal sink", "radiator block"]),
    "pillow_block": (
        ["pillow block", "bearing block", "bearing housing"],
        ["plummer block", "shaft support block", "bearing pedestal"],
    ),
    "u_bracket": (
        ["u bracket", "channel bracket", "u channel"],
        ["clevis bracket", "U-shaped mount", "saddle bracket"],
    ),
    "gusset_bracket": (
        ["gusset bracket", "ribbed bracket", "stiffened angle"],
        ["corner brace", "reinforced angle bracket", "knee bracket"],
    ),
    "t_slot_nut": (["t-slot nut", "t nut", "slot nut"], ["DIN 508 nut", "T-nut for machine table", "tee slot nut"]),
    "pipe_elbow": (["pipe elbow", "elbow", "pipe bend"], ["bend fitting", "90 degree elbow", "tube bend"]),
    "pull_handle": (["pull handle", "handle", "bow handle"], ["grab handle", "drawer pull", "cabinet handle"]),
    "knob": (["knob", "control knob", "fluted knob"], ["star knob", "grip knob", "DIN 6336 knob"]),
    "circlip": (["circlip", "retaining ring", "snap ring"], ["DIN 471 ring", "external circlip", "lock ring"]),
    "prismatic_part": (
        ["machined block", "milled part", "block"],
        ["CNC milled part", "machined component", "prismatic part"],
    ),
    "turned_part": (
        ["turned part", "lathe part", "turned component"],
        ["CNC turned part", "round machined part", "turning"],
    ),
}


def generate(kind: str, rng: np.random.Generator) -> tuple[dict, str, str]:
    """(genome, name, description) of one random part of `kind`."""
    return drawn(KINDS[kind], rng)
