"""The duplicate analysis in the app: run it (progress, Cancel), browse the groups side by side,
preview a member, export CSV or HTML. The analysis and the reports are the headless
cadfinder.duplicates and cadfinder.duplicate_report; this only shows them."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QProgressBar, QPushButton, QScrollArea, QSplitter, QTableWidget, QTableWidgetItem,
                               QToolButton, QVBoxLayout, QWidget)

from cadfinder import duplicate_report, duplicates
from cadfinder.async_library import readable
from cadfinder.gui.main_window import COARSE_RES


class DuplicatesDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Duplicate analysis")
        self.resize(1100, 820)
        self.analysis: duplicates.Analysis | None = None
        self.thumbs: dict[str, bytes] = {}
        self.task: asyncio.Task | None = None
        self.pool = None  # a worker process that pictures the implicit forms (started on first use)
        self.implicit_labels: dict[str, QLabel] = {}
        v = QVBoxLayout(self)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Threshold (mean surface distance, RMS radii)"))
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(4)
        self.threshold.setRange(0.0005, 0.05)
        self.threshold.setSingleStep(0.001)
        self.threshold.setValue(duplicates.THRESHOLD)
        bar.addWidget(self.threshold)
        self.run_btn = QPushButton("Run")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.csv_btn = QPushButton("Export CSV…")
        self.html_btn = QPushButton("Export HTML…")
        for b in (self.run_btn, self.cancel_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        for b in (self.csv_btn, self.html_btn):
            b.setEnabled(False)
            bar.addWidget(b)
        v.addLayout(bar)
        self.progress = QProgressBar()
        self.progress.hide()
        v.addWidget(self.progress)
        self.summary = QLabel("Finds parts that are the same shape in any pose, at another size, or as a mirror "
                              "image. Run it over the whole library (or the parts the filters keep).")
        self.summary.setWordWrap(True)
        v.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.groups = QListWidget()
        split.addWidget(self.groups)
        right = QWidget()
        rv = QVBoxLayout(right)
        self.cards_area = QScrollArea()
        self.cards_area.setWidgetResizable(True)
        self.cards_area.setMinimumHeight(400)  # a thumbnail over its implicit form, per member
        rv.addWidget(self.cards_area)
        self.table = QTableWidget()
        rv.addWidget(self.table, 1)
        split.addWidget(right)
        split.setSizes([320, 780])
        v.addWidget(split, 1)
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.groups.currentRowChanged.connect(self.show_group)
        self.csv_btn.clicked.connect(lambda: self._export("csv"))
        self.html_btn.clicked.connect(lambda: self._export("html"))

    # -- running ------------------------------------------------------------------------------

    def run(self) -> asyncio.Task:
        self.task = asyncio.ensure_future(self._run())
        return self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _on_progress(self, p) -> None:
        if isinstance(p, duplicates.Progress):
            self.progress.setMaximum(max(p.total, 1))
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.stage}: %v / %m")

    async def _run(self) -> duplicates.Analysis | None:
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setValue(0)
        self.progress.show()
        try:
            a = await self.window_.lib.run(duplicates.analyse(self.threshold.value(), filters=self.window_.where()),
                                           on_partial=self._on_progress)
        except asyncio.CancelledError:
            self.summary.setText("cancelled")
            return None
        except Exception as e:
            self.summary.setText(f"the analysis failed: {readable(e)}")
            return None
        finally:
            self.run_btn.setEnabled(True)
            self.cancel_btn.setEnabled(False)
            self.progress.hide()
        self.analysis = a
        names = [m.part_number for g in a.groups for m in g.members]
        self.thumbs = await self.window_.lib.thumbnails(names) if names else {}
        self.summary.setText(f"{len(a.groups)} group(s) of near-duplicates among {a.parts:,} parts "
                             f"({a.candidates:,} candidate pairs compared in {a.seconds:.1f} s)")
        self.groups.clear()
        for n, g in enumerate(a.groups, 1):
            kinds = "; ".join(duplicate_report.KIND_LABELS[k] for k in g.kinds)
            self.groups.addItem(f"{n}. {len(g.members)} parts — {kinds}")
        for b in (self.csv_btn, self.html_btn):
            b.setEnabled(True)
        if a.groups:
            self.groups.setCurrentRow(0)
        return a

    # -- one group ----------------------------------------------------------------------------

    def show_group(self, row: int) -> None:
        if self.analysis is None or not (0 <= row < len(self.analysis.groups)):
            return
        g = self.analysis.groups[row]
        cards = QWidget()
        h = QHBoxLayout(cards)
        self.implicit_labels = {}
        for m in g.members:
            column = QVBoxLayout()
            card = QToolButton()
            card.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            png = self.thumbs.get(m.part_number)
            if png:
                pix = QPixmap()
                pix.loadFromData(png)
                card.setIcon(pix)
                card.setIconSize(pix.size().scaled(150, 150, Qt.AspectRatioMode.KeepAspectRatio))
            mass = "" if m.mass_kg is None else f" · {m.mass_kg:.3g} kg"
            card.setText(f"{m.part_number}\n{m.name[:28]}\n{m.material or ''}{mass}")
            card.setToolTip("preview this part (exact and implicit form) in the main window")
            card.clicked.connect(lambda _=False, pn=m.part_number: self.window_.spawn("preview",
                                                                                    self.window_.show_part(pn)))
            column.addWidget(card)
            implicit = QLabel("implicit form: decoding…")
            implicit.setAlignment(Qt.AlignmentFlag.AlignCenter)
            implicit.setToolTip("the part's implicit form, decoded (what search sees)")
            column.addWidget(implicit)
            self.implicit_labels[m.part_number] = implicit
            h.addLayout(column)
        h.addStretch(1)
        self.cards_area.setWidget(cards)
        self.previews_task = self.window_.spawn("duplicate_previews", self._implicit_previews(g))
        rows = list(g.differing.items()) + [(f"{p.a} ~ {p.b}", None) for p in g.pairs]
        self.table.clear()
        self.table.setColumnCount(len(g.members))
        self.table.setHorizontalHeaderLabels([m.part_number for m in g.members])
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([name for name, _ in rows])
        for i, (name, values) in enumerate(rows):
            if values is None:  # a pair: its kind and distance under both of its parts
                p = g.pairs[i - len(g.differing)]
                text = f"{duplicate_report.KIND_LABELS[p.kind]} · {p.distance:.4f} · size ×{p.size_ratio:.3f}"
                for j, m in enumerate(g.members):
                    if m.part_number in (p.a, p.b):
                        self.table.setItem(i, j, QTableWidgetItem(text))
                continue
            for j, value in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem("—" if value is None else str(value)))
        self.table.resizeColumnsToContents()

    async def _implicit_previews(self, group) -> int:
        """Each member's implicit form decoded and pictured under its thumbnail, in a worker
        process; returns how many were shown."""
        from cadfinder import models
        from cadfinder.thumbnails import implicit_png
        from cadfinder.workers import process_pool

        if self.pool is None:
            self.pool = process_pool(1)
        weights = str(models.implicit_path(self.window_.settings))
        loop = asyncio.get_running_loop()
        shown = 0
        for m in group.members:
            label = self.implicit_labels.get(m.part_number)
            d = await self.window_.lib.part(m.part_number)
            if label is None or d.implicit_codes is None:
                continue
            png = await loop.run_in_executor(self.pool, implicit_png, bytes(d.implicit_codes), weights, COARSE_RES, 150)
            if self.implicit_labels.get(m.part_number) is label:  # still the group shown
                pix = QPixmap()
                pix.loadFromData(png)
                label.setPixmap(pix)
                shown += 1
        return shown

    def done(self, result: int) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        super().done(result)

    # -- export -------------------------------------------------------------------------------

    def export(self, path: str, kind: str) -> None:
        """Write the analysis shown as CSV or HTML (`kind`)."""
        from pathlib import Path

        text = (duplicate_report.to_csv(self.analysis) if kind == "csv"
                else duplicate_report.to_html(self.analysis, self.thumbs))
        Path(path).write_text(text, encoding="utf-8")
        self.summary.setText(f"written {path}")

    def _export(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export the duplicate analysis as {kind.upper()}",
                                              f"duplicates.{kind}", f"{kind.upper()} (*.{kind})")
        if path:
            try:
                self.export(path, kind)
            except OSError as e:
                self.summary.setText(f"cannot write {path}: {e}")
