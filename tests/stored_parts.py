"""Parts copied under new part numbers, and what the library stored of them: shared by the fault
tests (tests/test_faults.py) and the load benchmark (bench/bench_load.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

SCAN_VIEWS = 48
WHOLE = (1, True, True, True, True, SCAN_VIEWS)  # stored once, latent, sample, mesh, implicit form, views


def copy_as_new_parts(catalog: Path, folder: Path, prefix: str, n: int) -> list[str]:
    """The first n catalog meshes as PREFIX-000, PREFIX-001, ... (STL with a sidecar naming the
    part), so that ingesting them adds new parts; returns the part numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k, stl in enumerate(sorted(catalog.glob("*.stl"))[:n]):
        pn = f"{prefix}-{k:03d}"
        shutil.copy(stl, folder / f"{pn}.stl")
        (folder / f"{pn}.json").write_text(json.dumps({"part_number": pn, "name": f"copy of {stl.stem}"}))
        names.append(pn)
    return names


def stored(conn, prefix: str | None) -> dict[str, tuple]:
    """part number -> (rows, has latent, sample, mesh, implicit form, scan views) of the parts
    whose number starts with PREFIX- (every part for None); a whole part stored once is WHOLE."""
    rows = conn.execute(
        "SELECT m.part_number, count(*) OVER (PARTITION BY m.part_number), m.sdf_latent IS NOT NULL, "
        "m.surface_sample IS NOT NULL, m.mesh_data IS NOT NULL, m.implicit_codes IS NOT NULL, "
        "(SELECT count(*) FROM scan_view_descriptors d WHERE d.model_id = m.id) "
        "FROM cad_models m WHERE m.part_number LIKE %s", ("%" if prefix is None else prefix + "-%",)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def delete(conn, prefix: str) -> None:
    conn.execute("DELETE FROM cad_models WHERE part_number LIKE %s", (prefix + "-%",))
    conn.commit()


def delete_numbers(conn, numbers: list[str]) -> None:
    """Remove these parts and assemblies (their component rows first: a part an assembly uses
    cannot go)."""
    conn.execute("DELETE FROM assembly_hierarchy WHERE assembly_id IN "
                 "(SELECT id FROM cad_models WHERE part_number = ANY(%s))", (numbers,))
    conn.execute("DELETE FROM cad_models WHERE part_number = ANY(%s)", (numbers,))
    conn.commit()


def main() -> None:
    """`python -m tests.stored_parts [PREFIX]`: stored(PREFIX) of the configured library as JSON
    (for tests whose library lives in another CADFINDER_HOME)."""
    import sys

    from cadfinder import library, settings

    with library.connect(settings.load(), None) as conn:
        print(json.dumps(stored(conn, sys.argv[1] if len(sys.argv) > 1 else None)))


if __name__ == "__main__":
    main()
