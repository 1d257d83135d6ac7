"""The main window: query (sketch, text, dropped files), filters, results, 3D preview, genome, actions."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMainWindow, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from cadfinder import settings as settings_mod
from cadfinder.async_library import AsyncLibrary, readable
from cadfinder.errors import InputError
from cadfinder.gui.chips import ChipBar
from cadfinder.gui.genome_panel import GenomePanel
from cadfinder.gui.map_canvas import MapPanel
from cadfinder.gui.progress import ThreadProgress
from cadfinder.gui.results import ResultsView
from cadfinder.gui.sketch_canvas import SketchCanvas
from cadfinder.gui.viewport import Viewport, deviation_mm
from cadfinder.session import TABS, SearchSession

FEATURES = ("", "hole", "teeth", "fillet", "chamfer", "pattern", "cut", "shell", "countersink")
COARSE_RES, FINE_RES = 65, 129
STAGES = {"model_load": "loading the model", "encode": "encoding the query",
          "rerank": "fitting the candidates (Esc cancels)"}


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hasattr(hints, "colorScheme") and hints.colorScheme() == Qt.ColorScheme.Dark


COMPONENT_COLOURS = ("#d9a441", "#4e79a7", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7")

class MainWindow(QMainWindow):
    def __init__(self, settings: settings_mod.Settings, uri: str | None = None):
        super().__init__()
        self.settings = settings
        self.uri = uri
        self.lib = AsyncLibrary(settings, uri)
        self.tasks: dict[str, asyncio.Task] = {}
        # The query, filters, results and selection live in the headless session; the widgets
        # write into it and follow its events (_bind_session).
        self.session = SearchSession()
        self.current = None  # PartDetails of the selected result
        self.setWindowTitle("cadfinder — shape search")
        self.setAcceptDrops(True)
        self._build()
        self._bind_session()
        self._actions()
        self._restore_layout()

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.setObjectName("main_split")
        self.main_split = split
        query = self._build_query_panel()
        split.addWidget(query)
        split.addWidget(self._build_results_panel())
        split.addWidget(self._build_preview_panel())
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 4)
        self.results.setMinimumWidth(340)
        query.setMinimumWidth(320)
        self.setCentralWidget(split)
        self._build_map_dock()
        self._build_status_bar()

    def _build_query_panel(self) -> QWidget:
        """Text with its constraint chips, the sketch and 3D-file tabs, the filters, Search."""
        q = QWidget()
        qv = QVBoxLayout(q)
        self.text = QLineEdit()
        self.text.setPlaceholderText('Describe the part: "flange with six bolt holes", "M8 hex bolt 40 mm"')
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(self.search)
        qv.addWidget(self.text)
        self.chips = ChipBar()
        qv.addWidget(self.chips)
        self.query_tabs = QTabWidget()
        # sketch tab
        sk = QWidget()
        skv = QVBoxLayout(sk)
        tools = QHBoxLayout()
        self.pen_btn = QToolButton(text="Pen", checkable=True, checked=True)
        self.eraser_btn = QToolButton(text="Erase", checkable=True)
        self.pen_btn.clicked.connect(lambda: self._set_eraser(False))
        self.eraser_btn.clicked.connect(lambda: self._set_eraser(True))
        self.canvas = SketchCanvas()
        tools.addWidget(self.pen_btn)
        tools.addWidget(self.eraser_btn)
        for label, fn, tip in (("Undo", self.canvas.undo, "Ctrl+Z"), ("Redo", self.canvas.redo, "Ctrl+Y"),
                               ("Clear", self.canvas.clear, "Ctrl+Backspace"), ("Open", self.load_sketch_image, "load an image")):
            b = QToolButton(text=label)
            b.setToolTip(tip)
            b.clicked.connect(fn)
            tools.addWidget(b)
        tools.addStretch(1)
        skv.addLayout(tools)
        skv.addWidget(self.canvas, 1)
        self.query_tabs.addTab(sk, "Sketch")
        # 3D file tab
        fw = QWidget()
        fv = QVBoxLayout(fw)
        self.file_label = QLabel("Drop a point cloud (XYZ, PLY, LAS…) or a part file (STL, OBJ, STEP…) anywhere "
                                 "on the window, or open one.")
        self.file_label.setWordWrap(True)
        open_btn = QPushButton("Open file…")
        open_btn.clicked.connect(self.open_query_file)
        fv.addWidget(self.file_label)
        fv.addWidget(open_btn)
        fv.addStretch(1)
        self.query_tabs.addTab(fw, "Point cloud / part")
        qv.addWidget(self.query_tabs, 1)

        # filters
        box = QGroupBox("Filters")
        fl = QFormLayout(box)
        self.f_material = QComboBox()
        self.f_family = QComboBox()
        for c in (self.f_material, self.f_family):
            c.addItem("any", "")
        self.f_mass_min = QDoubleSpinBox(maximum=1e5, decimals=3, suffix=" kg", specialValueText="any")
        self.f_mass_max = QDoubleSpinBox(maximum=1e5, decimals=3, suffix=" kg", specialValueText="any")
        self.f_size_max = QDoubleSpinBox(maximum=1e5, decimals=1, suffix=" mm", specialValueText="any")
        self.f_feature = QComboBox()
        for feat in FEATURES:
            self.f_feature.addItem(feat or "any", feat)
        self.f_kind = QComboBox()
        for label, kind in (("parts and assemblies", ""), ("parts", "part"), ("assemblies", "assembly")):
            self.f_kind.addItem(label, kind)
        mass = QHBoxLayout()
        mass.addWidget(self.f_mass_min)
        mass.addWidget(QLabel("to"))
        mass.addWidget(self.f_mass_max)
        fl.addRow("Material", self.f_material)
        fl.addRow("Family", self.f_family)
        fl.addRow("Mass", mass)
        fl.addRow("Largest size ≤", self.f_size_max)
        fl.addRow("Has feature", self.f_feature)
        fl.addRow("Kind", self.f_kind)
        qv.addWidget(box)
        row = QHBoxLayout()
        self.k = QSpinBox(minimum=1, maximum=100, value=12, prefix="top ")
        self.search_btn = QPushButton("Search")
        self.search_btn.setDefault(True)
        self.search_btn.setToolTip("Ctrl+Return")
        self.search_btn.clicked.connect(self.search)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Esc")
        self.cancel_btn.clicked.connect(self.cancel)
        row.addWidget(self.k)
        row.addWidget(self.search_btn, 1)
        row.addWidget(self.cancel_btn)
        qv.addLayout(row)
        return q

    def _build_results_panel(self) -> QWidget:
        """The error banner over the results table."""
        mid = QWidget()
        mv = QVBoxLayout(mid)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #f8d7da; color: #721c24; padding: 6px; border-radius: 4px; }")
        self.banner.hide()
        mv.addWidget(self.banner)
        self.results = ResultsView()
        self.results.selectionModel().selectionChanged.connect(self._selection_changed)
        mv.addWidget(self.results, 1)
        return mid

    def _build_preview_panel(self) -> QWidget:
        """The 3D viewport over the part's actions and genome."""
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("right_split")
        self.right_split = right
        self.viewport = Viewport(dark=is_dark())
        right.addWidget(self.viewport)
        g = QWidget()
        gv = QVBoxLayout(g)
        gv.setContentsMargins(0, 0, 0, 0)
        acts = QHBoxLayout()
        self.open_creo_btn = QPushButton("Open in Creo")
        self.export_btn = QPushButton("Export STEP…")
        self.like_btn = QPushButton("More like this")
        self.used_btn = QPushButton("Where used")
        self.used_btn.setToolTip("the assemblies that contain this part")
        self.copy_btn = QPushButton("Copy part number")
        for b in (self.open_creo_btn, self.export_btn, self.like_btn, self.used_btn, self.copy_btn):
            acts.addWidget(b)
            b.setEnabled(False)
        self.open_creo_btn.clicked.connect(self.open_in_creo)
        self.export_btn.clicked.connect(self.export_step_dialog)
        self.like_btn.clicked.connect(self.more_like_this)
        self.used_btn.clicked.connect(lambda: self.current and self.spawn("search", self.where_used(
            [self.current.part_number])))
        self.copy_btn.clicked.connect(self.copy_part_number)
        gv.addLayout(acts)
        self.genome = GenomePanel()
        self.genome.component_activated.connect(lambda pn: self.spawn("show part", self.show_part(pn)))
        gv.addWidget(self.genome, 1)
        right.addWidget(g)
        right.setSizes([520, 300])
        return right

    def _build_map_dock(self) -> None:
        """The library map, docked below (View > Library map shows and hides it)."""
        self.map_panel = MapPanel()
        self.map_dock = QDockWidget("Library map", self)
        self.map_dock.setObjectName("map_dock")
        self.map_dock.setWidget(self.map_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.map_dock)
        self.map_dock.hide()
        self._thumb_cache: dict[str, bytes | None] = {}
        c = self.map_panel.canvas
        c.part_clicked.connect(lambda pn: self.spawn("preview", self.show_part(pn)))
        c.lassoed.connect(self.show_map_selection)
        c.hovered.connect(lambda pn: self.spawn("map_tip", self._map_tip(pn)))
        self.map_panel.rebuild_requested.connect(lambda: self.spawn("map", self.rebuild_map()))

    def _build_status_bar(self) -> None:
        """Timings, the database in use, and the demo library's progress when it fills."""
        self.db_label = QLabel("database: connecting…")
        self.timing_label = QLabel("")
        # The demo library filling in the background (fill_demo): its progress and a stop button.
        self.fill_bar = QProgressBar()
        self.fill_bar.setMaximumWidth(300)
        self.fill_stop = QToolButton()
        self.fill_stop.setText("Stop")
        self.fill_stop.setToolTip("stop filling the demo library; the next start resumes it")
        self.fill_progress = ThreadProgress()
        self.fill_progress.step.connect(self._on_fill_step)
        self.fill_cancel = threading.Event()
        self.fill_task: asyncio.Task | None = None
        self.fill_stop.clicked.connect(self.fill_cancel.set)
        for w in (self.fill_bar, self.fill_stop):
            self.statusBar().addPermanentWidget(w)
            w.hide()
        self.statusBar().addPermanentWidget(self.timing_label)
        self.statusBar().addPermanentWidget(self.db_label)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._theme_changed)

    def _actions(self) -> None:
        def act(menu, text, fn, shortcut=None):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(fn)
            menu.addAction(a)
            self.addAction(a)
            return a

        mb = self.menuBar()
        fm = mb.addMenu("&File")
        act(fm, "Open query file…", self.open_query_file, "Ctrl+O")
        act(fm, "Load sketch image…", self.load_sketch_image)
        act(fm, "Export STEP…", self.export_step_dialog, "Ctrl+E")
        fm.addSeparator()
        act(fm, "Quit", self.close, QKeySequence.StandardKey.Quit)
        em = mb.addMenu("&Edit")
        act(em, "Undo stroke", self.canvas.undo, QKeySequence.StandardKey.Undo)
        act(em, "Redo stroke", self.canvas.redo, QKeySequence.StandardKey.Redo)
        act(em, "Clear sketch", self.canvas.clear, "Ctrl+Backspace")
        act(em, "Copy part number", self.copy_part_number, "Ctrl+Shift+C")
        sm = mb.addMenu("&Search")
        act(sm, "Search", self.search, "Ctrl+Return")
        act(sm, "Focus text", lambda: (self.text.setFocus(), self.text.selectAll()), "Ctrl+L")
        act(sm, "More like this", self.more_like_this, "Ctrl+M")
        act(sm, "Where used: this part", lambda: self.current and self.spawn(
            "search", self.where_used([self.current.part_number])), "Ctrl+U")
        act(sm, "Where used: any of these results", lambda: self.results.results_model.results and self.spawn(
            "search", self.where_used([r.part_number for r in self.results.results_model.results])),
            "Ctrl+Shift+U")
        act(sm, "Cancel", self.cancel, "Esc")
        tm = mb.addMenu("&Tools")
        act(tm, "Settings…", self.open_settings, "Ctrl+,")
        act(tm, "Ingest a folder…", lambda: self.open_settings("Ingestion"))
        act(tm, "Duplicate analysis…", self.open_duplicates)
        vm = mb.addMenu("&View")
        vm.addAction(self.map_dock.toggleViewAction())
        self.map_dock.toggleViewAction().setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.map_dock.visibilityChanged.connect(lambda on: on and self.map_panel.view is None
                                                and self.spawn("map", self.load_map()))
        hm = mb.addMenu("&Help")
        act(hm, "Where is my data?", self.show_data_locations)

    # -- layout memory ------------------------------------------------------------------------

    def _qsettings(self) -> QSettings:
        return QSettings(str(settings_mod.config_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        qs = self._qsettings()
        if qs.value("geometry") is not None:
            self.restoreGeometry(qs.value("geometry"))
        else:
            self.resize(1440, 860)
        restored = False
        for sp in (self.main_split, self.right_split):
            st = qs.value(sp.objectName())
            if st is not None:
                restored = sp.restoreState(st) or restored
        self._size_splitters = not restored

    def showEvent(self, e) -> None:
        super().showEvent(e)
        if self._size_splitters:  # first start: a sensible split of the actual window width
            self._size_splitters = False
            from PySide6.QtCore import QTimer

            def split():
                w = self.main_split.width()
                self.main_split.setSizes([int(w * 0.22), int(w * 0.40), int(w * 0.38)])

            QTimer.singleShot(0, split)

    def save_layout(self) -> None:
        qs = self._qsettings()
        qs.setValue("geometry", self.saveGeometry())
        for sp in (self.main_split, self.right_split):
            qs.setValue(sp.objectName(), sp.saveState())
        qs.sync()

    async def shutdown(self) -> None:
        """Cancel running work and close the database connection (before the loop stops)."""
        tasks = [t for t in self.tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.lib.shutdown()

    def closeEvent(self, e) -> None:
        self.save_layout()
        self.fill_cancel.set()  # the parts being ingested finish; the next start resumes
        for t in self.tasks.values():
            t.cancel()
        self.viewport.close_plotter()
        asyncio.ensure_future(self.lib.shutdown())
        super().closeEvent(e)

    def _theme_changed(self, *_):
        self.viewport.plotter.set_background("#2b2b2b" if is_dark() else "white")

    # -- tasks --------------------------------------------------------------------------------

    def spawn(self, name: str, coro) -> asyncio.Task:
        """Run a coroutine as the one task of its kind (a new search cancels the running one)."""
        old = self.tasks.get(name)
        if old is not None and not old.done():
            old.cancel()
        task = asyncio.ensure_future(self._guard(coro))
        # A task cancelled before its first step never starts `coro`: close it (no "never awaited").
        task.add_done_callback(lambda t: t.cancelled() and coro.close())
        self.tasks[name] = task
        return task

    async def _guard(self, coro):
        try:
            return await coro
        except asyncio.CancelledError:
            self.statusBar().showMessage("cancelled", 3000)
            raise
        except Exception as e:  # every failure becomes a readable message, never a traceback
            self.show_error(readable(e))

    def show_error(self, message: str) -> None:
        self.banner.setText(message)
        self.banner.show()
        self.statusBar().showMessage(message, 10000)

    def clear_error(self) -> None:
        self.banner.hide()
        self.banner.setText("")

    def cancel(self) -> None:
        for t in self.tasks.values():
            if not t.done():
                t.cancel()

    async def connect_library(self) -> None:
        """(Re)connect and fill the filter choices."""
        self.db_label.setText("database: connecting…")
        try:
            where = await self.lib.open()
            facets = await self.lib.facets()
        except Exception as e:
            self.db_label.setText("database: not connected")
            self.show_error(f"{readable(e)} — check Tools > Settings > Database")
            return
        self.db_label.setText(f"database: {where}")
        await self._fill_filters(facets)
        self.clear_error()
        if self.map_dock.isVisible():
            self.spawn("map", self.load_map())

    async def _fill_filters(self, facets: dict | None = None) -> None:
        """The material and family choices, from the library (keeping the current choice)."""
        facets = facets or await self.lib.facets()
        for combo, values in ((self.f_material, facets["materials"]), (self.f_family, facets["families"])):
            cur = combo.currentData()
            combo.clear()
            combo.addItem("any", "")
            for v in values:
                combo.addItem(v, v)
            i = combo.findData(cur)
            combo.setCurrentIndex(max(i, 0))

    def fill_demo(self) -> asyncio.Task:
        """Build and ingest the demo library in the background (resumable): the window stays
        usable, searches see the parts already in (the families fill evenly), the status bar
        shows the progress and Stop (or closing the window) pauses it until the next start."""
        if self.fill_task is None or self.fill_task.done():
            self.fill_cancel.clear()
            self.fill_task = asyncio.ensure_future(self._fill_demo())
        return self.fill_task

    def _on_fill_step(self, done: int, total: int, stage: str) -> None:
        if self.fill_task is None or self.fill_task.done():
            return  # a signal queued before the end
        self.fill_bar.setMaximum(max(total, 1))
        self.fill_bar.setValue(done)
        self.fill_bar.setFormat(f"demo library: {stage} %v / %m")
        self.fill_bar.show()
        self.fill_stop.show()

    async def _fill_demo(self) -> dict | None:
        from cadfinder import demo

        def step(stage: str, done: int, total: int) -> None:
            self.fill_progress.step.emit(done, total, stage)

        try:
            st = await asyncio.to_thread(demo.prepare, self.settings, self.uri, progress=False, on_progress=step,
                                         cancelled=self.fill_cancel.is_set)
        except Exception as e:
            self.show_error(f"could not prepare the demo library: {readable(e)}")
            return None
        finally:
            self.fill_bar.hide()
            self.fill_stop.hide()
        parts = st["rows"].get("cad_models", 0)
        if self.fill_cancel.is_set():
            self.statusBar().showMessage(f"demo library stopped at {parts:,} parts; the next start resumes it", 10000)
        else:
            self.statusBar().showMessage(f"demo library ready: {parts:,} parts", 10000)
        try:
            await self._fill_filters()
        except Exception as e:
            self.show_error(readable(e))
        return st

    async def library_is_empty(self) -> bool:
        try:
            return (await self.lib.stats())["parts"] == 0
        except Exception as e:
            self.show_error(readable(e))
            return False

    # -- queries ------------------------------------------------------------------------------

    def _bind_session(self) -> None:
        """Widgets -> session (edits) and session -> widgets (events)."""
        ses = self.session
        self.text.textChanged.connect(ses.set_text)
        self.chips.removed.connect(ses.remove_constraint)
        ses.on("constraints", self.chips.set_constraints)
        ses.on("results", self._map_results)
        ses.on("selection", self._map_selection)
        ses.on("filters", lambda f: self.map_panel.view is not None and self.spawn("map_filter", self._map_filter()))
        self.query_tabs.currentChanged.connect(lambda i: ses.set_tab(TABS[i]))
        ses.on("tab", lambda tab: self.query_tabs.setCurrentIndex(TABS.index(tab)))
        self.canvas.changed.connect(lambda: ses.set_sketch(self.canvas.to_grey()))
        self.k.valueChanged.connect(ses.set_k)
        for combo, key in ((self.f_material, "material"), (self.f_family, "family"), (self.f_feature, "feature"),
                           (self.f_kind, "kind")):
            combo.currentIndexChanged.connect(
                lambda _, c=combo, key=key: ses.set_filters(**{key: c.currentData() or ""}))
        for box, key in ((self.f_mass_min, "mass_min_kg"), (self.f_mass_max, "mass_max_kg"),
                         (self.f_size_max, "largest_size_max_mm")):
            box.valueChanged.connect(lambda v, key=key: ses.set_filters(**{key: float(v)}))

    # -- queries ------------------------------------------------------------------------------

    @property
    def query_points(self) -> np.ndarray | None:
        return self.session.cloud

    def where(self) -> list:
        """The filter panel's whitelisted filters."""
        return self.session.filters.to_filters()

    def query_text(self) -> str:
        return self.session.query_text()

    def _remove_constraint(self, source: str) -> None:
        self.session.remove_constraint(source)

    def _set_eraser(self, on: bool) -> None:
        self.canvas.eraser = on
        self.pen_btn.setChecked(not on)
        self.eraser_btn.setChecked(on)

    def query_kind(self) -> str | None:
        """What the Search button searches with (SearchSession.kind)."""
        return self.session.kind()

    def search(self) -> asyncio.Task | None:
        kind = self.query_kind()
        if kind is None:
            self.show_error("nothing to search with: type a description, sketch the part, or drop a scan/part file")
            return None
        return self.spawn("search", self._search(kind))

    async def _search(self, kind: str):
        self.clear_error()
        self.statusBar().showMessage(f"searching by {kind}…")
        self.search_btn.setEnabled(False)
        def stage(label: str) -> None:
            self.statusBar().showMessage(f"searching by {kind}: {STAGES.get(label, label)}…")

        try:
            res = await self.lib.run(self.session.pipeline(self.lib.engines, kind),
                                     on_partial=lambda r: self._show_partial(r, kind), on_step=stage)
            await self.show_results(res, kind)
            return res
        finally:
            self.search_btn.setEnabled(True)

    def _show_partial(self, res, kind: str) -> None:
        """The vectors' answer, listed at once while the re-rank runs (no part is selected: its
        preview would take the CPU the re-rank needs)."""
        self.results.set_results(res.results)
        self.session.set_results(res, kind, preliminary=True)
        self.timing_label.setText(f"{len(res.results)} by the vectors in {res.timings_ms.get('total', 0):.0f} ms; "
                                  "re-ranking…")

    async def show_results(self, res, kind: str) -> None:
        self.results.set_results(res.results)
        self.session.set_results(res, kind)
        if res.parsed:
            removed = self.session.removed_sources
            self.chips.set_constraints([c for c in res.parsed["constraints"] if c.get("source") not in removed])
        n = len(res.results)
        self.timing_label.setText(f"{n} results in {res.timings_ms.get('total', 0):.0f} ms ({kind})")
        self.statusBar().showMessage(f"{n} results", 5000)
        if res.warnings:
            self.show_error("; ".join(res.warnings))
        if n == 0:
            self.viewport.clear()
            self.genome.clear()
            self.show_error("no parts match: loosen the filters or the query")
            return
        self.results.selectRow(0)
        thumbs = await self.lib.thumbnails([r.part_number for r in res.results])
        self.results.results_model.set_thumbnails(thumbs)

    async def where_used(self, part_numbers: list[str]) -> None:
        """The assemblies that contain any of these parts (the selected one, or every result of a
        query: "where is anything like this used"), as the result list, direct use first."""
        from cadfinder.search import Result, SearchResult

        used = await self.lib.where_used(part_numbers)
        what = part_numbers[0] if len(part_numbers) == 1 else f"any of {len(part_numbers)} results"
        if not used:
            self.statusBar().showMessage(f"{what}: in no assembly of the library", 6000)
            return
        best: dict = {}
        for u in used:  # one row per assembly: its most direct use
            if u["assembly"] not in best:
                best[u["assembly"]] = u
        res = SearchResult(f"where {what} is used", [
            Result(u["assembly"], 1.0 / u["depth"], f"{u['name']} ({u['quantity']}x {u['part']})", u["family"],
                   u["material"], u["mass_kg"]) for u in best.values()])
        await self.show_results(res, "where used")

    def more_like_this(self) -> None:
        r = self.results.selected()
        if r is not None:
            self.spawn("search", self._search(f"like:{r.part_number}"))

    # -- the library map ----------------------------------------------------------------------

    async def load_map(self) -> None:
        from cadfinder import library_map

        try:
            lmap = await self.lib.run(library_map.load())
        except Exception as e:
            self.show_error(f"cannot read the library map: {readable(e)}")
            return
        self.map_panel.set_map(lmap)
        res = self.session.results
        if res is not None:
            self._map_results(res)
        self._map_selection(self.session.selection)
        if self.where():
            await self._map_filter()

    async def rebuild_map(self) -> None:
        from cadfinder import library_map

        self.map_panel.rebuild_btn.setEnabled(False)
        self.statusBar().showMessage("making the library map (projecting every part)…")
        try:
            placed = await self.lib.run(library_map.build())
            self.statusBar().showMessage(f"library map made: {placed:,} parts", 5000)
        except Exception as e:
            self.show_error(f"cannot make the library map: {readable(e)}")
            return
        finally:
            self.map_panel.rebuild_btn.setEnabled(True)
        await self.load_map()

    def _map_results(self, res) -> None:
        view = self.map_panel.view
        if view is not None and res is not None:
            view.set_results([r.part_number for r in res.results], [r.score for r in res.results])
            self.map_panel.canvas.update()

    def _map_selection(self, part_number) -> None:
        view = self.map_panel.view
        if view is not None:
            view.select(part_number)
            self.map_panel.canvas.update()

    async def _map_filter(self) -> None:
        from cadfinder import library_map

        filters = self.where()
        kept = await self.lib.run(library_map.kept_by(filters)) if filters else None
        if self.map_panel.view is not None:
            self.map_panel.view.set_kept(kept)
            self.map_panel.canvas.update()

    async def _map_tip(self, part_number: str | None) -> None:
        if part_number is None:
            self.map_panel.hide_tip()
            return
        from PySide6.QtGui import QCursor

        if part_number not in self._thumb_cache:
            got = await self.lib.thumbnails([part_number])
            self._thumb_cache[part_number] = got.get(part_number)
        lmap = self.map_panel.view.lmap
        k = lmap.index[part_number]
        self.map_panel.show_tip(f"{part_number} · {lmap.family[k] or ''}", self._thumb_cache[part_number], QCursor.pos())

    def _map_result(self, part_number: str):
        from cadfinder.search import Result

        lmap = self.map_panel.view.lmap
        k = lmap.index[part_number]
        mass = None if np.isnan(lmap.mass_kg[k]) else float(lmap.mass_kg[k])
        return Result(part_number, 1.0, lmap.names[k], lmap.family[k], lmap.material[k], mass)

    async def show_part(self, part_number: str):
        """Select a part the map or the duplicate analysis points at: its row when it is among
        the results, else a preview of it alone."""
        for row, r in enumerate(self.results.results_model.results):
            if r.part_number == part_number:
                self.results.selectRow(row)
                return
        from cadfinder.search import Result

        self.session.select(part_number)
        await self.preview(Result(part_number, 1.0, "", None, None, None))

    def show_map_selection(self, part_numbers: list[str]) -> None:
        """The parts lassoed on the map become the result list (most of the map's own order)."""
        from cadfinder.search import SearchResult

        if not part_numbers:
            self.statusBar().showMessage("no parts inside the lasso", 4000)
            return
        res = SearchResult(f"map selection ({len(part_numbers)} parts)", [self._map_result(pn) for pn in part_numbers])
        self.spawn("search", self.show_results(res, "map"))

    def open_duplicates(self) -> None:
        from cadfinder.gui.duplicates_dialog import DuplicatesDialog

        if getattr(self, "duplicates_dialog", None) is None:
            self.duplicates_dialog = DuplicatesDialog(self)
        self.duplicates_dialog.show()
        self.duplicates_dialog.raise_()

    # -- files --------------------------------------------------------------------------------

    def open_query_file(self) -> None:
        from cadfinder.geometry.readers import QUERY_SUFFIXES

        patterns = " ".join(f"*{s}" for s in sorted(QUERY_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open a point cloud or part file", "",
                                              f"3D files ({patterns});;All files (*)")
        if path:
            self.spawn("load", self.load_query_file(path))

    async def load_query_file(self, path: str, run: bool = True):
        """Read a dropped/opened file off the UI thread, show it, and search with it."""
        from cadfinder.search import load_query_points

        self.statusBar().showMessage(f"reading {Path(path).name}…")
        pts, warnings = await asyncio.to_thread(load_query_points, path)
        self.session.set_cloud(pts, path)
        self.file_label.setText(f"{Path(path).name}: {len(pts):,} points"
                                + (f"\n{'; '.join(warnings)}" if warnings else ""))
        self.viewport.show_cloud_only(pts)
        if run:
            return await self._search("points")

    def load_sketch_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a sketch image", "", "Images (*.png *.jpg *.jpeg *.bmp)")
        if path:
            self.load_sketch_file(path)

    def load_sketch_file(self, path: str) -> None:
        from cadfinder.embeddings.model import image_to_grey

        try:
            self.canvas.load_grey(image_to_grey(path))
            self.query_tabs.setCurrentIndex(0)
        except Exception as e:
            self.show_error(readable(e))

    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        urls = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = urls[0]
        if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
            self.load_sketch_file(path)
            self.search()
        else:
            self.spawn("search", self.load_query_file(path))
        e.acceptProposedAction()

    # -- preview ------------------------------------------------------------------------------

    def _selection_changed(self, *_):
        r = self.results.selected()
        self.session.select(r.part_number if r is not None else None)
        for b in (self.like_btn, self.used_btn, self.copy_btn):
            b.setEnabled(r is not None)
        if r is not None:
            self.spawn("preview", self.preview(r))

    async def preview(self, r):
        """Genome, exact mesh, then the implicit form decoded coarse and refined, then the deviation."""
        from cadfinder import models
        from cadfinder.implicit import decode
        from cadfinder.implicit.codes import PartCodes

        d = await self.lib.part(r.part_number)
        self.current = d
        self.genome.show_part(d)
        self._update_actions()
        self.viewport.clear()
        exact = await asyncio.to_thread(d.mesh)
        self.viewport.set_exact(exact)
        if d.tree:
            await self._show_components(d)
        if r.fitted_query is not None:
            self.viewport.set_query_points(d.to_mm(r.fitted_query))
        if d.implicit_codes is None:
            self.viewport.show_exact.setChecked(True)
            self.statusBar().showMessage(f"{d.part_number} has no implicit form stored yet (cadfinder embed adds it)",
                                         8000)
            return d
        model = (await asyncio.to_thread(models.implicit, self.settings))[0]
        mesh = None
        try:
            codes = await asyncio.to_thread(PartCodes.from_bytes, d.implicit_codes)
            for res in (COARSE_RES, FINE_RES):
                mesh = await asyncio.to_thread(decode.codes_to_mesh, model, codes, res)
                mesh.vertices = d.to_mm(mesh.vertices)
                self.viewport.set_decoded(mesh, f"implicit {res}³ · {len(mesh.faces):,} faces")
        except (ValueError, InputError) as e:
            self.show_error(f"cannot decode {d.part_number}'s implicit form: {e}")
            self.viewport.show_exact.setChecked(True)
            return d
        if exact is not None:
            dev = await asyncio.to_thread(deviation_mm, mesh, exact)
            self.viewport.set_deviation(dev)
            self.viewport.info.setText(self.viewport.info.text()
                                       + f" · deviation median {np.median(dev):.2f} mm, max {dev.max():.2f} mm")
        return d

    async def _show_components(self, d) -> None:
        """An assembly's parts in place, one colour per distinct part."""
        from cadfinder import assemblies

        placed = assemblies.placed_parts(d.tree)
        meshes = await self.lib.meshes(sorted({p for p, _, _ in placed}))
        colour = {pn: COMPONENT_COLOURS[i % len(COMPONENT_COLOURS)] for i, pn in enumerate(sorted(meshes))}
        parts = []
        for pn, t, _ in placed:
            if pn in meshes:
                m = meshes[pn].copy()
                m.apply_transform(t)
                parts.append((m, colour[pn]))
        self.viewport.set_components(parts)
        self.viewport.show_exact.setChecked(True)

    def _update_actions(self) -> None:
        d = self.current
        has_genome = bool(d and d.genome)
        self.export_btn.setEnabled(has_genome)
        self.export_btn.setToolTip("" if has_genome else "this part has no parametric genome")
        creo = self.settings.bridge.backend == "creo" and bool(self.settings.bridge.creoson_url)
        self.open_creo_btn.setEnabled(has_genome and creo)
        self.open_creo_btn.setToolTip("" if creo else "set up the Creo bridge in Tools > Settings > Creo bridge")

    # -- actions ------------------------------------------------------------------------------

    def copy_part_number(self) -> None:
        r = self.results.selected()
        if r is not None:
            QGuiApplication.clipboard().setText(r.part_number)
            self.statusBar().showMessage(f"copied {r.part_number}", 3000)

    def export_step_dialog(self) -> None:
        if not (self.current and self.current.genome):
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export STEP", f"{self.current.part_number}.step", "STEP (*.step)")
        if path:
            self.spawn("export", self.export_step(path))

    async def export_step(self, path: str) -> dict:
        """Instantiate the selected genome with the open kernel, write STEP (+ STL), show the
        instance in the viewport and how far it lies from the part's implicit shape."""
        import trimesh

        from cadfinder import bridge
        from cadfinder.bridge.validation import compare_to_implicit

        d = self.current
        self.statusBar().showMessage(f"building {d.part_number} with the open kernel…")
        out = await asyncio.to_thread(bridge.open_genome, d.genome, "cadquery", self.settings,
                                      out_dir=str(Path(path).parent), name=Path(path).stem)
        inst = await asyncio.to_thread(trimesh.load, out["stl"])
        self.viewport.set_exact(inst)
        self.viewport.show_exact.setChecked(True)
        decoded = self.viewport.decoded
        if decoded is not None:
            def check():
                return compare_to_implicit(inst, decoded), deviation_mm(decoded, inst)

            v, dev = await asyncio.to_thread(check)
            out["validation"] = {"vs_implicit": v}
            self.viewport.set_deviation(dev)
            self.viewport.info.setText(f"instantiated B-rep vs implicit: Chamfer {v['chamfer_mm']:.2f} mm, "
                                       f"max {v['max_deviation_mm']:.2f} mm")
        self.statusBar().showMessage(f"wrote {out.get('step')}", 8000)
        return out

    def open_in_creo(self) -> None:
        if self.current and self.current.genome:
            self.spawn("bridge", self._open_in_creo())

    async def _open_in_creo(self):
        from cadfinder import bridge

        d = self.current
        self.statusBar().showMessage(f"opening {d.part_number} in Creo…")
        out = await asyncio.to_thread(bridge.open_genome, d.genome, "creo", self.settings)
        self.statusBar().showMessage(f"opened in Creo: {out.get('model')}", 8000)
        return out

    def open_settings(self, tab: str | None = None) -> None:
        from cadfinder.gui.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.settings, self, start_tab=tab if isinstance(tab, str) else None)
        dlg.saved.connect(self.apply_settings)
        dlg.open()
        self.settings_dialog = dlg

    def apply_settings(self, s) -> None:
        self.settings = s
        self.lib.reconfigure(s, self.uri)
        self._update_actions()
        self.spawn("connect", self.connect_library())

    def show_data_locations(self) -> None:
        self.statusBar().showMessage(f"settings: {settings_mod.settings_path()}  ·  data: {settings_mod.data_dir()}",
                                     15000)

