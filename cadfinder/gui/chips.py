"""Removable chips showing the constraints read from the text query."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget


def chip_label(c: dict) -> str:
    kind = c.get("kind")
    if kind == "material":
        return f"material: {c['value']}"
    if kind == "mass":
        return f"mass {c['op']} {c['value']:g} kg"
    if kind == "count":
        return f"{c['value']} {c.get('feature', '')}"
    if kind == "thread":
        return f"thread M{c['value']:g}"
    if kind == "length":
        return f"≈ {c['value']:g} mm"
    return str(c.get("source", kind))


class ChipBar(QWidget):
    """A row of chips; removing one emits `removed` with the constraint's source text."""

    removed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(4)
        self.layout_.addStretch(1)
        self.chips: list[QWidget] = []

    def set_constraints(self, constraints: list[dict]) -> None:
        for w in self.chips:
            w.deleteLater()
        self.chips = []
        for c in constraints:
            w = QWidget(self)
            w.setObjectName("chip")
            w.setStyleSheet("#chip { border: 1px solid palette(mid); border-radius: 9px; "
                            "background: palette(alternate-base); }")
            row = QHBoxLayout(w)
            row.setContentsMargins(8, 1, 2, 1)
            label = QLabel(chip_label(c) + (" (filter)" if c.get("use") == "filter" else ""))
            label.setToolTip(f"read from: {c.get('source', '')!r}; {c.get('use')}")
            x = QToolButton()
            x.setText("×")
            x.setAutoRaise(True)
            x.setToolTip("remove this constraint from the query")
            x.clicked.connect(lambda _=False, src=c.get("source", ""): self.removed.emit(src))
            row.addWidget(label)
            row.addWidget(x)
            self.layout_.insertWidget(self.layout_.count() - 1, w)
            self.chips.append(w)
