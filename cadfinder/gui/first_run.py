"""First start: where the data lives, the demo library, or a shared server."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from cadfinder import settings as settings_mod
from cadfinder.async_library import readable


class FirstRunDialog(QDialog):
    """Shown when the configured library is empty; never blocks the event loop."""

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Welcome to cadfinder")
        v = QVBoxLayout(self)
        text = QLabel(
            "<b>Your library is empty.</b><p>cadfinder keeps its settings in<br><tt>"
            f"{settings_mod.settings_path()}</tt><br>and its own library (an embedded PostgreSQL database, "
            f"models, the demo parts) in<br><tt>{settings_mod.data_dir()}</tt>.</p>"
            "<p>Try it with the <b>demo library</b> (1,000 generated parts in 12 families; a few minutes on the "
            "first start), or connect to your company's <b>shared library</b> server. Your settings are kept "
            "either way, and you can switch later in Tools › Settings.</p>")
        text.setWordWrap(True)
        v.addWidget(text)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        v.addWidget(self.progress)
        v.addWidget(self.status)
        row = QHBoxLayout()
        self.demo_btn = QPushButton("Use the demo library")
        self.shared_btn = QPushButton("Connect to a shared server…")
        self.empty_btn = QPushButton("Start empty")
        for b in (self.demo_btn, self.shared_btn, self.empty_btn):
            row.addWidget(b)
        v.addLayout(row)
        self.demo_btn.clicked.connect(lambda: window.spawn("demo", self.prepare_demo()))
        self.shared_btn.clicked.connect(self._shared)
        self.empty_btn.clicked.connect(self.accept)

    def _shared(self) -> None:
        self.accept()
        self.window_.open_settings("Database")

    async def prepare_demo(self) -> None:
        from cadfinder import demo

        for b in (self.demo_btn, self.shared_btn, self.empty_btn):
            b.setEnabled(False)
        self.progress.show()
        self.status.setText(f"building and ingesting the demo catalog in {demo.catalog_dir()} …")
        w = self.window_
        try:
            await asyncio.to_thread(demo.prepare, w.settings, w.uri, progress=False)
        except Exception as e:
            self.status.setText(f"could not prepare the demo library: {readable(e)}")
            for b in (self.demo_btn, self.shared_btn, self.empty_btn):
                b.setEnabled(True)
            return
        finally:
            self.progress.hide()
        await w.connect_library()
        self.accept()
        w.text.setText("flange with 8 bolt holes")
        w.search()
