"""A designer's search session without Qt: what the app's widgets show and edit.

The query (its text and the constraints read from it, the sketch, the point cloud or part file,
which input tab is active), the filters, how many answers, the results and the selected part.
The app's widgets write into it and redraw on its events; what a Search runs is decided here
(`kind`, `pipeline`), so all of it is tested without a display. Events, each with the new value:
"text", "constraints", "sketch", "cloud", "tab", "filters", "k", "results", "selection".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from cadfinder import filters as filters_mod
from cadfinder import queries, semantic_search, text_query
from cadfinder.errors import InputError

TABS = ("sketch", "cloud")  # the query inputs besides the text, as the app's tabs order them
DEFAULT_K = 12


@dataclass(frozen=True)
class FilterValues:
    """The filter panel's values; empty strings and zeros mean "any"."""

    material: str = ""
    family: str = ""
    mass_min_kg: float = 0.0
    mass_max_kg: float = 0.0
    largest_size_max_mm: float = 0.0
    feature: str = ""
    kind: str = ""  # "", "part" or "assembly"

    def to_filters(self) -> list[filters_mod.Filter]:
        """The whitelisted filters the query runs with."""
        F = filters_mod.Filter
        out = []
        if self.material:
            out.append(F("material", "=", self.material))
        if self.family:
            out.append(F("family", "=", self.family))
        if self.mass_min_kg > 0:
            out.append(F("mass_kg", ">=", self.mass_min_kg))
        if self.mass_max_kg > 0:
            out.append(F("mass_kg", "<=", self.mass_max_kg))
        if self.largest_size_max_mm > 0:
            out.append(F("size_x_mm", "<=", self.largest_size_max_mm))
        if self.feature:
            out.append(F("feature", "=", self.feature))
        if self.kind:
            out.append(F("kind", "=", self.kind))
        return out


class SearchSession:
    def __init__(self):
        self.text = ""
        self.removed_sources: set[str] = set()  # constraint phrases the designer struck out
        self.sketch: np.ndarray | None = None  # (H, W) uint8, ink dark on white; None when blank
        self.cloud: np.ndarray | None = None  # (N, 3) mm
        self.cloud_file: str | None = None
        self.tab = TABS[0]
        self.filters = FilterValues()
        self.k = DEFAULT_K
        self.results = None  # search.SearchResult
        self.results_kind: str | None = None
        self.preliminary = False  # the results are the vectors' answer, the re-rank still running
        self.selection: str | None = None  # part number
        self._listeners: dict[str, list[Callable]] = defaultdict(list)

    # -- events -------------------------------------------------------------------------------

    def on(self, event: str, fn: Callable) -> None:
        """Call fn(new value) whenever `event` happens."""
        self._listeners[event].append(fn)

    def _emit(self, event: str, value) -> None:
        for fn in list(self._listeners[event]):
            fn(value)

    # -- the query ----------------------------------------------------------------------------

    def set_text(self, text: str) -> None:
        self.text = text
        self.removed_sources = {s for s in self.removed_sources if s in text}
        self._emit("text", text)
        self._emit("constraints", self.constraints())

    def remove_constraint(self, source: str) -> None:
        """Strike a constraint phrase out of the query (the text box keeps what was typed)."""
        self.removed_sources.add(source)
        self._emit("constraints", self.constraints())

    def query_text(self) -> str:
        """The text as searched: without the struck-out phrases, whitespace collapsed."""
        t = self.text
        for src in self.removed_sources:
            t = t.replace(src, " ")
        return " ".join(t.split())

    def constraints(self) -> list[dict]:
        """The constraints read from the text (chips), as text_query reports them."""
        q = self.query_text()
        return text_query.parse(q).as_dict()["constraints"] if q else []

    def set_sketch(self, grey: np.ndarray | None) -> None:
        """The canvas as drawn; a blank one is no sketch."""
        if grey is not None and semantic_search.sketch_is_blank(grey):
            grey = None
        self.sketch = grey
        self._emit("sketch", grey)

    def set_cloud(self, points: np.ndarray, source: str | None = None) -> None:
        """A point cloud (mm) read from a dropped or opened file; its tab becomes the active one."""
        self.cloud, self.cloud_file = np.asarray(points), source
        self._emit("cloud", self.cloud)
        self.set_tab("cloud")

    def set_tab(self, tab: str) -> None:
        if tab not in TABS:
            raise ValueError(f"no query tab {tab!r}: {TABS}")
        if tab != self.tab:
            self.tab = tab
            self._emit("tab", tab)

    def set_filters(self, **values) -> None:
        """Change some filter values (FilterValues' field names)."""
        unknown = set(values) - {f.name for f in fields(FilterValues)}
        if unknown:
            raise ValueError(f"no such filter: {sorted(unknown)}")
        new = replace(self.filters, **values)
        if new != self.filters:
            self.filters = new
            self._emit("filters", new)

    def set_k(self, k: int) -> None:
        if k != self.k:
            self.k = int(k)
            self._emit("k", self.k)

    def kind(self) -> str | None:
        """What Search searches with: the active tab's input, else the text, else any input."""
        if self.tab == "cloud" and self.cloud is not None:
            return "points"
        if self.tab == "sketch" and self.sketch is not None:
            return "sketch"
        if self.query_text():
            return "text"
        if self.cloud is not None:
            return "points"
        if self.sketch is not None:
            return "sketch"
        return None

    def pipeline(self, engines: queries.Engines, kind: str | None = None):
        """The query pipeline for `kind` (default: self.kind(); "like:PART" for more like this),
        with the session's text, filters and k; text typed beside a sketch or a cloud makes a
        hybrid. Raises InputError when there is nothing to search with."""
        kind = kind or self.kind()
        text, where = self.query_text(), self.filters.to_filters()
        if kind == "text":
            return queries.text(engines, text, self.k, where)
        if kind == "sketch" and self.sketch is not None:
            return queries.sketch(engines, self.sketch, self.k, where, with_text=text or None)
        if kind == "points" and self.cloud is not None:
            return queries.points(engines, self.cloud, self.k, where, Path(self.cloud_file or "cloud").name,
                                  with_text=text or None)
        if kind and kind.startswith("like:"):
            return queries.like(engines, kind.split(":", 1)[1], self.k, where)
        raise InputError("nothing to search with: type a description, sketch the part, or drop a scan/part file")

    # -- the answer ---------------------------------------------------------------------------

    def set_results(self, results, kind: str, preliminary: bool = False) -> None:
        """A search's answer; the first part becomes the selection (None when nothing matched).
        A `preliminary` answer (shown while the re-rank runs) selects nothing."""
        self.results, self.results_kind, self.preliminary = results, kind, preliminary
        self._emit("results", results)
        first = results.results[0].part_number if results.results and not preliminary else None
        self.select(first)

    def select(self, part_number: str | None) -> None:
        if part_number != self.selection:
            self.selection = part_number
            self._emit("selection", part_number)

    def selected_result(self):
        """The selected part's search.Result, or None."""
        if self.results is None or self.selection is None:
            return None
        return next((r for r in self.results.results if r.part_number == self.selection), None)
