"""The stored forms of a part's geometry: what is written is what is read back."""

import numpy as np
import trimesh

from cadfinder import stored
from cadfinder.geometry.normalize import catalog_frame


def test_surface_sample_round_trip_in_float16():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (500, 3))
    nrm = rng.normal(size=(500, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    blob = stored.pack_surface(pts, nrm)
    assert len(blob) == 500 * 6 * 2
    p, n = stored.unpack_surface(blob)
    assert np.abs(p - pts).max() < 1e-3 and np.allclose(np.linalg.norm(n, axis=1), 1)
    assert np.abs(n - nrm).max() < 2e-3


def test_mesh_and_frame_round_trip():
    box = trimesh.creation.box((120.0, 40.0, 8.0))
    box.apply_translation((300.0, -20.0, 5.0))
    frame = catalog_frame(box.vertices)
    blob, fmt = stored.pack_mesh(box)
    back = stored.load_mesh(blob, fmt)
    assert fmt == "ply" and np.allclose(back.vertices, box.vertices, atol=1e-4)
    canon = stored.canonical_mesh(blob, fmt, frame.offset.tolist(), frame.scale)
    assert np.abs(canon.vertices).max() <= 1.0
    mm = stored.part_frame(frame.offset.tolist(), frame.scale).to_mm(canon.vertices)
    assert np.allclose(mm, box.vertices, atol=1e-4)
    assert np.allclose(stored.part_frame(None, None).to_mm(np.ones((1, 3))), 1)  # a row without a frame
