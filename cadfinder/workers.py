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
