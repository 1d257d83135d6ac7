"""Open a genome with the open kernel (CadQuery/OpenCascade): a B-rep, written as STEP and STL."""

from __future__ import annotations

from pathlib import Path

from cadfinder.bridge import safety


def build(genome: dict, out_dir: str | Path, name: str) -> dict:
    """Instantiate the genome and write OUT/NAME.step and OUT/NAME.stl; returns paths and volume."""
    from cadfinder.genome.instantiate import instantiate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safety.file_stem(name)
    inst = instantiate(genome)
    step = safety.inside(out_dir, f"{name}.step")
    stl = safety.inside(out_dir, f"{name}.stl")
    inst.export_step(step)
    mesh = inst.mesh()
    mesh.export(stl)
    from cadfinder.geometry.readers import read_cad

    back = float(read_cad(step).Volume())  # the STEP as another CAD system will read it
    vol = float(inst.volume_mm3)
    out = {"backend": "cadquery", "step": str(step), "stl": str(stl), "volume_mm3": vol,
           "step_reimport_volume_mm3": back, "faces": len(mesh.faces)}
    if abs(back - vol) > 1e-3 * vol:
        out["warning"] = f"the STEP re-imports with volume {back:.1f} mm³, not {vol:.1f} mm³"
    return out
