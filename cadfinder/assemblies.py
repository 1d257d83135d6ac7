"""Assemblies in the library: their component trees, and where a part is used.

An assembly is a library row of kind 'assembly' whose shape (implicit form, embeddings, mesh) is
the whole assembly, so it is searched like a part. Each placed component is one
`assembly_hierarchy` row: the parent assembly, the component (a part or a sub-assembly), the
component's frame in the parent's as a 4x4 row-major transform (mm), quantity 1, and its place
in the tree (`path`: Creo's seq_path, or the STEP instance name). The readers (STEP assembly
files, Creo's bom.get_paths) produce `Placement`s; `store` writes them once every component is
in the library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadfinder.db import revisions
from cadfinder.errors import InputError

IDENTITY = tuple(np.eye(4).ravel().tolist())
MAX_DEPTH = 20  # deeper than any real product structure; stops a cycle in bad data


@dataclass(frozen=True)
class Placement:
    """One placed component: its part number, its 4x4 transform (row-major, 16 floats, mm) in
    the parent's frame, and its place in the tree."""
    component: str
    transform: tuple = IDENTITY
    path: str = ""


def check_transform(t) -> tuple:
    """A 4x4 rigid transform as 16 floats; InputError for anything else (NaN, shear, scale)."""
    m = np.asarray(t, dtype=float).reshape(-1)
    if m.size != 16 or not np.isfinite(m).all():
        raise InputError(f"a component transform must be 16 finite numbers, not {np.asarray(t).tolist()!r}")
    m = m.reshape(4, 4)
    r = m[:3, :3]
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-5) or not np.allclose(m[3], [0, 0, 0, 1], atol=1e-9):
        raise InputError("a component transform must be a rotation and a translation (no scale or shear)")
    return tuple(m.ravel().tolist())


def store(conn, assembly: str, placements: list[Placement]) -> int:
    """Replace the component rows of `assembly` (its part number) in one transaction; every
    component must already be in the library. Returns the rows written."""
    components = {p.component for p in placements}
    if assembly in components:
        raise InputError(f"assembly {assembly} lists itself as a component")
    numbers = sorted(components | {assembly})
    ids = dict(conn.execute("SELECT part_number, id FROM cad_models WHERE part_number = ANY(%s)",
                            (numbers,)).fetchall())
    missing = [n for n in numbers if n not in ids]
    if missing:
        raise InputError(f"assembly {assembly}: not in the library: {', '.join(missing[:5])}")
    with conn.transaction():
        conn.execute("UPDATE cad_models SET kind = 'assembly' WHERE id = %s", (ids[assembly],))
        conn.execute("DELETE FROM assembly_hierarchy WHERE assembly_id = %s", (ids[assembly],))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO assembly_hierarchy (assembly_id, component_id, transform, quantity, path) "
                            "VALUES (%s, %s, %s, 1, %s)",
                            [(ids[assembly], ids[p.component], list(check_transform(p.transform)), p.path[:400])
                             for p in placements])
    return len(placements)


WHERE_USED_SQL = """WITH RECURSIVE up (assembly_id, part_number, depth) AS (
                         SELECT h.assembly_id, c.part_number, 1
                         FROM assembly_hierarchy h JOIN cad_models c ON c.id = h.component_id
                         WHERE c.part_number = ANY(%(pns)s)
                       UNION ALL
                         SELECT h.assembly_id, up.part_number, up.depth + 1
                         FROM assembly_hierarchy h JOIN up ON h.component_id = up.assembly_id
                         WHERE up.depth < %(max)s)
                     SELECT m.part_number, m.name, up.part_number, count(*), min(up.depth),
                            m.family, m.material, m.mass_kg
                     FROM up JOIN cad_models m ON m.id = up.assembly_id
                     GROUP BY m.part_number, m.name, up.part_number, m.family, m.material, m.mass_kg
                     ORDER BY min(up.depth), m.part_number, up.part_number"""


def where_used_params(part_numbers: list[str]) -> dict:
    return {"pns": list(part_numbers), "max": MAX_DEPTH}


def used_in(rows: list[tuple]) -> list[dict]:
    """WHERE_USED_SQL's rows: for each (assembly, part) the assembly's number, name, family,
    material and mass, the part, how many times it is placed in the whole tree, and the
    shallowest depth (1: a direct component)."""
    return [{"assembly": a, "name": n, "part": p, "quantity": q, "depth": d, "family": f, "material": m,
             "mass_kg": kg} for a, n, p, q, d, f, m, kg in rows]


def where_used(conn, part_numbers: list[str]) -> list[dict]:
    """The assemblies that contain any of these parts, directly or through sub-assemblies (used_in)."""
    return used_in(conn.execute(WHERE_USED_SQL, where_used_params(part_numbers)).fetchall())


TREE_SQL = """WITH RECURSIVE down (parent_id, component_id, transform, path, depth) AS (
                   SELECT assembly_id, component_id, transform, path, 1 FROM assembly_hierarchy
                   WHERE assembly_id = %(id)s
                 UNION ALL
                   SELECT h.assembly_id, h.component_id, h.transform, h.path, down.depth + 1
                   FROM assembly_hierarchy h JOIN down ON h.assembly_id = down.component_id
                   WHERE down.depth < %(max)s)
               SELECT DISTINCT down.parent_id, down.component_id, down.transform, down.path,
                      m.part_number, m.name, m.kind
               FROM down JOIN cad_models m ON m.id = down.component_id"""


def tree_params(root_id) -> dict:
    return {"id": root_id, "max": MAX_DEPTH}


def build_tree(root: tuple, rows: list[tuple]) -> dict:
    """Nested dicts (part_number, name, kind, path, transform of 16 floats, children in path
    order) from the root's (id, part_number, name, kind) and TREE_SQL's rows."""
    children: dict = {}
    for parent, comp, t, path, pn, name, kind in rows:
        children.setdefault(parent, []).append((comp, {"part_number": pn, "name": name, "kind": kind, "path": path,
                                                      "transform": list(t)}))

    def build(node_id, node, depth=0):
        kids = sorted(children.get(node_id, []), key=lambda c: _path_key(c[1]["path"]))
        node["children"] = [build(cid, dict(c), depth + 1) for cid, c in kids] if depth < MAX_DEPTH else []
        return node

    return build(root[0], {"part_number": root[1], "name": root[2], "kind": root[3], "path": "root",
                           "transform": list(IDENTITY)})


def tree(conn, part_number: str) -> dict | None:
    """The component tree under an assembly (build_tree), None when there is no such row."""
    root = conn.execute("SELECT id, part_number, name, kind FROM cad_models WHERE part_number = %s "
                        + revisions.LATEST, (part_number,)).fetchone()
    if root is None:
        return None
    return build_tree(root, conn.execute(TREE_SQL, tree_params(root[0])).fetchall())


def _path_key(path: str) -> tuple:
    """Natural order of 'root.2' before 'root.10', and of instance names."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.replace("-", ".").split("."))


def placed_parts(node: dict, parent: np.ndarray | None = None) -> list[tuple[str, np.ndarray, str]]:
    """Every part leaf of a tree with its 4x4 transform into the root's frame and its path
    (what the preview draws, one colour per component)."""
    t = (np.eye(4) if parent is None else parent) @ np.asarray(node["transform"], float).reshape(4, 4)
    if not node.get("children"):
        return [] if parent is None else [(node["part_number"], t, node["path"])]
    out = []
    for c in node["children"]:
        out += placed_parts(c, t)
    return out
