"""The desktop app under Xvfb (pytest-qt + qasync): every flow against the real library and models."""

import asyncio
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli



@pytest.fixture(scope="module")
def loop(qapp):
    if not os.environ.get("DISPLAY"):
        pytest.fail("GUI tests need an X server: run them through `bash installer/bootstrap.sh test` (Xvfb)")
    import qasync

    lp = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(lp)
    yield lp
    lp.close()  # joins the worker threads before Qt goes away


@pytest.fixture
def window(loop, ingested, library, qtbot):
    from cadfinder.gui.main_window import MainWindow

    w = MainWindow(library)
    qtbot.addWidget(w)
    w.show()
    loop.run_until_complete(w.connect_library())
    yield w
    loop.run_until_complete(w.shutdown())  # qtbot closes the window itself


def run(loop, task):
    assert task is not None
    return loop.run_until_complete(task)


def test_text_search_with_chips(window, loop):
    window.text.setText("spur gear with 20 teeth")
    assert any("20 teeth" in c.findChildren(type(window.db_label))[0].text() for c in window.chips.chips)
    res = run(loop, window.search())
    assert res.results and res.results[0].family == "spur_gear"
    assert window.results.results_model.rowCount() == len(res.results)
    assert "results" in window.timing_label.text()
    # removing a chip removes its words from the query that is sent
    window._remove_constraint("20 teeth")
    assert "20" not in window.query_text() and window.chips.chips == []


def test_sketch_search_and_canvas_editing(window, loop):
    c = window.canvas
    window.query_tabs.setCurrentIndex(0)
    assert c.is_empty()
    import math

    ring = [(256 + 150 * math.cos(t), 256 + 150 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 80)]
    hole = [(256 + 40 * math.cos(t), 256 + 40 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 30)]
    c.stroke(ring)
    c.stroke(hole)
    assert not c.is_empty()
    before = c.to_grey().copy()
    c.undo()
    assert not np.array_equal(before, c.to_grey())
    c.redo()
    assert np.array_equal(before, c.to_grey())
    assert window.query_kind() == "sketch"
    res = run(loop, window.search())
    # A ring around a bore: k parts, the first of them round ones with a bore (a shaft collar too).
    assert len(res.results) == window.k.value() == 12
    round_ones = {"flange", "bushing", "pulley", "spur_gear", "shaft", "fastener", "clamp"}
    assert {r.family for r in res.results[:3]} <= round_ones
    c.clear()
    assert c.is_empty()


