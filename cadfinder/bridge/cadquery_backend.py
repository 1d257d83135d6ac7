"""Open a genome with the open kernel (CadQuery/OpenCascade): a B-rep, written as STEP and STL."""

from __future__ import annotations

from pathlib import Path

from cadfinder import isolation
from cadfinder.bridge import safety
from cadfinder.errors import GenomeError

BUILD_TIMEOUT = 600.0  # seconds; the largest pattern a genome may hold (1,000 holes) builds in about 60


def build(genome: dict, out_dir: str | Path, name: str) -> dict:
    """Instantiate the genome and write OUT/NAME.step and OUT/NAME.stl; returns the paths, the
    volume, the STEP's re-imported volume and the part's size, mass and feature counts.

    The kernel runs in a child process: a genome on which OpenCascade crashes (found fuzzing:
    1,000 overlapping bolt holes) is a GenomeError, not the end of the app."""
    from cadfinder.genome.validate import check

    check(genome)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safety.file_stem(name)
    return isolation.call(_build, (genome, str(out_dir), name), "the open kernel, building this genome",
                          BUILD_TIMEOUT, GenomeError)


def _build(genome: dict, out_dir: str, name: str) -> dict:
    from cadfinder.catalog.build import describe_instance
    from cadfinder.genome.instantiate import instantiate

    out_dir = Path(out_dir)
    inst = instantiate(genome)
    step = safety.inside(out_dir, f"{name}.step")
    stl = safety.inside(out_dir, f"{name}.stl")
    inst.export_step(step)
    mesh = inst.mesh()
    mesh.export(stl)
    from cadfinder.geometry.readers import read_cad

    back = float(read_cad(step).Volume())  # the STEP as another CAD system will read it
    vol = float(inst.volume_mm3)
    out = {"backend": "cadquery", "step": str(step), "stl": str(stl), **describe_instance(inst, genome, mesh),
           "volume_mm3": vol, "step_reimport_volume_mm3": back, "faces": len(mesh.faces)}
    if abs(back - vol) > 1e-3 * vol:
        out["warning"] = f"the STEP re-imports with volume {back:.1f} mm³, not {vol:.1f} mm³"
    return out
