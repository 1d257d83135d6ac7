"""One pipeline per query, two executors.

A pipeline is a generator that does no I/O itself: it yields each step it needs, a SQL statement
(`Fetch`) or a piece of heavy work (`Compute`: encoding, fitting, loading a model), receives the
step's result back, and returns its answer. `run` executes a pipeline on a psycopg connection in
the calling thread (the CLI, evaluations, benchmarks); `run_async` on the app's async connection
with the heavy work in worker threads, so the window never waits on it. Each step, and each
number a step uses, is written once, in the pipeline (cadfinder.queries).

A pipeline may also yield a `Partial` answer to show while it goes on (a geometric query's
vector answer before its re-rank); the executors pass it to `on_partial` and tell `on_step`
each Compute's label as it starts (the app's status bar).

Both executors time the steps by their labels (milliseconds): `database` for every Fetch, the
Compute's own label otherwise; `total` is the wall time less any model loading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

MODEL_LOAD = "model_load"  # a Compute with this label is not counted in "total"


@dataclass
class Fetch:
    """A statement to run; the pipeline receives its rows (list of tuples)."""

    statement: Any  # str or psycopg.sql.Composable
    params: Any = None
    # Rows in PostgreSQL's binary format: a bytea (a surface sample, 48 KB) arrives as its bytes,
    # not hex text to decode; float4 values arrive exact rather than as shortest decimals.
    binary: bool = False


@dataclass
class Compute:
    """A call to run (off the UI thread in the app); the pipeline receives its return value."""

    fn: Callable
    args: tuple = ()
    label: str = "compute"


@dataclass
class Partial:
    """An answer so far (a SearchResult): shown at once, replaced by the pipeline's final one."""

    answer: Any


Pipeline = Generator[Fetch | Compute | Partial, Any, Any]


def _finish(answer, timings: dict, started: float):
    timings["total"] = 1000 * (time.perf_counter() - started) - timings.get(MODEL_LOAD, 0.0)
    if hasattr(answer, "timings_ms"):  # a SearchResult: the steps' times over the pipeline's own
        answer.timings_ms = {**answer.timings_ms, **timings}
    return answer


def _driven(pipeline: Pipeline, on_partial: Callable | None):
    """What both executors do around the steps: pass each Fetch and Compute on to the executor
    (this generator yields it and is sent its result), hand Partial answers to `on_partial`, time
    each step by its label; returns the pipeline's answer with the timings."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    result = None
    while True:
        try:
            step = pipeline.send(result)
        except StopIteration as done:
            return _finish(done.value, timings, started)
        if isinstance(step, Partial):
            if on_partial is not None:
                on_partial(_finish(step.answer, dict(timings), started))
            result = None
            continue
        t = time.perf_counter()
        result = yield step
        label = "database" if isinstance(step, Fetch) else step.label
        timings[label] = timings.get(label, 0.0) + 1000 * (time.perf_counter() - t)


def run(pipeline: Pipeline, conn, on_partial: Callable | None = None) -> Any:
    """Execute a pipeline on a (sync) psycopg connection; each Fetch is its own transaction."""
    steps = _driven(pipeline, on_partial)
    result = None
    while True:
        try:
            step = steps.send(result)
        except StopIteration as done:
            return done.value
        if isinstance(step, Fetch):
            result = conn.execute(step.statement, step.params, binary=step.binary).fetchall()
            conn.commit()
        else:
            result = step.fn(*step.args)


async def run_async(pipeline: Pipeline, fetch: Callable[[Any, Any, bool], Awaitable[list]],
                    on_partial: Callable | None = None, on_step: Callable[[str], None] | None = None) -> Any:
    """Execute a pipeline with `fetch(statement, params, binary)` (an async connection's rows) and the
    Compute steps in worker threads; `on_step(label)` hears of each Compute as it starts."""
    steps = _driven(pipeline, on_partial)
    result = None
    while True:
        try:
            step = steps.send(result)
        except StopIteration as done:
            return done.value
        if isinstance(step, Fetch):
            result = await fetch(step.statement, step.params, step.binary)
        else:
            if on_step is not None:
                on_step(step.label)
            result = await asyncio.to_thread(step.fn, *step.args)
