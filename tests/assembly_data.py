"""Small STEP assemblies the assembly tests build from catalog genomes: a flange pair bolted
together (two flanges, four bolts) and a shaft drive (a shaft, a sub-assembly of two bearings,
a pulley). Written with the open kernel's assembly writer; instance names end in -N as CAD
systems write them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np


def _genome(family: str, seed: int) -> dict:
    from cadfinder.catalog import families

    return families.generate(family, np.random.default_rng(seed))[0]


def solid(genome: dict):
    from cadfinder.genome.instantiate import instantiate

    return instantiate(genome).shape


def flange_pair(path: Path) -> dict:
    """Two identical flanges face to face along z, bolted by four identical bolts; returns what
    the tests expect of it."""
    import cadquery as cq

    g = _genome("flange", 3)
    flange = solid(g)
    bb = flange.BoundingBox()
    bolt = solid(_genome("fastener", 5))
    r = 0.36 * (bb.xmax - bb.xmin)
    asm = cq.Assembly(name="flange_pair")
    asm.add(flange, name="flange-1", loc=cq.Location((0, 0, 0)))
    asm.add(flange, name="flange-2", loc=cq.Location((0, 0, 2 * bb.zmax + 1), (1, 0, 0), 180))
    for i in range(4):
        a = np.pi / 2 * i + np.pi / 4
        asm.add(bolt, name=f"bolt-{i + 1}", loc=cq.Location((r * np.cos(a), r * np.sin(a), bb.zmax + 40)))
    asm.export(str(path), exportType="STEP")
    return {"parts": {"flange": 2, "bolt": 4}, "assemblies": ["FLANGE-PAIR"]}


def shaft_drive(path: Path) -> dict:
    """A shaft with a bearing set (a sub-assembly of two identical bearings) and a pulley."""
    import cadquery as cq

    shaft = solid(_genome("shaft", 7))
    bearing = solid(_genome("bushing", 11))
    pulley = solid(_genome("pulley", 13))
    sb = shaft.BoundingBox()
    bearings = cq.Assembly(name="bearing_set")
    bearings.add(bearing, name="bearing-1", loc=cq.Location((0, 0, 0)))
    bearings.add(bearing, name="bearing-2", loc=cq.Location((0, 0, 0.6 * (sb.zmax - sb.zmin))))
    asm = cq.Assembly(name="shaft_drive")
    asm.add(shaft, name="shaft-1")
    asm.add(bearings, name="bearing_set-1", loc=cq.Location((0, 0, sb.zmin + 0.1 * (sb.zmax - sb.zmin))))
    asm.add(pulley, name="pulley-1", loc=cq.Location((0, 0, sb.zmax - 5)))
    asm.export(str(path), exportType="STEP")
    return {"parts": {"shaft": 1, "bearing": 2, "pulley": 1}, "assemblies": ["SHAFT-DRIVE", "bearing_set"]}


def creo_genomes() -> dict:
    """Genomes (each with its creo block) of the parts of the two test assemblies, for the Creo
    library tests: a flange, a bolt, a shaft, a bearing and a pulley."""
    return {"flange": _genome("flange", 3), "bolt": _genome("fastener", 5), "shaft": _genome("shaft", 7),
            "bearing": _genome("bushing", 11), "pulley": _genome("pulley", 13)}


def _at(x: float = 0.0, y: float = 0.0, z: float = 0.0, flip: bool = False) -> list:
    t = np.eye(4)
    if flip:  # turned half a turn about x
        t[1, 1] = t[2, 2] = -1.0
    t[:3, 3] = (x, y, z)
    return t.tolist()


def creo_models(genomes: dict) -> list:
    """CREOSON test-server models of a small Creo library: the five parts (the flange with a
    family table of two instances, a material and a hole feature) and the same assemblies as the
    STEP files: the flange pair (two flanges, four bolts) and the shaft drive (a shaft, the
    bearing set sub-assembly of two bearings, a pulley). The sub-assembly's name sorts after its
    parent's, so the ingest meets it inside the parent first."""
    from tests.creoson_server import Model, model_for

    parts = {k: model_for(g) for k, g in genomes.items()}
    flange = parts["flange"]
    flange.material = "STEEL"
    flange.feature_types = {list(flange.features)[-1]: "HOLE"}
    stem = flange.name.split(".")[0].upper()
    flange.instances = {f"{stem}_{k}": {"dimensions": {d: round(v * f, 3) for d, v in flange.dimensions.items()}}
                        for k, f in (("S", 0.8), ("L", 1.25))}
    fb, sb = solid(genomes["flange"]).BoundingBox(), solid(genomes["shaft"]).BoundingBox()
    r, length = 0.36 * (fb.xmax - fb.xmin), sb.zmax - sb.zmin
    bolts = [(parts["bolt"].name, _at(r * np.cos(a), r * np.sin(a), fb.zmax + 40))
             for a in np.pi / 2 * np.arange(4) + np.pi / 4]
    pair = Model("cf_flange_pair.asm", components=[(flange.name, _at()),
                                                   (flange.name, _at(z=2 * fb.zmax + 1, flip=True))] + bolts)
    bearings = Model("cf_wheel_bearings.asm", components=[(parts["bearing"].name, _at()),
                                                       (parts["bearing"].name, _at(z=0.6 * length))])
    drive = Model("cf_shaft_drive.asm", components=[(parts["shaft"].name, _at()),
                                                    (bearings.name, _at(z=sb.zmin + 0.1 * length)),
                                                    (parts["pulley"].name, _at(z=sb.zmax - 5))])
    return [copy.deepcopy(m) for m in parts.values()] + [pair, bearings, drive]