def test_the_sketch_paper_fills_its_panel(qtbot, tmp_path):
    """No bands around a square: the paper covers the whole panel, ink drawn at its far edge
    counts, and making the panel another shape keeps every stroke."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from cadfinder.gui.sketch_canvas import SketchCanvas

    c = SketchCanvas()
    qtbot.addWidget(c)
    c.resize(300, 600)
    c.show()
    qtbot.waitExposed(c)
    shot = c.grab().toImage()
    shot.save(str(tmp_path / "tall_canvas.png"))
    # every pixel of the panel but its 1-pixel border is white paper
    grey = np.array([[shot.pixelColor(x, y).value() for x in range(2, 298, 7)] for y in range(2, 598, 7)])
    assert grey.min() == 255, np.argwhere(grey < 255)[:5]

    def drag(points):
        for kind, p in zip([QEvent.Type.MouseButtonPress] + [QEvent.Type.MouseMove] * (len(points) - 1),
                           points):
            c.event(QMouseEvent(kind, QPointF(*p), QPointF(*p), Qt.MouseButton.LeftButton,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
        c.event(QMouseEvent(QEvent.Type.MouseButtonRelease, QPointF(*points[-1]), QPointF(*points[-1]),
                            Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))

    drag([(50, 20), (250, 20), (250, 60)])  # near the top, far outside the middle square
    inked = c.to_grey() < 128
    assert inked.any() and np.argwhere(inked)[:, 0].max() < c._origin().y(), "the stroke is above the square"
    c.stroke([(100, 256), (400, 256)])  # drawing coordinates: the middle square
    before = int((c.to_grey() < 128).sum())
    c.resize(700, 250)  # wide now: the paper grows sideways and keeps both strokes
    qtbot.wait(50)
    assert int((c.to_grey() < 128).sum()) == before
    assert c.image.width() >= 700 * c._scale() - 2 and c.image.height() >= 250 * c._scale() - 2


def test_drop_a_part_file_searches_and_shows_the_cloud(window, loop, small_catalog, qtbot):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_catalog / "GER-00004.stl"))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    shown, stages = [], []
    window.session.on("results", lambda r: shown.append((window.session.preliminary, r.timings_ms["total"])))
    window.statusBar().messageChanged.connect(stages.append)
    window.dropEvent(ev)
    res = run(loop, window.tasks["search"])
    assert res.results[0].part_number == "GER-00004"
    assert window.query_points is not None and window.query_tabs.currentIndex() == 1
    # The vectors' answer is listed first, while the re-rank runs (the status bar says so); then
    # the re-ranked list replaces it.
    assert [p for p, _ in shown] == [True, False] and shown[0][1] < shown[1][1], shown
    assert any("fitting the candidates" in m for m in stages), stages
    # the preview of the first result: exact mesh, decoded SDF, deviation, fitted query points
    d = run(loop, window.tasks["preview"])
    v = window.viewport
    assert d.part_number == "GER-00004" and v.exact is not None and v.decoded is not None
    assert v.deviation is not None and len(v.deviation) == len(v.decoded.vertices)
    from cadfinder.implicit import metrics

    # The implicit form is the part: the gear's bore survives, teeth and all lie within a few tenths of a mm.
    assert metrics.genus(v.decoded) == metrics.genus(v.exact) == 1
    assert np.median(v.deviation) < 0.002 * metrics.diagonal(v.exact)
    assert v.query_points is not None and "deviation" in v.info.text()
    for cb in (v.show_exact, v.show_deviation):
        cb.setChecked(True)
    assert window.genome.topLevelItemCount() >= 3
    assert window.export_btn.isEnabled() and not window.open_creo_btn.isEnabled()
    assert "Creo bridge" in window.open_creo_btn.toolTip()


def test_more_like_this_and_copy(window, loop):
    window.text.setText("flange")
    run(loop, window.search())
    run(loop, window.tasks["preview"])
    first = window.results.selected()
    window.copy_part_number()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == first.part_number
    window.more_like_this()
    res = run(loop, window.tasks["search"])
    assert res.results and first.part_number not in [r.part_number for r in res.results]


def test_export_step_from_the_genome(window, loop, tmp_path):
    window.text.setText("bushing")
    run(loop, window.search())
    run(loop, window.tasks["preview"])
    out = run(loop, window.export_step(str(tmp_path / "my bracket.step")))
    assert (tmp_path / "my bracket.step").stat().st_size > 1000 and out["volume_mm3"] > 0
    v = out["validation"]["vs_implicit"]
    from cadfinder.implicit.metrics import diagonal

    assert 0 < v["chamfer_mm"] < 0.0025 * diagonal(window.viewport.exact), v
    assert "instantiated" in window.viewport.info.text()


def test_filters_and_bad_file(window, loop, tmp_path):
    window.text.setText("bracket")
    i = window.f_material.findData("steel")
    assert i > 0
    window.f_material.setCurrentIndex(i)
    res = run(loop, window.search())
    assert res.results and {r.material for r in res.results} == {"steel"}
    bad = tmp_path / "scan.xyz"
    bad.write_text("1 2 nan\n")
    run(loop, window.spawn("search", window.load_query_file(str(bad))))
    assert window.banner.isVisible() and "Traceback" not in window.banner.text()


def test_settings_round_trip(window, loop, qtbot):
    from cadfinder import settings as settings_mod
    from cadfinder.gui.settings_dialog import SettingsDialog

    dlg = SettingsDialog(window.settings, window)
    qtbot.addWidget(dlg)
    dlg.efs.setValue(123)
    dlg.backend.setCurrentText("cadquery")
    saved = []
    dlg.saved.connect(saved.append)
    dlg.save()
    assert saved and settings_mod.load().index.hnsw_ef_search == 123
    again = SettingsDialog(settings_mod.load(), window)
    qtbot.addWidget(again)
    assert again.efs.value() == 123
    run(loop, again._spawn(again._test_db()))
    assert again.db_result.text().startswith("OK") and "answered by the primary" in again.db_result.text()
    run(loop, again._spawn(again._stats()))
    assert "parts:" in again.stats_text.toPlainText()
    run(loop, again._spawn(again._test_bridge()))
    assert "CadQuery" in again.bridge_result.text()
    run(loop, again._spawn(again._rebuild()))  # as the maintenance role: the admin role may not
    assert again.rebuild_result.text().startswith("rebuilt 5 indexes"), again.rebuild_result.text()
    s = settings_mod.load()
    s.index.hnsw_ef_search = 100
    settings_mod.save(s)


def test_access_groups_in_the_settings_panel(window, loop, qtbot, tmp_path):
    from cadfinder.gui.settings_dialog import SettingsDialog

    dlg = SettingsDialog(window.settings, window)
    qtbot.addWidget(dlg)
    dlg.resize(700, 520)
    dlg.access_group.setText("t-gui-group")
    dlg.access_login.setText("cadfinder_designer")
    out = run(loop, dlg._spawn(dlg._access("grant")))
    assert out is not None and {"group": "t-gui-group", "grantee": "cadfinder_designer"}.items() <= out["grants"][
        [g["group"] for g in out["grants"]].index("t-gui-group")].items()
    assert "granted" in dlg.access_result.text()
    rows = [dlg.access_table.item(i, 0).text() for i in range(dlg.access_table.rowCount())]
    assert "t-gui-group" in rows
    dlg.tabs.setCurrentIndex([dlg.tabs.tabText(i) for i in range(dlg.tabs.count())].index("Access"))
    loop.run_until_complete(asyncio.gather(*dlg.tasks))  # the refresh the tab starts, before the next action
    dlg.grab().save(str(tmp_path / "access.png"))
    out = run(loop, dlg._spawn(dlg._access("revoke")))
    assert "t-gui-group" not in [g["group"] for g in out["grants"]] and "revoked" in dlg.access_result.text()
    dlg.access_login.setText("no_such_login")
    assert run(loop, dlg._spawn(dlg._access("grant"))) is None
    assert "no login or role 'no_such_login'" in dlg.access_result.text()


def test_ingest_from_the_settings_panel(window, loop, qtbot, small_catalog, tmp_path):
    import shutil

    from cadfinder.gui.settings_dialog import SettingsDialog

    folder = tmp_path / "new"
    folder.mkdir()
    shutil.copy(small_catalog / "PUL-00007.stl", folder / "PUL-GUI-1.stl")
    dlg = SettingsDialog(window.settings, window, start_tab="Ingestion")
    qtbot.addWidget(dlg)
    assert dlg.tabs.tabText(dlg.tabs.currentIndex()) == "Ingestion"
    dlg.ingest_dir.setText(str(folder))
    run(loop, dlg._spawn(dlg._ingest()))
    assert "added 1" in dlg.ingest_log.toPlainText()
    assert dlg.ingest_bar.value() == dlg.ingest_bar.maximum() == 1


def test_creo_ingest_from_the_settings_panel(window, loop, qtbot, tmp_path):
    """The batch ingestion's Creo source: a Creo model through CREOSON, exported and stored."""
    from cadfinder.gui.settings_dialog import SettingsDialog
    from tests import assembly_data
    from tests.creoson_server import CreosonTestServer, model_for

    g = assembly_data.creo_genomes()["shaft"]
    g["creo"]["model_file"] = "cf_gui_shaft.prt"
    with CreosonTestServer() as srv:
        srv.state.add_model(model_for(g))
        dlg = SettingsDialog(window.settings, window, start_tab="Ingestion")
        qtbot.addWidget(dlg)
        dlg.creoson_url.setText(srv.url)
        dlg.creo_export.setText(str(tmp_path / "export"))
        dlg.ingest_source.setCurrentIndex(dlg.ingest_source.findData("creo"))
        assert "as Creo sees it" in dlg.ingest_dir.placeholderText()
        dlg.ingest_dir.setText("C:/plm/gui")
        run(loop, dlg._spawn(dlg._ingest()))
        log = dlg.ingest_log.toPlainText()
        from cadfinder import library as library_mod
        from tests.stored_parts import delete_numbers

        with library_mod.writer(window.settings, None) as conn:  # shared with the other tests
            delete_numbers(conn, ["CF_GUI_SHAFT"])
        assert "from Creo" in log and "added 1" in log, log
        assert "interface.export_file" in srv.calls() and (tmp_path / "export" / "CF_GUI_SHAFT.stp").exists()


