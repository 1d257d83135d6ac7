"""The app's search session without Qt: what Search runs, filters, constraints, events."""

import numpy as np
import pytest

from cadfinder import filters as filters_mod
from cadfinder.errors import InputError
from cadfinder.queries import Engines
from cadfinder.search import Result, SearchResult
from cadfinder.session import SearchSession


def _ink():
    grey = np.full((64, 64), 255, np.uint8)
    grey[20:40, 10:50] = 0
    return grey


def test_search_runs_the_active_tab_then_the_text():
    s = SearchSession()
    assert s.kind() is None
    with pytest.raises(InputError, match="nothing to search with"):
        s.pipeline(Engines())
    s.set_text("flange with 6 holes")
    assert s.kind() == "text"
    s.set_sketch(np.full((64, 64), 255, np.uint8))  # a blank canvas is no sketch
    assert s.sketch is None and s.kind() == "text"
    s.set_sketch(_ink())
    assert s.kind() == "sketch"  # the sketch tab is active
    s.set_cloud(np.zeros((50, 3)), "/scans/part 7.xyz")
    assert s.tab == "cloud" and s.kind() == "points"
    s.set_tab("sketch")
    assert s.kind() == "sketch"
    s.set_text("")
    s.set_sketch(None)
    assert s.kind() == "points"  # any input left
    with pytest.raises(ValueError):
        s.set_tab("camera")


def test_the_pipeline_carries_the_sessions_text_filters_and_k():
    s = SearchSession()
    s.set_text("aluminium flange")
    s.set_filters(family="flange", mass_max_kg=2.5)
    s.set_k(7)
    steps = s.pipeline(Engines(clip=lambda: "clip"))
    assert steps.gi_code.co_name == "text" and steps.gi_frame.f_locals["k"] == 7
    assert steps.gi_frame.f_locals["where"] == [filters_mod.Filter("family", "=", "flange"),
                                                filters_mod.Filter("mass_kg", "<=", 2.5)]
    s.set_cloud(np.zeros((50, 3)), "/scans/part 7.xyz")
    steps = s.pipeline(Engines())
    assert steps.gi_code.co_name == "points"
    args = steps.gi_frame.f_locals
    assert args["label"] == "part 7.xyz" and args["with_text"] == "aluminium flange"
    assert s.pipeline(Engines(), "like:FLG-00001").gi_code.co_name == "like"
    with pytest.raises(ValueError, match="no such filter"):
        s.set_filters(colour="red")


def test_every_filter_value_becomes_a_whitelisted_filter():
    s = SearchSession()
    assert s.filters.to_filters() == []
    s.set_filters(material="steel", family="bracket", mass_min_kg=0.1, mass_max_kg=3, largest_size_max_mm=250,
                  feature="hole", kind="assembly")
    got = s.filters.to_filters()
    assert [(f.column, f.op) for f in got] == [("material", "="), ("family", "="), ("mass_kg", ">="),
                                              ("mass_kg", "<="), ("size_x_mm", "<="), ("feature", "="),
                                              ("kind", "=")]
    sql, params = filters_mod.to_sql(got)  # every column passes the whitelist
    assert len(params) == 7


def test_struck_out_constraints_leave_the_query_but_not_the_text_box():
    s = SearchSession()
    seen = []
    s.on("constraints", seen.append)
    s.set_text("spur gear with 20 teeth under 2 kg")
    sources = {c["source"] for c in seen[-1]}
    assert {"20 teeth", "under 2 kg"} <= sources
    s.remove_constraint("20 teeth")
    assert "20" not in s.query_text() and s.text.endswith("under 2 kg")
    assert "20 teeth" not in {c["source"] for c in seen[-1]}
    s.set_text("spur gear under 2 kg")  # the phrase is gone from the text: forgotten
    assert s.removed_sources == set()


def test_results_select_their_first_part_and_events_fire_on_change_only():
    s = SearchSession()
    events = []
    for name in ("results", "selection", "k", "filters", "tab"):
        s.on(name, lambda v, name=name: events.append(name))
    res = SearchResult("q", [Result("A-1", 0.9, "a", "flange", None, None), Result("B-2", 0.8, "b", "flange", None,
                                                                                       None)])
    s.set_results(res, "text")
    assert s.selection == "A-1" and s.selected_result().part_number == "A-1"
    s.select("B-2")
    assert s.selected_result().name == "b"
    s.set_k(12)  # unchanged: no event
    s.set_filters(family="")  # unchanged
    s.set_tab("sketch")  # unchanged
    s.set_results(res, "points", preliminary=True)  # the vectors' answer while the re-rank runs
    assert s.preliminary and s.selection is None
    s.set_results(SearchResult("q", []), "text")
    assert s.selection is None and s.selected_result() is None and not s.preliminary
    assert events == ["results", "selection", "selection", "results", "selection", "results"]
