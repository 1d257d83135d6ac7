"""Read part files and point clouds into millimetres, with clear errors and repair warnings.

Meshes: STL, OBJ, PLY, OFF, GLB/GLTF (trimesh); STEP and IGES through OpenCascade (CadQuery),
tessellated with a chordal tolerance. Point clouds: XYZ/TXT/CSV, PLY, PCD (ascii, binary,
binary_compressed), NPY/NPZ, LAS/LAZ (laspy). Nothing here raises anything but `InputError`
for a bad file.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from cadfinder.errors import InputError
from cadfinder.geometry.units import to_mm

MESH_SUFFIXES = {".stl", ".obj", ".ply", ".off", ".glb", ".gltf"}
CAD_SUFFIXES = {".step", ".stp", ".iges", ".igs"}
POINT_SUFFIXES = {".xyz", ".txt", ".csv", ".pts", ".pcd", ".npy", ".npz", ".las", ".laz", ".ply"}
PART_SUFFIXES = MESH_SUFFIXES | CAD_SUFFIXES
QUERY_SUFFIXES = POINT_SUFFIXES | PART_SUFFIXES  # what a geometric query may be read from

MAX_FILE_BYTES = 2 << 30  # 2 GiB
MAX_FACES = 5_000_000
MAX_POINTS = 2_000_000
MIN_POINTS = 50
CAD_READ_TIMEOUT = 120.0  # seconds a query's STEP or IGES file may take to read and tessellate
# Native units of formats that define them; the rest default to millimetres.
FORMAT_UNITS = {".glb": "m", ".gltf": "m"}


@dataclass
class MeshRead:
    mesh: trimesh.Trimesh  # millimetres
    source: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class PointsRead:
    points: np.ndarray  # (N, 3) float64, millimetres
    normals: np.ndarray | None
    source: str
    warnings: list[str] = field(default_factory=list)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size / 2**30:.1f} GiB is larger than the {MAX_FILE_BYTES >> 30} GiB limit")


def _scale_for(path: Path, units: str | None) -> float:
    try:
        return to_mm(units or FORMAT_UNITS.get(path.suffix.lower(), "mm"))
    except ValueError as e:
        raise InputError(str(e)) from None


def _size_warning(extent_mm: float, warnings: list[str], path: Path) -> None:
    if extent_mm < 0.5:
        warnings.append(
            f"{path.name} is only {extent_mm:.3g} mm across: if its units are metres or inches, say so (--units)"
        )
    elif extent_mm > 50_000:
        warnings.append(f"{path.name} is {extent_mm / 1000:.3g} m across: if its units are not mm, say so (--units)")


# ---- meshes ---------------------------------------------------------------------------------


def _concatenate_scene(loaded) -> trimesh.Trimesh:
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not geoms:
            raise InputError("the file holds no triangle geometry")
        return trimesh.util.concatenate(geoms)
    if isinstance(loaded, trimesh.Trimesh):
        return loaded
    raise InputError(f"the file holds a {type(loaded).__name__}, not a surface mesh")


def repair_mesh(mesh: trimesh.Trimesh, name: str) -> tuple[trimesh.Trimesh, list[str]]:
    """Drop NaN/degenerate/duplicate faces, merge vertices, fix winding; warn on what remains."""
    warnings: list[str] = []
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        raise InputError(f"{name}: the mesh has no triangles")
    if v.ndim != 2 or v.shape[1] != 3:  # found fuzzing: an OBJ whose vertex lines lost a coordinate
        raise InputError(f"{name}: the file is damaged (its vertices do not have three coordinates)")
    if len(f) > MAX_FACES:
        raise InputError(f"{name}: {len(f):,} triangles is more than the {MAX_FACES:,} limit; decimate it first")
    if f.ndim != 2 or f.shape[1] != 3 or f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{name}: the file is damaged (triangles refer to vertices it does not have)")
    bad_v = ~np.isfinite(v).all(axis=1)
    if bad_v.any():
        keep = ~bad_v[f].any(axis=1)
        warnings.append(f"{name}: dropped {int((~keep).sum())} triangles with NaN or infinite coordinates")
        f = f[keep]
        if len(f) == 0:
            raise InputError(f"{name}: every triangle has NaN or infinite coordinates")
        v = np.where(bad_v[:, None], 0.0, v)
    m = trimesh.Trimesh(v, f, process=True, validate=False)
    before = len(m.faces)
    m.update_faces(m.nondegenerate_faces(height=1e-12))
    m.update_faces(m.unique_faces())
    m.remove_unreferenced_vertices()
    if len(m.faces) == 0:
        raise InputError(f"{name}: all triangles are degenerate")
    if len(m.faces) < before:
        warnings.append(f"{name}: removed {before - len(m.faces)} degenerate or duplicate triangles")
    if not m.is_watertight:
        trimesh.repair.fill_holes(m)
    trimesh.repair.fix_normals(m)
    if not m.is_watertight:
        warnings.append(f"{name}: the mesh is not watertight; inside/outside uses generalized winding numbers")
    elif m.volume < 0:
        m.invert()
    return m, warnings


def _read_trimesh(path: Path) -> trimesh.Trimesh:
    try:
        loaded = trimesh.load(str(path), force=None, process=False)
    except InputError:
        raise
    except Exception as e:  # trimesh raises many kinds on corrupt input
        raise InputError(f"{path.name}: cannot read as {path.suffix[1:].upper()}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if isinstance(loaded, trimesh.PointCloud):
        raise InputError(f"{path.name}: holds a point cloud, not a mesh (use it as a point-cloud query)")
    try:
        return _concatenate_scene(loaded)
    except InputError as e:
        raise InputError(f"{path.name}: {e}") from None


def tessellate_shape(shape, tolerance: float | None) -> trimesh.Trimesh:
    bb = shape.BoundingBox()
    diag = max(bb.DiagonalLength, 1e-9)
    tol = tolerance if tolerance else max(1e-3, 1e-3 * diag)
    verts, tris = shape.tessellate(tol, 0.2)
    if not tris:
        raise InputError("the CAD model has no solid faces to tessellate")
    v = np.array([(p.x, p.y, p.z) for p in verts], dtype=np.float64)
    return trimesh.Trimesh(v, np.asarray(tris, dtype=np.int64), process=True)


def read_cad(path: Path, tolerance: float | None = None):
    """Read a STEP or IGES file into a CadQuery shape (millimetres, as OpenCascade converts)."""
    import cadquery as cq

    path = Path(path)
    _check_file(path)
    try:
        if path.suffix.lower() in (".step", ".stp"):
            shapes = cq.importers.importStep(str(path)).vals()
            if not shapes:
                raise ValueError("no shapes in the file")
            shape = shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)
        else:
            from OCP.IFSelect import IFSelect_RetDone
            from OCP.IGESControl import IGESControl_Reader

            reader = IGESControl_Reader()
            if reader.ReadFile(str(path)) != IFSelect_RetDone:
                raise ValueError("IGES reader failed")
            reader.TransferRoots()
            shape = cq.Shape.cast(reader.OneShape())
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path.name}: cannot read as {path.suffix[1:].upper()}: {msg}") from None
    if shape is None or shape.isNull():
        raise InputError(f"{path.name}: the file holds no geometry")
    return shape


def _tessellated_cad(path: Path, tolerance: float | None) -> trimesh.Trimesh:
    """A STEP or IGES file read and tessellated (InputError for anything it cannot read)."""
    try:
        return tessellate_shape(read_cad(path), tolerance)
    except InputError as e:
        raise InputError(str(e) if str(e).startswith(path.name) else f"{path.name}: {e}") from None
    except Exception as e:  # OpenCascade's own exceptions on damaged geometry (seen: Bnd_Box is void)
        raise InputError(f"{path.name}: cannot tessellate the CAD model: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _tessellated_cad_arrays(path: str, tolerance: float | None) -> tuple[np.ndarray, np.ndarray]:
    m = _tessellated_cad(Path(path), tolerance)
    return np.asarray(m.vertices), np.asarray(m.faces)


def _tessellated_cad_isolated(path: Path, tolerance: float | None) -> trimesh.Trimesh:
    """_tessellated_cad in a child process: a damaged file can crash OpenCascade or keep it busy
    for minutes (seen fuzzing), which must not take the app down with it."""
    from cadfinder import isolation

    vertices, faces = isolation.call(_tessellated_cad_arrays, (str(path), tolerance), f"{path.name}: the CAD reader",
                                     CAD_READ_TIMEOUT, timeout_advice="damaged, or too large for a query: export it "
                                     "as STL")
    return trimesh.Trimesh(vertices, faces, process=False)


def read_mesh(path: str | Path, units: str | None = None, tolerance: float | None = None,
              isolate_cad: bool = False) -> MeshRead:
    """Read a mesh or CAD file as a repaired triangle mesh in millimetres. With `isolate_cad`, a
    STEP or IGES file is read in a child process (queries: a crash or hang becomes an error)."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in CAD_SUFFIXES:
        raw = (_tessellated_cad_isolated if isolate_cad else _tessellated_cad)(path, tolerance)
        scale = 1.0 if units is None else _scale_for(path, units)  # OpenCascade already gives mm
    elif suffix in MESH_SUFFIXES:
        raw = _read_trimesh(path)
        scale = _scale_for(path, units)
    else:
        raise InputError(f"{path.name}: unsupported mesh format {suffix!r}; use one of "
                         + ", ".join(sorted(PART_SUFFIXES)))
    mesh, warnings = repair_mesh(raw, path.name)
    if scale != 1.0:
        mesh.apply_scale(scale)
    _size_warning(float(np.linalg.norm(mesh.extents)), warnings, path)
    return MeshRead(mesh, str(path), warnings)


