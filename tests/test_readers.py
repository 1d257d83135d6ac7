"""Readers on real files of every supported format, and on bad input."""

import struct

import numpy as np
import pytest
import trimesh

from cadfinder.errors import InputError
from cadfinder.geometry import readers


@pytest.fixture(scope="module")
def box():
    return trimesh.creation.box((20.0, 10.0, 5.0))


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".ply", ".off", ".glb"])
def test_mesh_formats(tmp_path, box, suffix):
    path = tmp_path / f"part{suffix}"
    m = box.copy()
    if suffix == ".glb":
        m.apply_scale(0.001)  # glTF is in metres
    m.export(path)
    got = readers.read_mesh(path)
    assert got.mesh.is_watertight
    np.testing.assert_allclose(sorted(got.mesh.extents), [5, 10, 20], rtol=1e-4)
    assert got.mesh.volume == pytest.approx(1000, rel=1e-4)


def test_units_are_explicit(tmp_path, box):
    path = tmp_path / "inch.stl"
    box.export(path)
    got = readers.read_mesh(path, units="in")
    assert max(got.mesh.extents) == pytest.approx(20 * 25.4)
    with pytest.raises(InputError, match="unknown length unit"):
        readers.read_mesh(path, units="furlong")
    small = box.copy()
    small.apply_scale(0.001)
    small.export(tmp_path / "metres.stl")
    assert any("units" in w for w in readers.read_mesh(tmp_path / "metres.stl").warnings)


def test_step_and_iges(tmp_path):
    import cadquery as cq
    from OCP.IGESControl import IGESControl_Writer

    solid = cq.Workplane().box(30, 20, 10).faces(">Z").hole(6)
    cq.exporters.export(solid, str(tmp_path / "p.step"))
    got = readers.read_mesh(tmp_path / "p.step")
    assert got.mesh.is_watertight
    assert got.mesh.volume == pytest.approx(30 * 20 * 10 - np.pi * 9 * 10, rel=2e-3)
    w = IGESControl_Writer("MM", 1)
    w.AddShape(solid.val().wrapped)
    w.ComputeModel()
    assert w.Write(str(tmp_path / "p.igs"))
    got = readers.read_mesh(tmp_path / "p.igs")
    assert max(got.mesh.extents) == pytest.approx(30, rel=1e-3)


def test_bad_meshes(tmp_path):
    (tmp_path / "empty.stl").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        readers.read_mesh(tmp_path / "empty.stl")
    (tmp_path / "junk.stl").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(InputError, match="junk.stl"):
        readers.read_mesh(tmp_path / "junk.stl")
    (tmp_path / "junk.step").write_text("ISO-10303-21;\nthis is not a step file\n")
    with pytest.raises(InputError, match="junk.step"):
        readers.read_mesh(tmp_path / "junk.step")
    with pytest.raises(InputError, match="no such file"):
        readers.read_mesh(tmp_path / "missing.stl")
    (tmp_path / "x.dwg").write_text("x")
    with pytest.raises(InputError, match="unsupported"):
        readers.read_mesh(tmp_path / "x.dwg")


def test_nan_and_open_meshes_are_repaired_with_warnings(tmp_path, box):
    lines = [f"v {x} {y} {z}" for x, y, z in box.vertices] + ["v nan nan nan"]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in box.faces] + ["f 1 2 9"]
    (tmp_path / "nan.obj").write_text("\n".join(lines))
    got = readers.read_mesh(tmp_path / "nan.obj")
    assert any("NaN" in w for w in got.warnings)
    assert got.mesh.volume == pytest.approx(1000, rel=1e-4)
    holed = trimesh.creation.icosphere(3, radius=10)
    holed = trimesh.Trimesh(holed.vertices, holed.faces[5:], process=False)
    holed.export(tmp_path / "holed.stl")
    got = readers.read_mesh(tmp_path / "holed.stl")
    assert len(got.mesh.faces) > 0


def test_huge_files_are_refused(tmp_path, box, monkeypatch):
    box.export(tmp_path / "big.stl")
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    with pytest.raises(InputError, match="limit"):
        readers.read_mesh(tmp_path / "big.stl")


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(500, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True) * 25.0


def test_xyz_txt_csv(tmp_path, cloud):
    np.savetxt(tmp_path / "a.xyz", cloud)
    np.savetxt(tmp_path / "b.csv", np.hstack([cloud, cloud / 25]), delimiter=",", header="x,y,z,nx,ny,nz",
               comments="")
    np.savetxt(tmp_path / "c.txt", cloud, delimiter="\t")
    for name in ("a.xyz", "b.csv", "c.txt"):
        got = readers.read_points(tmp_path / name)
        np.testing.assert_allclose(got.points, cloud, atol=1e-9)
    assert readers.read_points(tmp_path / "b.csv").normals is not None


