"""First start: where the data lives, the demo library, or a shared server."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from cadfinder import settings as settings_mod


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
            "<p>Try it with the <b>demo library</b> (1,000 generated parts in 12 families; it fills in the "
            "background over a quarter of an hour, and searches see the parts already in), or connect to "
            "your company's <b>shared library</b> server. Your settings are kept either way, and you can "
            "switch later in Tools › Settings.</p>")
        text.setWordWrap(True)
        v.addWidget(text)
        row = QHBoxLayout()
        self.demo_btn = QPushButton("Use the demo library")
        self.shared_btn = QPushButton("Connect to a shared server…")
        self.empty_btn = QPushButton("Start empty")
        for b in (self.demo_btn, self.shared_btn, self.empty_btn):
            row.addWidget(b)
        v.addLayout(row)
        self.demo_btn.clicked.connect(self._demo)
        self.shared_btn.clicked.connect(self._shared)
        self.empty_btn.clicked.connect(self.accept)

    def _shared(self) -> None:
        self.accept()
        self.window_.open_settings("Database")

    def _demo(self) -> None:
        """Fill the demo library in the background (the window's status bar shows it)."""
        self.accept()
        self.window_.text.setText("flange with 8 bolt holes")
        self.window_.fill_demo()
