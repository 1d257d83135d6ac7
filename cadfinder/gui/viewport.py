"""The 3D preview: decoded SDF surface (marching cubes), exact geometry, deviation colours, query points."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cadfinder import opengl_guard
from cadfinder.views import polydata


def deviation_mm(decoded, exact) -> np.ndarray:
    """Per decoded-mesh vertex: distance (mm) to the exact surface's triangles (a point sample
    of the exact surface would add its own spacing, as large as the deviations shown)."""
    from cadfinder.implicit.metrics import point_to_mesh

    return point_to_mesh(np.asarray(decoded.vertices), exact)


class Viewport(QWidget):
    """pyvistaqt interactor with layer toggles."""

    toggled = Signal()

    def __init__(self, parent=None, dark: bool = False):
        super().__init__(parent)
        from pyvistaqt import QtInteractor

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.show_decoded = QCheckBox("Implicit (decoded SDF)")
        self.show_exact = QCheckBox("Exact geometry")
        self.show_deviation = QCheckBox("Deviation")
        self.show_query = QCheckBox("Query points")
        for cb, on in ((self.show_decoded, True), (self.show_exact, False), (self.show_deviation, False),
                       (self.show_query, True)):
            cb.setChecked(on)
            cb.toggled.connect(self.refresh)
            bar.addWidget(cb)
        self.show_decoded.setToolTip("the part's implicit form: its DeepSDF latent decoded by marching cubes")
        self.show_exact.setToolTip("the stored tessellation of the exact part")
        self.show_deviation.setToolTip("colour the implicit surface by its distance (mm) to the exact geometry")
        self.show_query.setToolTip("the query point cloud, in the pose fitted onto this part")
        self.info = QLabel("")
        # a long info line must not widen the viewport
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addStretch(1)
        lay.addLayout(bar)
        lay.addWidget(self.info)
        # No render timer (pyvistaqt renders 5 times a second by default, depth peeling included):
        # refresh() renders after every change and VTK itself on interaction. With software GL the
        # timer took half the CPU from a search running on a worker thread.
        opengl_guard.before_first_context()
        self.plotter = QtInteractor(self, auto_update=False)
        self.plotter.set_background("#2b2b2b" if dark else "white")
        self.plotter.interactor.setMinimumSize(240, 200)
        lay.addWidget(self.plotter.interactor, 1)
        self.decoded = None
        self.exact = None
        self.components: list = []  # an assembly's parts placed in its frame: (trimesh, colour)
        self.query_points = None
        self.deviation = None
        self._framed = False  # the camera has been fitted to what is shown

    def clear(self) -> None:
        self.decoded = self.exact = self.query_points = self.deviation = None
        self.components = []
        self._framed = False
        self.info.setText("")
        self.refresh()

    def set_decoded(self, mesh, label: str = "") -> None:
        self.decoded = mesh
        self.deviation = None
        if label:
            self.info.setText(label)
        self.refresh()

    def set_exact(self, mesh) -> None:
        self.exact = mesh
        self.refresh()

    def set_components(self, parts: list) -> None:
        """An assembly's components, (mesh in the assembly's frame, colour) each, drawn in place
        of the exact geometry."""
        self.components = list(parts)
        self.refresh()

    def set_deviation(self, values: np.ndarray | None) -> None:
        self.deviation = values
        self.refresh()

    def set_query_points(self, pts: np.ndarray | None) -> None:
        self.query_points = pts
        self.refresh()

    def show_cloud_only(self, pts: np.ndarray) -> None:
        """A dropped query cloud on its own (before any result is selected)."""
        self.decoded = self.exact = self.deviation = None
        self.query_points = pts
        self._framed = False
        self.refresh()

    def refresh(self) -> None:
        import pyvista as pv

        pl = self.plotter
        cam = pl.camera_position if self._framed else None
        pl.clear()
        pl.enable_lightkit()  # clear() drops the lights too; without them surfaces render flat
        shown = 0
        if self.decoded is not None and self.show_decoded.isChecked():
            poly = polydata(self.decoded)
            if self.deviation is not None and self.show_deviation.isChecked() and len(self.deviation) == poly.n_points:
                poly["deviation mm"] = self.deviation
                shown += 1
                pl.add_mesh(poly, scalars="deviation mm", cmap="turbo", smooth_shading=True,
                            clim=[0, max(float(np.percentile(self.deviation, 99)), 1e-3)],
                            scalar_bar_args={"title": "deviation mm", "vertical": True})
            else:
                shown += 1
                pl.add_mesh(poly, color="#8fa8c8", smooth_shading=True,
                            opacity=0.55 if self.show_exact.isChecked() and self.exact is not None else 1.0)
        if self.components and self.show_exact.isChecked():
            for mesh, colour in self.components:
                shown += 1
                pl.add_mesh(polydata(mesh), color=colour, smooth_shading=True,
                            opacity=0.5 if self.decoded is not None and self.show_decoded.isChecked() else 1.0)
        elif self.exact is not None and self.show_exact.isChecked():
            shown += 1
            pl.add_mesh(polydata(self.exact), color="#d9a441", style="surface", show_edges=False,
                        opacity=0.5 if self.decoded is not None and self.show_decoded.isChecked() else 1.0)
        if self.query_points is not None and self.show_query.isChecked() and len(self.query_points):
            shown += 1
            pl.add_points(pv.PolyData(np.asarray(self.query_points, float)), color="#e0403a", point_size=4,
                          render_points_as_spheres=True)
        if cam is not None:
            pl.camera_position = cam
        elif shown:
            pl.view_isometric()
            pl.reset_camera()
            self._framed = True
        pl.render()
        self.toggled.emit()

    def close_plotter(self) -> None:
        self.plotter.close()