def test_database_down_then_recovery(window, loop, library):
    import copy

    dead = copy.deepcopy(library)
    dead.database.uri = "postgresql://cadfinder@127.0.0.1:9/cadfinder"
    dead.database.connect_timeout_s = 2
    window.apply_settings(dead)
    run(loop, window.tasks["connect"])
    assert window.banner.isVisible() and "cannot reach the database" in window.banner.text()
    window.text.setText("flange")
    run(loop, window.search())  # fails with a message, not a crash
    assert "cannot reach the database" in window.banner.text()
    window.apply_settings(library)
    run(loop, window.tasks["connect"])
    assert not window.banner.isVisible() and "embedded" in window.db_label.text()
    res = run(loop, window.search())
    assert res.results


def test_layout_is_remembered(window, library):
    from cadfinder.gui.main_window import MainWindow

    window.resize(1401, 821)
    window.save_layout()
    w2 = MainWindow(library)
    assert (w2.width(), w2.height()) == (1401, 821)
    w2.viewport.close_plotter()
    w2.deleteLater()


def test_screenshot_command(ingested, tmp_path):
    out = tmp_path / "shot.png"
    r = run_cli("gui", "--screenshot", out, "--query-text", "flange", timeout=300)
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 500 and img.shape[1] > 900
    assert img.std() > 20  # a real window, not a blank image
    r = run_cli("gui", "--screenshot", tmp_path / "none.png", "--query-text", "flange",
                env={"DISPLAY": ""})
    assert r.returncode != 0 and "no display" in r.stderr


