"""`cadfinder gui`: start the app on the configured database (the embedded demo library on a fresh
machine); `--screenshot` runs one query, previews the first result, saves the window and exits."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from cadfinder.errors import CadfinderError
from cadfinder.resources import resource_path


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise CadfinderError("no display: run the app on a desktop, or under Xvfb "
                             "(xvfb-run -a cadfinder gui ...); every action is also in the command line")


def _application():
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cadfinder")
    app.setOrganizationName("cadfinder")
    app.setStyle("Fusion")  # follows the system's light/dark scheme on every platform
    app.setWindowIcon(QIcon(str(resource_path("icons", "cadfinder.png"))))
    return app


async def prepare_library(settings, uri, progress=print) -> None:
    """On a fresh machine (embedded server, empty library) build and ingest the demo catalog."""
    from cadfinder.async_library import AsyncLibrary

    if settings.database.uri or uri:
        return
    lib = AsyncLibrary(settings, uri)
    await lib.open()
    parts = (await lib.stats())["parts"]
    await lib.close()
    if parts:
        return
    from cadfinder import demo

    progress(f"empty library: preparing the demo library in {demo.catalog_dir()} (first start only, a few minutes)")
    await asyncio.to_thread(demo.prepare, settings, uri, progress=False)


async def screenshot(window, path: str, text=None, pointcloud=None, sketch=None) -> None:
    """Run one query, wait for the first result's preview, save the window as an image."""
    from PySide6.QtWidgets import QApplication

    if sketch:
        window.load_sketch_file(sketch)
    if text:
        window.text.setText(text)
    if pointcloud:
        window.spawn("search", window.load_query_file(pointcloud))
    else:
        if text and not sketch:
            window.query_tabs.setCurrentIndex(0)
        window.search()
    task = window.tasks.get("search")
    if task is not None:
        await task
    preview = window.tasks.get("preview")
    if preview is not None:
        try:
            await preview
        except asyncio.CancelledError:
            pass
    for _ in range(10):
        QApplication.processEvents()
        await asyncio.sleep(0.05)
    img = grab_window(window)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not img.save(str(path)):
        raise CadfinderError(f"could not write {path}")


def grab_window(window):
    """The window as a QPixmap, with the 3D viewport's own rendering drawn in (an OpenGL
    widget's pixels are not always part of QWidget.grab)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage, QPainter

    pix = window.grab()
    plotter = window.viewport.plotter
    plotter.render()
    arr = plotter.screenshot(return_img=True)
    if arr is not None and arr.size:
        import numpy as np

        arr = np.ascontiguousarray(arr[..., :3])
        h, w = arr.shape[:2]
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        widget = plotter.interactor
        pos = widget.mapTo(window, QPoint(0, 0))
        painter = QPainter(pix)
        painter.drawImage(pos, img.scaled(widget.width(), widget.height()))
        painter.end()
    return pix


def run(settings, uri=None, screenshot_path=None, text=None, pointcloud=None, sketch=None, demo=False) -> int:
    """Open the main window; with `screenshot_path`, take one screenshot and exit. With `demo`
    an empty embedded library starts filling with the demo library in the background; a demo
    library begun before and not finished resumes filling either way."""
    _check_display()
    import qasync

    from cadfinder.gui.main_window import MainWindow

    app = _application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    status = {"code": 0}

    async def main():
        if screenshot_path:  # unattended: make sure there is something to show
            await prepare_library(settings, uri, progress=lambda m: print(m, file=sys.stderr))
        window = MainWindow(settings, uri)
        window.show()
        await window.connect_library()
        if not screenshot_path:
            from cadfinder import demo as demo_mod

            empty = await window.library_is_empty()
            try:
                resume = await asyncio.to_thread(demo_mod.unfinished, settings, uri)
            except Exception as e:
                from cadfinder.async_library import readable

                window.show_error(readable(e))
                resume = False
            if resume or (demo and empty and not (settings.database.uri or uri)):
                window.text.setText(window.text.text() or "flange with 8 bolt holes")
                window.fill_demo()
            elif empty:
                from cadfinder.gui.first_run import FirstRunDialog

                window.first_run = FirstRunDialog(window)
                window.first_run.open()
        if screenshot_path:
            try:
                await screenshot(window, screenshot_path, text, pointcloud, sketch)
                print(screenshot_path)
            except Exception as e:
                from cadfinder.async_library import readable

                print(f"error: {readable(e)}", file=sys.stderr)
                status["code"] = 1
            if window.banner.isVisible():
                print(f"message shown: {window.banner.text()}", file=sys.stderr)
            window.close()
            app.quit()
            return
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        await closed.wait()

    with loop:
        loop.run_until_complete(main())
    return status["code"]