# ---- point clouds ---------------------------------------------------------------------------


def _lzf_decompress(data: bytes, out_len: int) -> bytes:
    """LZF (as PCL's binary_compressed uses) in pure Python."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i : i + ctrl + 1]
            i += ctrl + 1
        else:
            length = ctrl >> 5
            ref = len(out) - ((ctrl & 0x1F) << 8) - 1
            if length == 7:
                length += data[i]
                i += 1
            ref -= data[i]
            i += 1
            if ref < 0:
                raise ValueError("corrupt LZF stream")
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
    if len(out) != out_len:
        raise ValueError(f"LZF stream gives {len(out)} bytes, header says {out_len}")
    return bytes(out)


_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4",
              ("I", 8): "i8", ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


def _read_pcd(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    raw = path.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise ValueError("no DATA line in the header")
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    fields = header.get("FIELDS")
    if not fields or not {"x", "y", "z"} <= set(fields):
        raise ValueError("the header names no x y z fields")
    sizes = [int(s) for s in header.get("SIZE", [])]
    types = header.get("TYPE", [])
    counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
    npts = int(header.get("POINTS", header.get("WIDTH", ["0"]))[0])
    dtype = np.dtype([(f, _PCD_TYPES[(t, s)], (c,)) if c > 1 else (f, _PCD_TYPES[(t, s)])
                      for f, s, t, c in zip(fields, sizes, types, counts)])
    mode = header["DATA"][0].lower()
    if mode == "ascii":
        table = np.loadtxt(io.BytesIO(raw[pos:]), ndmin=2)
        cols = {}
        k = 0
        for f, c in zip(fields, counts):
            cols[f] = table[:, k]
            k += c
    elif mode == "binary":
        arr = np.frombuffer(raw, dtype=dtype, count=npts, offset=pos)
        cols = {f: arr[f].astype(np.float64) for f in ("x", "y", "z", "normal_x", "normal_y", "normal_z") if f in fields}
    elif mode == "binary_compressed":
        comp, uncomp = struct.unpack("<II", raw[pos : pos + 8])
        buf = _lzf_decompress(raw[pos + 8 : pos + 8 + comp], uncomp)
        cols, off = {}, 0
        for f, s, t, c in zip(fields, sizes, types, counts):
            width = s * c * npts
            if f in ("x", "y", "z", "normal_x", "normal_y", "normal_z"):
                cols[f] = np.frombuffer(buf[off : off + width], dtype=_PCD_TYPES[(t, s)]).astype(np.float64)
            off += width
    else:
        raise ValueError(f"unknown DATA mode {mode!r}")
    pts = np.stack([cols["x"], cols["y"], cols["z"]], axis=1)
    nrm = None
    if all(k in cols for k in ("normal_x", "normal_y", "normal_z")):
        nrm = np.stack([cols["normal_x"], cols["normal_y"], cols["normal_z"]], axis=1)
    return pts, nrm


def _read_table(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    text = path.read_text(errors="replace")
    # Fast path: a clean numeric table (optionally one header line), as most scanners write.
    lines = [ln for ln in text.splitlines()[:3] if ln.strip() and ln.strip()[0] not in "#/;"]
    if lines:
        delim = "," if "," in lines[-1] else (";" if ";" in lines[-1] else None)
        header = 1 if re.search(r"[A-DF-Za-df-z]", lines[0]) else 0
        try:
            with warnings.catch_warnings():  # an empty table is the parser's to explain below
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(io.StringIO(text), delimiter=delim, comments=("#", "//"), skiprows=header,
                                   ndmin=2)
            if table.shape[1] >= 3 and len(table):
                return table[:, :3], (table[:, 3:6] if table.shape[1] >= 6 else None)
        except ValueError:
            pass  # irregular file: the tolerant parser below says what is wrong
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#/;":
            continue
        toks = re.split(r"[,\s;]+", line)
        try:
            rows.append([float(t) for t in toks if t])
        except ValueError:
            if rows:
                raise ValueError(f"non-numeric line: {line[:60]!r}") from None
            continue  # a header line
    if not rows:
        raise ValueError("no numeric rows")
    width = min(len(r) for r in rows)
    if width < 3:
        raise ValueError("rows need at least 3 numbers (x y z)")
    table = np.array([r[:width] for r in rows], dtype=np.float64)
    normals = table[:, 3:6] if width >= 6 else None
    return table[:, :3], normals


def _read_numpy(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        normals = None
    else:
        with np.load(path, allow_pickle=False) as z:
            key = next((k for k in ("points", "xyz", "pts", "arr_0") if k in z.files), None)
            if key is None:
                raise ValueError(f"no 'points' array (has: {', '.join(z.files)})")
            arr = z[key]
            normals = z["normals"] if "normals" in z.files else None
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise ValueError(f"array of shape {arr.shape}, expected (N, 3)")
    if normals is None and arr.shape[1] >= 6:
        normals = arr[:, 3:6]
    return arr[:, :3].astype(np.float64), None if normals is None else np.asarray(normals, dtype=np.float64)


def _read_las(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import laspy

    with laspy.open(str(path)) as f:
        n, record = int(f.header.point_count), int(f.header.point_format.size)
        # A damaged header can claim billions of points (seen fuzzing: laspy then spins for
        # minutes); an uncompressed file must hold what it claims.
        if path.suffix.lower() == ".las" and n * record > path.stat().st_size:
            raise InputError(f"{path.name}: the header claims {n:,} points, more than the file holds (damaged?)")
        las = f.read()
    return np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1).astype(np.float64), None


def _ply_has_faces(path: Path) -> bool:
    """Whether a PLY file holds a mesh (faces), not only points, from its header: a mesh is
    sampled over its surface like an STL, so the same part searches the same in either format."""
    with open(path, "rb") as f:
        header = f.read(1 << 16).split(b"end_header", 1)[0].decode("ascii", "replace")
    for line in header.splitlines():
        words = line.split()
        if len(words) == 3 and words[:2] == ["element", "face"]:
            return words[2].isdigit() and int(words[2]) > 0
    return False


def _read_ply_points(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    loaded = trimesh.load(str(path), process=False)
    if isinstance(loaded, trimesh.PointCloud):
        return np.asarray(loaded.vertices, dtype=np.float64), None
    if isinstance(loaded, trimesh.Trimesh):
        return np.asarray(loaded.vertices, dtype=np.float64), None
    raise ValueError("no vertices")


def read_points(path: str | Path, units: str | None = None, max_points: int = MAX_POINTS,
                seed: int = 0) -> PointsRead:
    """Read a point cloud in millimetres; NaN rows are dropped, huge clouds subsampled (with warnings).

    A mesh file given here is sampled on its surface, so any part file can be a query.
    """
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    readers = {".pcd": _read_pcd, ".npy": _read_numpy, ".npz": _read_numpy, ".las": _read_las,
               ".laz": _read_las, ".ply": _read_ply_points}
    warnings: list[str] = []
    if suffix in {".xyz", ".txt", ".csv", ".pts"}:
        reader = _read_table
    elif suffix in readers and not (suffix == ".ply" and _ply_has_faces(path)):
        reader = readers[suffix]
    elif suffix in PART_SUFFIXES:
        m = read_mesh(path, units, isolate_cad=True)
        pts, idx = trimesh.sample.sample_surface_even(m.mesh, 20_000, seed=seed)
        return PointsRead(np.asarray(pts), m.mesh.face_normals[idx], str(path), m.warnings)
    else:
        raise InputError(f"{path.name}: unsupported point-cloud format {suffix!r}")
    try:
        pts, normals = reader(path)
    except InputError:
        raise
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path.name}: cannot read as a {suffix[1:].upper()} point cloud: {msg}") from None
    if normals is not None and normals.shape != pts.shape:
        normals = None
    ok = np.isfinite(pts).all(axis=1)
    if not ok.all():
        warnings.append(f"{path.name}: dropped {int((~ok).sum())} points with NaN or infinite coordinates")
        pts = pts[ok]
        normals = normals[ok] if normals is not None else None
    if normals is not None and not np.isfinite(normals).all():
        normals = None
    if len(pts) < MIN_POINTS:
        raise InputError(f"{path.name}: {len(pts)} valid points is too few (at least {MIN_POINTS} needed)")
    if len(pts) > max_points:
        keep = np.random.default_rng(seed).choice(len(pts), max_points, replace=False)
        warnings.append(f"{path.name}: subsampled {len(pts):,} points to {max_points:,}")
        pts = pts[keep]
        normals = normals[keep] if normals is not None else None
    pts = pts * _scale_for(path, units if units else ("m" if suffix in (".las", ".laz") else None))
    extent = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    if extent == 0:
        raise InputError(f"{path.name}: all points coincide")
    _size_warning(extent, warnings, path)
    return PointsRead(pts, normals, str(path), warnings)
