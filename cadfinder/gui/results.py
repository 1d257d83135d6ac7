"""The results grid: thumbnail, score bar, part number, name, family, material, mass; sortable."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, QSize, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyledItemDelegate, QTableView

COLUMNS = ("", "score", "part number", "name", "family", "material", "mass kg")
THUMB = 64
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class ResultsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = []
        self.thumbs: dict[str, QPixmap] = {}

    def set_results(self, results) -> None:
        self.beginResetModel()
        self.results = list(results)
        self.endResetModel()

    def set_thumbnails(self, pngs: dict[str, bytes]) -> None:
        for pn, data in pngs.items():
            pm = QPixmap()
            if pm.loadFromData(data):
                self.thumbs[pn] = pm.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)
        if self.results:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.results) - 1, 0))

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.results)

    def columnCount(self, parent=QModelIndex()):
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        r = self.results[index.row()]
        c = index.column()
        values = (None, r.score, r.part_number, r.name, r.family or "", r.material or "",
                  r.mass_kg if r.mass_kg is not None else None)
        if role == SORT_ROLE:
            v = values[c] if c else index.row()
            return v if v is not None else -1.0
        if role == Qt.ItemDataRole.DisplayRole:
            if c == 1:
                return f"{r.score:.3f}"
            if c == 6:
                return "" if r.mass_kg is None else f"{r.mass_kg:.3f}"
            return values[c]
        if role == Qt.ItemDataRole.DecorationRole and c == 0:
            return self.thumbs.get(r.part_number)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{r.part_number}: {r.name}"
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None


class ScoreDelegate(QStyledItemDelegate):
    """A horizontal bar for the score column."""

    def paint(self, painter, option, index):
        super().paint(painter, option, index)
        r = index.data(Qt.ItemDataRole.UserRole)
        if r is None:
            return
        rect = option.rect.adjusted(4, option.rect.height() - 10, -4, -4)
        painter.save()
        painter.fillRect(rect, QColor(128, 128, 128, 60))
        w = int(rect.width() * max(0.0, min(1.0, r.score)))
        painter.fillRect(QRect(rect.x(), rect.y(), w, rect.height()), QColor("#3c8dde"))
        painter.restore()


class ResultsView(QTableView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.results_model = ResultsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.results_model)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setItemDelegateForColumn(1, ScoreDelegate(self))
        self.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.setIconSize(QSize(THUMB, THUMB))
        h = self.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        h.resizeSection(0, THUMB + 10)
        h.resizeSection(1, 70)
        h.resizeSection(2, 95)
        h.resizeSection(3, 220)
        h.setStretchLastSection(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)

    def set_results(self, results) -> None:
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.results_model.set_results(results)

    def selected(self):
        idx = self.selectionModel().selectedRows()
        if not idx:
            return None
        return self.proxy.data(idx[0], Qt.ItemDataRole.UserRole)
