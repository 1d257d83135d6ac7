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
    """A flange and a shaft genome (each with its creo block) for the Creo library tests."""
    return {"flange": _genome("flange", 3), "shaft": _genome("shaft", 7)}


def creo_models(genomes: dict) -> list:
    """CREOSON test-server models for a small Creo library: each genome as a part (the flange
    with a family table of two instances, a material and a hole feature) and an assembly of the
    flange and two shafts."""
    from tests.creoson_server import Model, model_for

    parts = [model_for(g) for g in genomes.values()]
    flange = parts[0]
    flange.material = "STEEL"
    flange.feature_types = {list(flange.features)[-1]: "HOLE"}
    stem = flange.name.split(".")[0].upper()
    flange.instances = {f"{stem}_{k}": {"dimensions": {d: round(v * f, 3) for d, v in flange.dimensions.items()}}
                        for k, f in (("S", 0.8), ("L", 1.25))}
    placements = [(flange.name, np.eye(4).tolist())]
    for z in (300.0, 700.0):
        t = np.eye(4)
        t[:3, 3] = (0.0, 0.0, z)
        placements.append((parts[1].name, t.tolist()))
    return [copy.deepcopy(m) for m in parts] + [Model("cf_stack.asm", components=placements)]
