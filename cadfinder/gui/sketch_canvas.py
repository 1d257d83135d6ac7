"""The sketch canvas: pen, eraser, undo/redo, clear, load an image; gives a grey array to search."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

CANVAS_SIZE = 512  # the drawing's own resolution; the widget scales it to fit
UNDO_LIMIT = 50


class SketchCanvas(QWidget):
    """Draw with the left button; `eraser` mode paints white. Emits `changed` after each stroke."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = QImage(CANVAS_SIZE, CANVAS_SIZE, QImage.Format.Format_RGB32)
        self.image.fill(Qt.GlobalColor.white)
        self.undo_stack: list[QImage] = []
        self.redo_stack: list[QImage] = []
        self.eraser = False
        self.pen_width = 4
        self._last: QPoint | None = None
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Sketch the part's outline (any view). Right-drag or eraser mode to erase.")

    # -- geometry -----------------------------------------------------------------------------

    def _side(self) -> int:
        return min(self.width(), self.height())

    def _to_image(self, p) -> QPoint:
        side = self._side()
        ox, oy = (self.width() - side) / 2, (self.height() - side) / 2
        return QPoint(int((p.x() - ox) * CANVAS_SIZE / side), int((p.y() - oy) * CANVAS_SIZE / side))

    # -- drawing ------------------------------------------------------------------------------

    def _push_undo(self) -> None:
        self.undo_stack.append(self.image.copy())
        del self.undo_stack[:-UNDO_LIMIT]
        self.redo_stack.clear()

    def _pen(self, erase: bool) -> QPen:
        """Black ink, or a wider white pen that erases."""
        return QPen(QColor("white") if erase else QColor("black"), self.pen_width * (4 if erase else 1),
                    Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)

    def stroke(self, points: list[tuple[float, float]], erase: bool | None = None) -> None:
        """Draw a polyline in canvas coordinates (0..CANVAS_SIZE) as one undoable stroke."""
        self._push_undo()
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen(self.eraser if erase is None else erase))
        for a, b in zip(points, points[1:]):
            painter.drawLine(QPoint(int(a[0]), int(a[1])), QPoint(int(b[0]), int(b[1])))
        painter.end()
        self.update()
        self.changed.emit()

    def mousePressEvent(self, e):
        if e.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._push_undo()
            self._erase_drag = e.button() == Qt.MouseButton.RightButton or self.eraser
            self._last = self._to_image(e.position())

    def mouseMoveEvent(self, e):
        if self._last is None:
            return
        p = self._to_image(e.position())
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen(self._erase_drag))
        painter.drawLine(self._last, p)
        painter.end()
        self._last = p
        self.update()

    def mouseReleaseEvent(self, e):
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def paintEvent(self, e):
        painter = QPainter(self)
        side = self._side()
        ox, oy = (self.width() - side) // 2, (self.height() - side) // 2
        painter.fillRect(self.rect(), self.palette().window())
        painter.drawImage(self.rect().adjusted(ox, oy, -ox, -oy), self.image)
        painter.setPen(QPen(QColor("#8899aa"), 1))
        painter.drawRect(ox, oy, side - 1, side - 1)

    # -- actions ------------------------------------------------------------------------------

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack.append(self.image.copy())
            self.image = self.undo_stack.pop()
            self.update()
            self.changed.emit()

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack.append(self.image.copy())
            self.image = self.redo_stack.pop()
            self.update()
            self.changed.emit()

    def clear(self) -> None:
        self._push_undo()
        self.image.fill(Qt.GlobalColor.white)
        self.update()
        self.changed.emit()

    def load_grey(self, grey: np.ndarray) -> None:
        """Replace the drawing with a grey image (scaled to fit, undoable)."""
        self._push_undo()
        h, w = grey.shape
        src = QImage(np.ascontiguousarray(grey).data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self.image.fill(Qt.GlobalColor.white)
        scaled = src.scaled(CANVAS_SIZE, CANVAS_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)
        painter = QPainter(self.image)
        painter.drawImage((CANVAS_SIZE - scaled.width()) // 2, (CANVAS_SIZE - scaled.height()) // 2, scaled)
        painter.end()
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        from cadfinder.semantic_search import sketch_is_blank

        return sketch_is_blank(self.to_grey())

    def to_grey(self) -> np.ndarray:
        """The drawing as a (H, W) uint8 grey array (ink dark on white)."""
        img = self.image.convertToFormat(QImage.Format.Format_Grayscale8)
        ptr = img.constBits()
        arr = np.frombuffer(ptr, np.uint8, count=img.bytesPerLine() * img.height())
        return arr.reshape(img.height(), img.bytesPerLine())[:, :img.width()].copy()
