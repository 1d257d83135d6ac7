"""Thumbnails: small shaded PNGs of a mesh, rendered off-screen with VTK (pyvista)."""

from __future__ import annotations

import io

import numpy as np
import trimesh

_plotter = None


def render_png(mesh: trimesh.Trimesh, size: int = 160) -> bytes:
    """An isometric shaded view on white, as PNG bytes."""
    global _plotter
    import pyvista as pv

    if _plotter is None:
        import vtk

        vtk.vtkObject.GlobalWarningDisplayOff()  # no "bad X server" chatter in headless workers
        pv.OFF_SCREEN = True
        _plotter = pv.Plotter(off_screen=True, window_size=(size, size))
        _plotter.set_background("white")
    pl = _plotter
    pl.clear()
    pl.enable_lightkit()  # clear() also drops the lights; without them every face looks the same
    faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
    pl.add_mesh(pv.PolyData(np.asarray(mesh.vertices), faces), color="#8fa8c8", smooth_shading=False,
                ambient=0.2, diffuse=0.75, specular=0.25)
    pl.view_isometric()
    pl.reset_camera()
    img = pl.screenshot(return_img=True)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
