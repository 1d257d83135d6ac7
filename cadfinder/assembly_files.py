"""STEP assembly files, split into what the ingest stores: each distinct component part once,
the whole shape of the assembly and of each sub-assembly, and their placements.

A STEP file is an assembly when it has NEXT_ASSEMBLY_USAGE_OCCURRENCE entities (a plain text
test: no kernel is loaded to decide). The tree is read by the open kernel's assembly reader
(CadQuery's Assembly.importStep over OpenCascade's XCAF) in a child process with bounded memory,
since a damaged file can crash OpenCascade. Components are named by their instance names less an
instance suffix ('bolt-3', 'BOLT:3' -> 'bolt'); two instances are the same part when their
names and solids (volume and area to 1e-6) agree. Everything is written in millimetres as STL
with a JSON sidecar, so the ordinary ingest stores it (and skips it on a re-run: the files are
byte-identical for the same input).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cadfinder import isolation
from cadfinder.assemblies import Placement
from cadfinder.errors import InputError

MARKER = b"NEXT_ASSEMBLY_USAGE_OCCURRENCE"
READ_TIMEOUT_S = 600.0
_SUFFIX = re.compile(r"([-_:.#]\d+|\s*\(\d+\))$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class AssemblyScan:
    """Fed a STEP file's bytes chunk by chunk (the ingest's hashing pass: the file is read once),
    `found` turns True once an assembly entity has gone by (case-insensitive)."""

    def __init__(self):
        self.found = False
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if not self.found:
            self.found = MARKER in (self._tail + chunk).upper()
            self._tail = chunk[-len(MARKER):]


def component_name(instance: str) -> str:
    """The part an instance name stands for: 'bolt-3' -> 'bolt', 'BRACKET:1' -> 'BRACKET'."""
    name = (instance or "").strip()
    base = _SUFFIX.sub("", name)
    return base or name or "component"


def file_stem(part_number: str) -> str:
    return _UNSAFE.sub("_", part_number)[:120] or "part"


def explode(path: str | Path, part_number: str, out_dir: str | Path) -> list[dict]:
    """Split a STEP assembly into `out_dir`: <stem>.stl + <stem>.json for each distinct part, each
    sub-assembly and the assembly itself (sidecar kind 'assembly'). Returns the assemblies as
    {"part_number", "placements": [Placement]}, sub-assemblies before their parents."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = isolation.call(_explode, (str(path), part_number, str(out_dir)), f"{Path(path).name}: the STEP "
                             "assembly reader", READ_TIMEOUT_S,
                             timeout_advice="split the assembly or export it with fewer, simpler parts")
    return [{"part_number": r["part_number"],
             "placements": [Placement(c, tuple(t), p) for c, t, p in r["placements"]]} for r in records]


def _matrix(loc) -> list[float]:
    t = loc.wrapped.Transformation()
    return [t.Value(r, c) for r in range(1, 4) for c in range(1, 5)] + [0.0, 0.0, 0.0, 1.0]


def _shape(obj):
    """The shape an assembly node holds (a Workplane's first value)."""
    import cadquery as cq

    return obj.val() if isinstance(obj, cq.Workplane) else obj


def _write(shape, part_number: str, kind: str, out_dir: Path, source: str) -> None:
    from cadfinder.geometry.readers import tessellate_shape

    mesh = tessellate_shape(shape, None)
    stem = file_stem(part_number)
    mesh.export(out_dir / f"{stem}.stl")
    (out_dir / f"{stem}.json").write_text(json.dumps(
        {"part_number": part_number, "name": part_number, "units": "mm", "kind": kind,
         "description": f"{kind} from {source}"}, sort_keys=True))


def _explode(path: str, part_number: str, out_dir: str) -> list[dict]:
    import cadquery as cq

    try:
        top = cq.Assembly.importStep(path)
    except Exception as e:  # OpenCascade's reader raises plain exceptions for damaged files
        raise InputError(f"{Path(path).name}: cannot read the STEP assembly ({type(e).__name__}: {e})") from None
    out, source = Path(out_dir), Path(path).name
    parts: dict[tuple, str] = {}  # (name, volume, area) -> part number
    taken: set[str] = {part_number}
    subs: dict[str, str] = {}  # sub-assembly name -> part number
    records: list[dict] = []

    def unique(name: str) -> str:
        pn, i = name, 2
        while pn in taken:
            pn, i = f"{name}-V{i}", i + 1
        taken.add(pn)
        return pn

    def part_of(node) -> str:
        shape = _shape(node.obj)
        name = component_name(node.name)
        key = (name, float(f"{shape.Volume():.6g}"), float(f"{shape.Area():.6g}"))
        if key not in parts:
            parts[key] = unique(name)
            _write(shape, parts[key], "part", out, source)
        return parts[key]

    def visit(node, pn: str) -> None:
        placements, shapes = [], []
        for child in node.children:
            if child.children:
                name = component_name(child.name)
                if name not in subs:
                    subs[name] = unique(name)
                    visit(child, subs[name])
                placements.append((subs[name], _matrix(child.loc), child.name))
            elif child.obj is not None:
                placements.append((part_of(child), _matrix(child.loc), child.name))
            else:
                continue
            shapes.append(child.toCompound())
        if node.obj is not None and node.children:  # an assembly node that carries its own solid
            placements.append((part_of(node), _matrix(cq.Location()), node.name))
            shapes.append(_shape(node.obj))
        if not placements:
            raise InputError(f"{source}: the assembly {pn} has no solid components")
        _write(cq.Compound.makeCompound(shapes), pn, "assembly", out, source)
        records.append({"part_number": pn, "placements": placements})

    if not top.children:
        raise InputError(f"{source}: no components in this STEP assembly")
    visit(top, part_number)
    return records
