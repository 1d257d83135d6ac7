"""The genome panel: the selected part's feature tree and parameters."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)[:120]
    return str(v)


class GenomePanel(QTreeWidget):
    component_activated = Signal(str)  # a component of the shown assembly was double-clicked: its part number

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["genome", "value"])
        self.setColumnWidth(0, 220)
        self.setAlternatingRowColors(True)
        self.itemDoubleClicked.connect(self._activated)

    def _activated(self, item, _column) -> None:
        pn = item.data(0, Qt.ItemDataRole.UserRole)
        if pn:
            self.component_activated.emit(pn)

    def _components(self, node: dict, parent) -> None:
        for c in node["children"]:
            it = QTreeWidgetItem(parent, [c["part_number"], f"{c['name'] or ''}  [{c['path']}]".strip()])
            it.setData(0, Qt.ItemDataRole.UserRole, c["part_number"])
            it.setToolTip(0, f"double-click to open {c['part_number']}")
            self._components(c, it)

    def show_part(self, details) -> None:
        """Parameters and features of a PartDetails (or a note when the part has no genome); an
        assembly's component tree first, each component a double-click away from its own part."""
        self.clear()
        head = QTreeWidgetItem(self, [details.part_number, details.name])
        tree = getattr(details, "tree", None)
        if tree and tree["children"]:
            comps = QTreeWidgetItem(self, ["components", str(len(tree["children"]))])
            self._components(tree, comps)
            self.expandItem(comps)
        for k, v in (("family", details.family), ("material", details.material),
                     ("mass", None if details.mass_kg is None else f"{details.mass_kg:.3f} kg"),
                     ("size", " x ".join(f"{x:.1f}" for x in details.size_mm if x is not None) + " mm")):
            QTreeWidgetItem(head, [k, _fmt(v) if v is not None else "-"])
        g = details.genome
        if not g:
            note = ("an assembly: its components carry their own genomes" if tree else
                    "this part was ingested from a mesh without a parametric genome")
            QTreeWidgetItem(self, ["no genome", note])
            self.expandAll()
            return
        params = QTreeWidgetItem(self, ["parameters", str(len(g.get("parameters", {})))])
        for name, p in g.get("parameters", {}).items():
            unit = p.get("unit", "")
            rng = f"  [{_fmt(p['min'])} .. {_fmt(p['max'])}]" if "min" in p and "max" in p else ""
            QTreeWidgetItem(params, [name, f"{_fmt(p.get('value'))} {unit if unit != 'count' else ''}{rng}".strip()])
        feats = QTreeWidgetItem(self, ["features", str(len(g.get("features", [])))])
        for f in g.get("features", []):
            it = QTreeWidgetItem(feats, [f"{f.get('type')}: {f.get('name', '')}",
                                         "suppressed" if f.get("suppressed") else ""])
            for k, v in f.items():
                if k not in ("type", "name", "suppressed"):
                    QTreeWidgetItem(it, [k, _fmt(v)])
        for k in ("constraints",):
            if g.get(k):
                c = QTreeWidgetItem(self, [k, str(len(g[k]))])
                for item in g[k]:
                    QTreeWidgetItem(c, ["", _fmt(item)])
        self.expandItem(head)
        self.expandItem(params)
        self.expandItem(feats)
