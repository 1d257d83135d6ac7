"""Worker processes for the parallel batch jobs (catalog, SDF samples, scans, views, ingestion)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def process_pool(jobs: int | None = None) -> ProcessPoolExecutor:
    """A pool of fresh interpreters ("spawn", not "fork"): the caller may be the app or a process
    that already holds Qt, OpenGL, VTK or thread state, which forked children inherit half-way
    and can deadlock or crash on (seen with VTK rendering in forked workers)."""
    return ProcessPoolExecutor(jobs or os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"))


def fill_cache(fn, tasks: list[tuple], desc: str, jobs: int | None = None, progress: bool = True) -> None:
    """Run `fn(task)` in worker processes for each task whose output file (task[1]) is missing,
    with a progress bar: per-part caches that an interrupted build resumes."""
    import sys
    from pathlib import Path

    from tqdm import tqdm

    missing = [t for t in tasks if not Path(t[1]).exists()]
    if not missing:
        return
    with process_pool(jobs) as pool:
        for _ in tqdm(pool.map(fn, missing, chunksize=4), total=len(missing), desc=desc, unit="part",
                      disable=not progress, file=sys.stderr):
            pass
