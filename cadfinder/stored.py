"""How a part's geometry is packed into its library row and read back.

- `surface_sample`: SURFACE_POINTS points with unit normals on the part's surface, canonical
  frame, (N, 6) float16 (what the geometric re-rank fits);
- `mesh_data` + `mesh_format`: the exact tessellation in millimetres, as PLY;
- `norm_offset` + `norm_scale`: the part's canonical frame (mm = canonical * scale + offset).

The implicit form's codes have their own format (cadfinder.implicit.codes.PartCodes). Every
reader and writer of these columns goes through here.
"""

from __future__ import annotations

import io

import numpy as np
import trimesh

from cadfinder.geometry.normalize import Frame

MESH_FORMAT = "ply"


def pack_surface(points: np.ndarray, normals: np.ndarray) -> bytes:
    """(N, 3) points and (N, 3) normals, canonical frame -> the stored float16 sample."""
    return np.hstack([points, normals]).astype(np.float16).tobytes()


def unpack_surface(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A stored surface sample: (N, 3) points and (N, 3) unit normals, canonical frame, float64."""
    a = np.frombuffer(blob, np.float16).reshape(-1, 6).astype(np.float64)
    n = a[:, 3:]
    return a[:, :3], n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)


def pack_mesh(mesh: trimesh.Trimesh) -> tuple[bytes, str]:
    """The exact mesh (mm) as stored: (bytes, format)."""
    buf = io.BytesIO()
    mesh.export(buf, file_type=MESH_FORMAT)
    return buf.getvalue(), MESH_FORMAT


def load_mesh(blob: bytes, fmt: str) -> trimesh.Trimesh:
    """A stored exact mesh, in millimetres."""
    return trimesh.load(io.BytesIO(bytes(blob)), file_type=fmt, process=False, force="mesh")


def part_frame(offset, scale: float) -> Frame:
    """The canonical frame a row's norm_offset (mm) and norm_scale (mm per unit) describe."""
    return Frame(np.asarray(offset if offset is not None else (0, 0, 0), float), float(scale or 1.0))


def canonical_mesh(blob: bytes, fmt: str, offset, scale: float) -> trimesh.Trimesh:
    """A stored exact mesh moved into the part's canonical frame."""
    mesh = load_mesh(blob, fmt)
    return trimesh.Trimesh(part_frame(offset, scale).to_canonical(mesh.vertices), mesh.faces, process=False)
