"""Open a genome with the open kernel (CadQuery/OpenCascade): a B-rep, written as STEP and STL."""

from __future__ import annotations

from pathlib import Path

from cadfinder.bridge import safety


def build(genome: dict, out_dir: str | Path, name: str) -> dict:
    """Instantiate the genome and write OUT/NAME.step and OUT/NAME.stl; returns paths and volume."""
    from cadfinder.genome.instantiate import instantiate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safety.part_number(name)
    inst = instantiate(genome)
    step = safety.inside(out_dir, f"{name}.step")
    stl = safety.inside(out_dir, f"{name}.stl")
    inst.export_step(step)
    mesh = inst.mesh()
    mesh.export(stl)
    return {"backend": "cadquery", "step": str(step), "stl": str(stl), "volume_mm3": float(inst.volume_mm3()),
            "faces": len(mesh.faces)}
