"""The sketch canvas: pen, eraser, undo/redo, clear, load an image; gives a grey array to search.

The paper fills the panel. Drawing coordinates (`stroke`) are those of a CANVAS_SIZE square in
the middle of the paper, which spans the panel's short side; the paper extends past it along
the long side, and grows (never shrinks, so no ink is lost) when the panel takes another shape.
The search crops the drawing to its ink, so the paper's shape does not matter to it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

CANVAS_SIZE = 512  # paper pixels across the panel's short side
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

    def _scale(self) -> float:
        """Paper pixels per widget pixel: the CANVAS_SIZE square spans the panel's short side."""
        return CANVAS_SIZE / max(1, min(self.width(), self.height()))

    def _origin(self) -> QPoint:
        """Where drawing coordinate (0, 0) lies on the paper (the square is centred on it)."""
        return QPoint((self.image.width() - CANVAS_SIZE) // 2, (self.image.height() - CANVAS_SIZE) // 2)

    def _visible(self) -> QRectF:
        """The part of the paper the panel shows (centred), in paper pixels."""
        k = self._scale()
        w, h = self.width() * k, self.height() * k
        return QRectF((self.image.width() - w) / 2, (self.image.height() - h) / 2, w, h)

    def _fit_paper(self) -> None:
        """Grow the paper, centred, until it covers the panel; sizes grow in even steps so that
        the square stays exactly in the middle."""
        k = self._scale()
        need_w = CANVAS_SIZE + 2 * max(0, int(np.ceil((self.width() * k - CANVAS_SIZE) / 2)))
        need_h = CANVAS_SIZE + 2 * max(0, int(np.ceil((self.height() * k - CANVAS_SIZE) / 2)))
        w, h = max(self.image.width(), need_w), max(self.image.height(), need_h)
        if (w, h) != (self.image.width(), self.image.height()):
            paper = QImage(w, h, QImage.Format.Format_RGB32)
            paper.fill(Qt.GlobalColor.white)
            painter = QPainter(paper)
            painter.drawImage((w - self.image.width()) // 2, (h - self.image.height()) // 2, self.image)
            painter.end()
            self.image = paper

    def _to_image(self, p) -> QPoint:
        v, k = self._visible(), self._scale()
        return QPoint(int(v.x() + p.x() * k), int(v.y() + p.y() * k))

    def resizeEvent(self, e):
        self._fit_paper()
        super().resizeEvent(e)

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
        painter.translate(QPointF(self._origin()))
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
        painter.drawImage(QRectF(self.rect()), self.image, self._visible())
        painter.setPen(QPen(QColor("#8899aa"), 1))
        painter.drawRect(0, 0, self.width() - 1, self.height() - 1)

    # -- actions ------------------------------------------------------------------------------

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack.append(self.image.copy())
            self.image = self.undo_stack.pop()
            self._fit_paper()
            self.update()
            self.changed.emit()

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack.append(self.image.copy())
            self.image = self.redo_stack.pop()
            self._fit_paper()
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
        painter.translate(QPointF(self._origin()))
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
