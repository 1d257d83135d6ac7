"""The library map at scale: projecting the latents, and drawing, zooming and lassoing the map.

Latents: the library's own (CADFINDER_HOME), and for larger sizes jittered copies of them (each a
random library latent plus 2 % noise), so the map has the library's clusters at any size.
Reported per size: the projection's time (openTSNE, as `cadfinder map build`), and the median
time of a frame of the map canvas (the numpy picture and Qt painting it, offscreen) shown whole,
zoomed 8x, and while panning, plus a hit test and a lasso. A frame under 33 ms keeps zoom and pan
at 30 frames a second.

    python bench/bench_map.py [--parts 1000,100000] [--size 1600x420]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def _latents() -> np.ndarray:
    from cadfinder import library, settings

    with library.connect(settings.load(), None) as conn:
        rows = conn.execute("SELECT sdf_latent FROM cad_models WHERE sdf_latent IS NOT NULL").fetchall()
    return np.array([r[0].to_numpy() for r in rows], np.float32)


def _median_ms(fn, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return round(statistics.median(times), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="1000,100000")
    ap.add_argument("--size", default="1600x420", help="canvas size in pixels (the map dock's)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from cadfinder.gui.map_canvas import MapCanvas
    from cadfinder.library_map import LibraryMap, project

    app = QApplication.instance() or QApplication([])
    w, h = (int(v) for v in args.size.split("x"))
    base = _latents()
    rng = np.random.default_rng(0)
    out = []
    for n in (int(x) for x in args.parts.split(",")):
        if n <= len(base):
            lat = base[:n]
        else:
            noise = 0.02 * np.abs(base).mean() * rng.normal(size=(n, base.shape[1]))
            lat = base[rng.integers(0, len(base), n)] + noise.astype(np.float32)
        t = time.perf_counter()
        xy = project(lat)
        projection_s = time.perf_counter() - t
        names = [f"P-{k:06d}" for k in range(n)]
        fam = [("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")[k % 12] for k in range(n)]
        lmap = LibraryMap(names, xy, names, fam, ["steel"] * n, rng.uniform(0.01, 5, n))
        canvas = MapCanvas()
        canvas.resize(w, h)
        canvas.show()
        app.processEvents()
        canvas.set_map(lmap)
        canvas.view.resize((w, h))
        canvas.view.fit()
        canvas.view.set_results(names[:20], [1.0] * 20)
        canvas.view.select(names[0])

        def frame():
            canvas.repaint()
            app.processEvents()

        whole = _median_ms(frame)
        canvas.view.zoom(8.0)
        zoomed = _median_ms(frame)

        def pan():
            canvas.view.pan(5, 3)
            frame()

        panning = _median_ms(pan)
        canvas.view.fit()
        hit = _median_ms(lambda: canvas.view.nearest((w / 2, h / 2)))
        poly = np.array([(w * 0.2, h * 0.2), (w * 0.6, h * 0.1), (w * 0.7, h * 0.8), (w * 0.1, h * 0.7)])
        lasso = _median_ms(lambda: canvas.view.lasso(poly))
        out.append({"parts": n, "projection_s": round(projection_s, 1), "frame_ms_whole": whole,
                    "frame_ms_zoomed_8x": zoomed, "frame_ms_panning": panning, "hit_test_ms": hit,
                    "lasso_ms": lasso, "paint_ms_last": round(canvas.frame_ms, 2)})
        print(json.dumps(out[-1]), flush=True)


if __name__ == "__main__":
    main()