def _pcd_header(n, data, fields="x y z", size="4 4 4", type_="F F F", count="1 1 1"):
    return (f"# .PCD v0.7\nVERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {type_}\nCOUNT {count}\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n").encode()


def _lzf_literal(raw: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(raw), 32):
        chunk = raw[i : i + 32]
        out.append(len(chunk) - 1)
        out += chunk
    return bytes(out)


def test_pcd_ascii_binary_compressed(tmp_path, cloud):
    c32 = cloud.astype(np.float32)
    (tmp_path / "a.pcd").write_bytes(_pcd_header(len(c32), "ascii") + "\n".join(
        " ".join(f"{v:.6f}" for v in row) for row in c32).encode())
    (tmp_path / "b.pcd").write_bytes(_pcd_header(len(c32), "binary") + c32.tobytes())
    soa = b"".join(c32[:, k].tobytes() for k in range(3))
    comp = _lzf_literal(soa)
    (tmp_path / "c.pcd").write_bytes(_pcd_header(len(c32), "binary_compressed") + struct.pack("<II", len(comp), len(soa)) + comp)
    for name in ("a.pcd", "b.pcd", "c.pcd"):
        np.testing.assert_allclose(readers.read_points(tmp_path / name).points, c32, atol=1e-4)


def test_lzf_back_references():
    # literal "abc", then a back-reference of length 5 at distance 3 -> "abcabcab"
    stream = bytes([2]) + b"abc" + bytes([(3 << 5) | 0, 2])
    assert readers._lzf_decompress(stream, 8) == b"abcabcab"


def test_npy_npz_ply_las(tmp_path, cloud):
    import laspy

    np.save(tmp_path / "a.npy", cloud)
    np.savez(tmp_path / "b.npz", points=cloud, normals=cloud / 25)
    trimesh.PointCloud(cloud).export(tmp_path / "c.ply")
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = [0.0001] * 3
    las = laspy.LasData(header)
    las.x, las.y, las.z = cloud[:, 0] / 1000, cloud[:, 1] / 1000, cloud[:, 2] / 1000  # metres
    las.write(tmp_path / "d.las")
    for name in ("a.npy", "b.npz", "c.ply", "d.las"):
        got = readers.read_points(tmp_path / name)
        np.testing.assert_allclose(got.points, cloud, atol=0.1)
    assert readers.read_points(tmp_path / "b.npz").normals is not None


@pytest.mark.parametrize("suffix", [".stl", ".ply", ".obj"])
def test_points_from_a_mesh_file(tmp_path, box, suffix):
    """A mesh is sampled over its surface whatever its format (a PLY mesh too, not its 8 corners)."""
    box.export(tmp_path / f"m{suffix}")
    got = readers.read_points(tmp_path / f"m{suffix}")
    assert got.points.shape[1] == 3 and len(got.points) >= 10_000
    assert np.abs(got.points).max() <= 10 + 1e-6
    assert got.normals is not None and len(got.normals) == len(got.points)


def test_bad_point_clouds(tmp_path, cloud):
    bad = cloud.copy()
    bad[:10] = np.nan
    np.savetxt(tmp_path / "nan.xyz", bad)
    got = readers.read_points(tmp_path / "nan.xyz")
    assert len(got.points) == len(cloud) - 10 and any("NaN" in w for w in got.warnings)
    np.savetxt(tmp_path / "few.xyz", cloud[:5])
    with pytest.raises(InputError, match="too few"):
        readers.read_points(tmp_path / "few.xyz")
    (tmp_path / "text.xyz").write_text("hello world\nthis is prose\n")
    with pytest.raises(InputError, match="text.xyz"):
        readers.read_points(tmp_path / "text.xyz")
    np.save(tmp_path / "flat.npy", np.zeros((100, 2)))
    with pytest.raises(InputError, match="expected"):
        readers.read_points(tmp_path / "flat.npy")
    np.save(tmp_path / "same.npy", np.ones((100, 3)))
    with pytest.raises(InputError, match="coincide"):
        readers.read_points(tmp_path / "same.npy")
    (tmp_path / "broken.pcd").write_bytes(b"VERSION 0.7\nFIELDS a b\n")
    with pytest.raises(InputError, match="broken.pcd"):
        readers.read_points(tmp_path / "broken.pcd")


def test_huge_clouds_are_subsampled(tmp_path):
    np.save(tmp_path / "big.npy", np.random.default_rng(0).normal(size=(5000, 3)))
    got = readers.read_points(tmp_path / "big.npy", max_points=1000)
    assert len(got.points) == 1000 and any("subsampled" in w for w in got.warnings)
