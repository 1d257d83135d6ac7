"""Thumbnails: small shaded PNGs of a mesh, rendered off-screen with VTK (pyvista)."""

from __future__ import annotations

import io

import trimesh


def render_png(mesh: trimesh.Trimesh, size: int = 160) -> bytes:
    """An isometric shaded view on white, as PNG bytes."""
    from cadfinder.views import offscreen_plotter, polydata

    pl = offscreen_plotter(size)
    pl.clear()
    pl.enable_lightkit()  # clear() also drops the lights; without them every face looks the same
    pl.add_mesh(polydata(mesh), color="#8fa8c8", smooth_shading=False,
                ambient=0.2, diffuse=0.75, specular=0.25)
    pl.view_isometric()
    pl.reset_camera()
    img = pl.screenshot(return_img=True)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def implicit_png(codes: bytes, weights_file: str, res: int, size: int = 160) -> bytes:
    """A part's implicit form pictured like its thumbnail: its codes decoded on a res^3 grid and
    rendered (in a worker process: the app's own thread keeps its one OpenGL context)."""
    from cadfinder import models
    from cadfinder.implicit import decode

    model, _ = models.implicit_file(weights_file)
    return render_png(decode.codes_to_mesh(model, codes, res), size)
