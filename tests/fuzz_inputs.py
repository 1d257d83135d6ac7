"""Valid query files of every supported format, and mutations of them, for the fuzz tests
(tests/test_fuzz.py) and bench/fuzz.py."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import trimesh

POINT_FORMATS = (".xyz", ".csv", ".pts", ".pcd", ".npy", ".npz", ".las", ".ply")
MESH_FORMATS = (".stl", ".obj", ".ply", ".off", ".glb")


def seed_files(folder: Path) -> list[Path]:
    """One small valid file per format (binary and ASCII STL, a point PLY and a mesh PLY)."""
    folder.mkdir(parents=True, exist_ok=True)
    mesh = trimesh.creation.annulus(r_min=10, r_max=25, height=8, sections=24)
    pts = mesh.sample(300, seed=1)
    out = []
    for suffix in MESH_FORMATS:
        p = folder / f"mesh{suffix}"
        mesh.export(p)
        out.append(p)
    p = folder / "ascii.stl"
    p.write_text(trimesh.exchange.stl.export_stl_ascii(mesh))
    out.append(p)
    for suffix in POINT_FORMATS:
        p = folder / f"points{suffix}"
        if suffix in (".xyz", ".pts"):
            np.savetxt(p, pts)
        elif suffix == ".csv":
            np.savetxt(p, pts, delimiter=",", header="x,y,z", comments="")
        elif suffix == ".npy":
            np.save(p, pts)
        elif suffix == ".npz":
            np.savez(p, points=pts)
        elif suffix == ".pcd":
            body = "\n".join(" ".join(f"{v:.4f}" for v in row) for row in pts)
            p.write_text("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
                         f"WIDTH {len(pts)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(pts)}\nDATA ascii\n{body}\n")
        elif suffix == ".las":
            import laspy

            las = laspy.create(point_format=0, file_version="1.2")
            las.header.scales = [0.001] * 3
            las.x, las.y, las.z = pts[:, 0] / 1000, pts[:, 1] / 1000, pts[:, 2] / 1000
            las.write(p)
        elif suffix == ".ply":
            trimesh.PointCloud(pts).export(p)
        out.append(p)
    return out


def mutate(data: bytes, flips: list[tuple[int, int]], cut: float | None, numbers: list[tuple[int, str]]) -> bytes:
    """`data` with bytes replaced (position as a fraction of the length, new byte), absurd or
    non-finite numbers written over text or binary fields, and truncated to a fraction `cut`."""
    b = bytearray(data)
    for pos, value in flips:
        if b:
            b[int(pos * (len(b) - 1))] = value
    for pos, word in numbers:
        if not b:
            break
        i = int(pos % 1.0 * (len(b) - 1))
        raw = word.encode() if not word.startswith("f32:") else struct.pack("<f", float(word[4:]))
        b[i:i + len(raw)] = raw
    if cut is not None:
        b = b[: int(cut * len(b))]
    return bytes(b)


NUMBERS = ("nan", "inf", "-inf", "1e308", "-1e308", "99999999999", "4294967295", "-1", "0", "1e-320",
           "f32:nan", "f32:inf", "f32:3.4e38", "f32:-1")
