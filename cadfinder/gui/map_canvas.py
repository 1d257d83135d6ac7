"""The library map's canvas and its panel: paints cadfinder.map_view's picture, turns the mouse
into zoom, pan, hover, click and lasso.

- wheel: zoom at the cursor; right or middle drag: pan; double click: show everything;
- hover: the part under the cursor with its thumbnail;
- click: select the part (the main window previews it);
- left drag: lasso; the parts inside (among those the filters keep) become the result list.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from cadfinder.library_map import LibraryMap
from cadfinder.map_view import COLOUR_BY, MapView

CLICK_PX = 4  # a drag shorter than this is a click


class MapCanvas(QWidget):
    part_clicked = Signal(str)
    lassoed = Signal(list)  # part numbers
    hovered = Signal(object)  # part number or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view: MapView | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(200, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._lasso: list[QPointF] = []
        self._pan_from: QPointF | None = None
        self._press: QPointF | None = None
        self._hover: int | None = None
        self.frame_ms = 0.0  # the last frame's rendering time (measured in bench and tests)

    def set_map(self, lmap: LibraryMap) -> None:
        self.view = MapView(lmap, (max(self.width(), 1), max(self.height(), 1)))
        self.update()

    def resizeEvent(self, e) -> None:
        if self.view is not None:
            self.view.resize((self.width(), self.height()))
        super().resizeEvent(e)

    def paintEvent(self, e) -> None:
        import time

        p = QPainter(self)
        if self.view is None or len(self.view.lmap) == 0:
            p.fillRect(self.rect(), QColor("white"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no map yet")
            return
        t = time.perf_counter()
        self.view.resize((self.width(), self.height()))
        img = np.ascontiguousarray(self.view.render())
        qimg = QImage(img.data, img.shape[1], img.shape[0], img.strides[0], QImage.Format.Format_RGBA8888)
        p.drawImage(0, 0, qimg)
        self.frame_ms = 1000 * (time.perf_counter() - t)
        if len(self._lasso) > 1:
            p.setPen(QPen(QColor(230, 20, 20), 1, Qt.PenStyle.DashLine))
            p.drawPolyline(QPolygonF(self._lasso))

    # -- mouse --------------------------------------------------------------------------------

    def wheelEvent(self, e) -> None:
        if self.view is None:
            return
        self.view.zoom(1.2 ** (e.angleDelta().y() / 120), (e.position().x(), e.position().y()))
        self.update()

    def mouseDoubleClickEvent(self, e) -> None:
        if self.view is not None:
            self.view.fit()
            self.update()

    def mousePressEvent(self, e) -> None:
        if e.button() in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton):
            self._pan_from = e.position()
        elif e.button() == Qt.MouseButton.LeftButton:
            self._press = e.position()
            self._lasso = [e.position()]

    def mouseMoveEvent(self, e) -> None:
        if self.view is None:
            return
        pos = e.position()
        if self._pan_from is not None:
            d = pos - self._pan_from
            self.view.pan(d.x(), d.y())
            self._pan_from = pos
            self.update()
            return
        if self._press is not None:
            self._lasso.append(pos)
            self.update()
            return
        hit = self.view.nearest((pos.x(), pos.y()))
        if hit != self._hover:
            self._hover = hit
            self.hovered.emit(None if hit is None else self.view.lmap.part_numbers[hit])

    def mouseReleaseEvent(self, e) -> None:
        if self.view is None:
            return
        if self._pan_from is not None:
            self._pan_from = None
            return
        if self._press is None:
            return
        start, self._press = self._press, None
        lasso, self._lasso = self._lasso, []
        lasso.append(e.position())
        moved = max((p - start).manhattanLength() for p in lasso)  # a lasso may end where it began
        if moved < CLICK_PX:
            hit = self.view.nearest((e.position().x(), e.position().y()))
            if hit is not None:
                self.part_clicked.emit(self.view.lmap.part_numbers[hit])
        else:
            rows = self.view.lasso(np.array([(p.x(), p.y()) for p in lasso]))
            self.lassoed.emit([self.view.lmap.part_numbers[k] for k in rows])
        self.update()

    def leaveEvent(self, e) -> None:
        if self._hover is not None:
            self._hover = None
            self.hovered.emit(None)


class MapPanel(QWidget):
    """The canvas with its controls: colour by, show all, rebuild (admins), and a line that says
    how many parts are on the map and how many were added since it was made."""

    rebuild_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colour by"))
        self.colour_by = QComboBox()
        self.colour_by.addItems(COLOUR_BY)
        bar.addWidget(self.colour_by)
        self.fit_btn = QPushButton("Show all")
        self.rebuild_btn = QPushButton("Rebuild map")
        self.rebuild_btn.setToolTip("project every part again (after ingesting); needs the admin role")
        bar.addWidget(self.fit_btn)
        bar.addStretch(1)
        bar.addWidget(self.rebuild_btn)
        v.addLayout(bar)
        self.canvas = MapCanvas()
        v.addWidget(self.canvas, 1)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        v.addWidget(self.legend)
        self.info = QLabel("no map yet: an admin makes it with Rebuild map or `cadfinder map build`")
        self.info.setWordWrap(True)
        v.addWidget(self.info)
        self.tip = QWidget(self, Qt.WindowType.ToolTip)
        self.tip.setStyleSheet("background: white; color: #222;")
        tv = QVBoxLayout(self.tip)
        tv.setContentsMargins(4, 4, 4, 4)
        self.tip_image, self.tip_text = QLabel(), QLabel()
        tv.addWidget(self.tip_image)
        tv.addWidget(self.tip_text)
        self.tip.hide()
        self.colour_by.currentTextChanged.connect(self._recolour)
        self.fit_btn.clicked.connect(self._fit)
        self.rebuild_btn.clicked.connect(self.rebuild_requested)

    @property
    def view(self) -> MapView | None:
        return self.canvas.view

    def set_map(self, lmap: LibraryMap) -> None:
        self.canvas.set_map(lmap)
        self._recolour(self.colour_by.currentText())
        made = f", made {lmap.made_at.replace('T', ' ')}" if lmap.made_at else ""
        new = f"; {lmap.missing} part(s) added since: Rebuild map places them" if lmap.missing else ""
        self.info.setText(f"{len(lmap):,} parts on the map{made}{new}")

    def _recolour(self, by: str) -> None:
        if self.view is None:
            return
        self.view.set_colour_by(by)
        entries = self.view.legend.entries[:14]
        self.legend.setText(" ".join(f"<span style='color: rgb{tuple(c)}'>&#9679;</span>&nbsp;{name}"
                                     for name, c in entries))
        self.canvas.update()

    def _fit(self) -> None:
        if self.view is not None:
            self.view.fit()
            self.canvas.update()

    def show_tip(self, text: str, png: bytes | None, at: QPoint) -> None:
        """A floating label by the cursor: the part's thumbnail over its number and name."""
        pix = QPixmap()
        if png:
            pix.loadFromData(png)
            pix = pix.scaledToWidth(120, Qt.TransformationMode.SmoothTransformation)
        self.tip_image.setPixmap(pix)
        self.tip_image.setVisible(bool(png))
        self.tip_text.setText(text)
        self.tip.adjustSize()
        self.tip.move(at + QPoint(14, 14))
        self.tip.show()

    def hide_tip(self) -> None:
        self.tip.hide()
