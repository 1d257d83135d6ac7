"""Canonical views of a part for the image/sketch embeddings, rendered off-screen with VTK.

Every part gets the same K camera directions in its canonical frame (bounding-box centre, unit
sphere), each rendered twice: shaded (grey, lit) and as a line drawing (silhouette plus sharp
edges, black on white, hidden lines removed), the way a designer sketches it.
"""

from __future__ import annotations

import numpy as np
import trimesh

from cadfinder import opengl_guard

# Camera directions (from the part towards the camera) and up vectors: the three drawing views a
# designer draws (top, front, right) and three isometric ones.
VIEWS = (
    ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),  # top
    ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),  # front
    ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),  # right
    ((1.0, -1.0, 1.0), (0.0, 0.0, 1.0)),  # isometric, front right
    ((-1.0, -1.0, 1.0), (0.0, 0.0, 1.0)),  # isometric, front left
    ((1.0, 1.0, 0.6), (0.0, 0.0, 1.0)),  # isometric, back right, lower
)
VIEW_NAMES = ("top", "front", "right", "iso_front_right", "iso_front_left", "iso_back_right")
STYLES = ("shaded", "lines")
RENDER_SIZE = 128
FEATURE_ANGLE = 35.0  # degrees between faces that make a drawn (sharp) edge

_plotters: dict[int, object] = {}


def offscreen_plotter(size: int):
    """A reused off-screen VTK plotter of size x size pixels on white (one per size, so the
    thumbnail and the view renders of an ingestion do not rebuild each other's)."""
    import pyvista as pv
    import vtk

    pl = _plotters.get(size)
    if pl is None:
        opengl_guard.before_first_context()
        vtk.vtkObject.GlobalWarningDisplayOff()  # no "bad X server" chatter in headless workers
        # Lines drawn on a surface must win the depth test against that surface.
        vtk.vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()
        pv.OFF_SCREEN = True
        pl = _plotters[size] = pv.Plotter(off_screen=True, window_size=(size, size))
        pl.set_background("white")
    return pl


def polydata(mesh: trimesh.Trimesh):
    """A trimesh as a pyvista PolyData (triangles)."""
    import pyvista as pv

    faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
    return pv.PolyData(np.asarray(mesh.vertices, dtype=np.float64), faces)


def render_views(mesh_canonical: trimesh.Trimesh, size: int = RENDER_SIZE,
                 views=VIEWS, angle_jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """(len(views), 2, size, size) uint8 grey images: [:, 0] shaded, [:, 1] line drawings.

    The mesh must be in its canonical frame (within the unit sphere); the camera is orthographic
    with a fixed extent, so the relative size of parts is kept. `angle_jitter` (radians) turns
    each camera direction a little (for augmented training views)."""
    rng = np.random.default_rng(seed)
    pl = offscreen_plotter(size)
    poly = polydata(mesh_canonical)
    edges = poly.extract_feature_edges(feature_angle=FEATURE_ANGLE, boundary_edges=True, non_manifold_edges=False,
                                       manifold_edges=False)
    out = np.empty((len(views), 2, size, size), np.uint8)
    for style in (0, 1):
        pl.clear()
        if style == 0:
            pl.enable_lightkit()
            pl.add_mesh(poly, color="#b0b0b0", smooth_shading=False, ambient=0.25, diffuse=0.75, specular=0.1)
        else:
            pl.add_mesh(poly, color="white", lighting=False)
            if edges.n_points:
                pl.add_mesh(edges, color="black", line_width=2, lighting=False)
            pl.add_silhouette(poly, color="black", line_width=2)
        for i, (direction, up) in enumerate(views):
            d = np.asarray(direction, float)
            if angle_jitter:
                d = d / np.linalg.norm(d) + rng.normal(0, angle_jitter, 3)
            d = d / np.linalg.norm(d)
            pl.camera_position = [tuple(4 * d), (0.0, 0.0, 0.0), up]
            pl.camera_set = True  # otherwise pyvista resets the camera on the first render
            cam = pl.camera
            cam.SetParallelProjection(True)
            cam.SetParallelScale(1.0)
            cam.SetClippingRange(0.5, 8.0)
            pl.render()
            img = pl.screenshot(return_img=True)
            out[i, style] = img.mean(axis=2).astype(np.uint8)
    return out