def test_first_run_dialog_explains_and_offers(window, qtbot):
    from cadfinder import settings as settings_mod
    from cadfinder.gui.first_run import FirstRunDialog

    d = FirstRunDialog(window)
    qtbot.addWidget(d)
    text = " ".join(lbl.text() for lbl in d.findChildren(type(window.db_label)))
    assert str(settings_mod.data_dir()) in text and "demo library" in text
    d.shared_btn.click()
    dlg = window.settings_dialog
    assert dlg.tabs.tabText(dlg.tabs.currentIndex()) == "Database"
    dlg.reject()


FILL_SCRIPT = """
import asyncio, json, sys
from PySide6.QtWidgets import QApplication
import qasync
from cadfinder import demo, settings
from cadfinder.gui.app import grab_window
from cadfinder.gui.main_window import MainWindow

demo.DEMO_PARTS = 6
out = {"steps": []}

async def main():
    w = MainWindow(settings.load())
    w.resize(1400, 860)
    w.show()
    await w.connect_library()

    def step(done, total, stage):
        out["steps"].append([stage, done, total])
        if stage == "ingesting" and done == 2 and "shot" not in out:
            out["shot"] = grab_window(w).save(sys.argv[1])
            out["bar_shown"] = w.fill_bar.isVisible() and w.fill_stop.isVisible()
            out["bar_text"] = w.fill_bar.text()
            w.fill_stop.click()  # stop: the next start resumes

    w.fill_progress.step.connect(step)
    first = await w.fill_demo()
    out["stopped_at"] = first["rows"]["cad_models"]
    out["unfinished"] = await asyncio.to_thread(demo.unfinished, w.settings)
    out["message"] = w.statusBar().currentMessage()
    second = await w.fill_demo()
    out["parts"] = second["rows"]["cad_models"]
    out["unfinished_after"] = await asyncio.to_thread(demo.unfinished, w.settings)
    out["bar_hidden"] = not w.fill_bar.isVisible()
    out["families"] = w.f_family.count() - 1
    await w.shutdown()
    w.close()

if __name__ == "__main__":  # the ingestion's worker processes import this file
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
    print(json.dumps(out))
"""


