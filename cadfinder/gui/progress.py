"""Progress from a worker thread to the UI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class ThreadProgress(QObject):
    """`step.emit(done, total, label)` from any thread; slots connected to it run on the UI
    thread (a queued signal)."""

    step = Signal(int, int, str)