def test_demo_library_fills_in_the_background(fresh_home, tmp_path):
    """The app opens first; the demo library fills behind it with progress in the status bar,
    families evenly; Stop pauses it and the next start resumes (a 6-part demo, its own server)."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    shot = tmp_path / "filling.png"
    script = tmp_path / "fill.py"
    script.write_text(FILL_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(shot)], capture_output=True, text=True, timeout=600,
                       cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    stages = [s[0] for s in out["steps"]]
    assert stages[0] == "building" and "ingesting" in stages and stages.index("ingesting") > 0
    assert out["shot"] and out["bar_shown"] and "ingesting" in out["bar_text"], out
    assert 2 <= out["stopped_at"] < 6 and out["unfinished"] and "next start resumes" in out["message"], out
    assert out["parts"] == 6 and not out["unfinished_after"] and out["bar_hidden"], out
    assert out["families"] >= 5  # the first parts ingested cover the families, not one of them
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[0] > 500 and img.std() > 20


def test_library_map_and_duplicate_analysis(window, loop, qtbot, tmp_path, small_catalog):
    """The map: built, shown, searched onto, clicked and lassoed; the duplicate analysis: run,
    browsed and exported."""
    from PySide6.QtCore import QPoint, Qt

    from cadfinder.gui.duplicates_dialog import DuplicatesDialog

    window.map_dock.show()
    window.resize(1500, 1000)
    loop.run_until_complete(window.rebuild_map())
    view = window.map_panel.view
    assert view is not None and len(view.lmap) >= 24 and view.lmap.missing == 0
    window.text.setText("flange with bolt holes")
    res = run(loop, window.search())
    assert len(view.results) == len(res.results) and view.query_xy is not None
    assert view.selected == view.lmap.index[res.results[0].part_number]
    canvas = window.map_panel.canvas
    canvas.repaint()
    window.grab().save(str(tmp_path / "map_window.png"))
    # hovering a point shows its thumbnail and number; the filters dim the parts they drop
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    def mouse(kind, x, y, held):
        left = Qt.MouseButton.LeftButton
        QApplication.sendEvent(canvas, QMouseEvent(kind, QPointF(x, y), QPointF(canvas.mapToGlobal(QPoint(x, y))),
                                                   Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else left,
                                                   left if held else Qt.MouseButton.NoButton,
                                                   Qt.KeyboardModifier.NoModifier))

    first = view.lmap.index[res.results[0].part_number]
    hx, hy = view.to_px(view.lmap.xy[first])
    mouse(QEvent.Type.MouseMove, round(hx), round(hy), False)
    loop.run_until_complete(window.tasks["map_tip"])
    hovered = view.lmap.part_numbers[view.nearest((round(hx), round(hy)))]
    assert window.map_panel.tip.isVisible() and hovered in window.map_panel.tip_text.text()
    assert not window.map_panel.tip_image.pixmap().isNull()
    window.f_family.setCurrentIndex(window.f_family.findData("flange"))
    loop.run_until_complete(window.tasks["map_filter"])
    assert 0 < view.kept.sum() < len(view.lmap)
    assert all(view.lmap.family[k] == "flange" for k in np.flatnonzero(view.kept))
    window.f_family.setCurrentIndex(0)
    loop.run_until_complete(window.tasks["map_filter"])
    assert view.kept.all()
    # click a point: that part is selected and previewed
    k = view.lmap.index[res.results[-1].part_number]
    x, y = view.to_px(view.lmap.xy[k])
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    loop.run_until_complete(asyncio.sleep(0.3))
    loop.run_until_complete(window.tasks["preview"])
    assert window.session.selection == res.results[-1].part_number
    # lasso the whole canvas: every part the filters keep becomes the result list
    w, h = canvas.width(), canvas.height()
    mouse(QEvent.Type.MouseButtonPress, 1, 1, True)
    for px, py in ((w - 2, 1), (w - 2, h - 2), (1, h - 2), (1, 2)):
        mouse(QEvent.Type.MouseMove, px, py, True)
    mouse(QEvent.Type.MouseButtonRelease, 1, 2, False)
    loop.run_until_complete(window.tasks["search"])
    assert window.results.results_model.rowCount() == len(view.lmap)
    # the duplicate analysis: a turned copy of a part is found with it, its group shown side by
    # side with both implicit forms pictured; the report exported
    import trimesh
    from scipy.spatial.transform import Rotation

    from cadfinder import ingest, library as library_mod, models

    part = trimesh.load(small_catalog / "FLG-00001.stl", force="mesh")
    part.vertices = part.vertices @ Rotation.random(random_state=2).as_matrix().T + 40.0
    (tmp_path / "copy").mkdir()
    part.export(tmp_path / "copy" / "T-GUIDUP.stl")
    with library_mod.writer(window.settings, None) as conn:
        ingest.ingest(conn, [tmp_path / "copy"], models.weights_dir(window.settings), jobs=1, progress=False)
    try:
        dlg = DuplicatesDialog(window)
        qtbot.addWidget(dlg)
        dlg.show()
        started = dlg.run()  # Cancel: the run stops, the dialog stays usable
        dlg.cancel()
        loop.run_until_complete(asyncio.wait([started]))
        assert started.cancelled() and dlg.analysis is None
        assert dlg.run_btn.isEnabled() and not dlg.cancel_btn.isEnabled()
        a = loop.run_until_complete(dlg.run())
        assert a is not None and dlg.groups.count() == len(a.groups) >= 1
        row = next(i for i, g in enumerate(a.groups) if {m.part_number for m in g.members} >= {"FLG-00001", "T-GUIDUP"})
        dlg.groups.setCurrentRow(row)
        dlg.show_group(row)
        assert dlg.table.columnCount() == len(a.groups[row].members)
        assert loop.run_until_complete(dlg.previews_task) == len(a.groups[row].members)
        dlg.grab().save(str(tmp_path / "duplicates.png"))
        dlg.export(str(tmp_path / "d.csv"), "csv")
        dlg.export(str(tmp_path / "d.html"), "html")
        assert "T-GUIDUP" in (tmp_path / "d.csv").read_text()
        assert "<html>" in (tmp_path / "d.html").read_text()
        dlg.reject()  # stops its worker process
    finally:
        with library_mod.writer(window.settings, None) as conn:
            conn.execute("DELETE FROM cad_models WHERE part_number = 'T-GUIDUP'")
            conn.commit()
    img = np.asarray(Image.open(tmp_path / "map_window.png"))
    assert img.std() > 10


def test_an_assembly_shows_its_tree_coloured_components_and_jumps_to_a_part(window, loop, qtbot, tmp_path):
    """An assembly ingested from a STEP assembly file: the genome panel lists its components,
    the viewport draws them in place one colour per part, a double-click opens a component."""
    from tests import assembly_data

    folder = tmp_path / "asm"
    folder.mkdir()
    assembly_data.flange_pair(folder / "FLANGE-PAIR.step")
    r = run_cli("ingest", folder, "--json", "--jobs", "2", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    try:
        _assembly_in_the_window(window, loop, qtbot, tmp_path)
    finally:  # the session's library is shared with the other tests
        from cadfinder import library as library_mod
        from tests.stored_parts import delete_numbers

        with library_mod.writer(window.settings, None) as conn:
            delete_numbers(conn, ["FLANGE-PAIR", "flange", "bolt"])


def _assembly_in_the_window(window, loop, qtbot, tmp_path):
    window.resize(1500, 1000)
    run(loop, window.show_part("FLANGE-PAIR"))
    qtbot.waitUntil(lambda: window.current is not None and window.current.part_number == "FLANGE-PAIR"
                    and len(window.viewport.components) == 6, timeout=60_000)
    panel = window.genome
    comps = panel.topLevelItem(1)
    assert comps.text(0) == "components" and comps.childCount() == 6
    assert {c for _, c in window.viewport.components} == {"#d9a441", "#4e79a7"}  # bolt and flange
    window.grab().save(str(tmp_path / "assembly.png"))  # looked at: bolts gold, flanges blue, in place
    # (pixels of a VTK view read back under Xvfb are not reliable after many windows: the scene is checked)
    actors = window.viewport.plotter.renderer.actors.values()
    colours = [tuple(round(255 * c) for c in a.GetProperty().GetColor()) for a in actors if hasattr(a, "GetProperty")]
    assert colours.count((0x4e, 0x79, 0xa7)) == 2 and colours.count((0xd9, 0xa4, 0x41)) == 4
    bolt = next(comps.child(i) for i in range(6) if comps.child(i).text(0) == "bolt")
    panel.itemDoubleClicked.emit(bolt, 0)

    async def opened():
        for _ in range(600):
            if window.current is not None and window.current.part_number == "bolt":
                return
            await asyncio.sleep(0.1)

    run(loop, opened())
    assert window.current.part_number == "bolt"
    assert panel.topLevelItem(0).text(0) == "bolt" and not window.viewport.components
    run(loop, window.where_used(["bolt"]))  # the Where used button
    rows = window.results.results_model.results
    assert [r.part_number for r in rows] == ["FLANGE-PAIR"] and "4x bolt" in rows[0].name
    window.text.setText("flange with bolt holes")  # where is anything like this used
    run(loop, window.search())
    run(loop, window.where_used([r.part_number for r in window.results.results_model.results] + ["flange"]))
    assert [r.part_number for r in window.results.results_model.results] == ["FLANGE-PAIR"]
