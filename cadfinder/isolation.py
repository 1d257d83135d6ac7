"""Kernel work in a child process: OpenCascade can crash (a segfault, an abort) or run for
minutes on damaged or extreme input, which must not take the app or the command down with it.

The child is spawned (a fresh interpreter: about 2 s to import the kernel), so the function
must be importable by name and its arguments and result picklable.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Any, Callable

from cadfinder.errors import CadfinderError, InputError


SIGNALS = {-6: "aborted: often out of memory", -9: "killed: often out of memory", -11: "segmentation fault"}


def memory_limit() -> int:
    """Bytes of address space the child may use: half the machine's memory, 2 to 8 GiB (a
    runaway boolean fails there instead of pushing the machine into swap)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    return int(min(8 << 30, max(2 << 30, physical // 2)))


def _child(fn: Callable, args: tuple, conn, limit: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: unbounded
    try:
        conn.send(("result", fn(*args)))
    except CadfinderError as e:
        conn.send(("raise", e))
    except MemoryError:
        conn.send(("failed", f"out of memory (over {limit >> 30} GiB)"))
    except Exception as e:  # sent back as text: not every exception pickles
        text = str(e).strip().splitlines()
        conn.send(("failed", f"{type(e).__name__}: {text[0] if text else 'no message'}"))


def call(fn: Callable, args: tuple, what: str, timeout_s: float, error: type[CadfinderError] = InputError,
         timeout_advice: str = "") -> Any:
    """fn(*args) in a child process with bounded memory (memory_limit). A CadfinderError it
    raises is raised here; a crash, running out of memory, any other exception, or a run over
    `timeout_s` seconds becomes `error` naming `what` (e.g. "part.step: the CAD reader"), with
    `timeout_advice` for the last. In a daemonic worker, which may not start processes, fn runs
    in place."""
    if mp.current_process().daemon:
        return fn(*args)
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, args, send, memory_limit()), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise error(f"{what} took over {timeout_s:.0f} s and was stopped"
                        + (f" ({timeout_advice})" if timeout_advice else ""))
        kind, value = receive.recv()
    except EOFError:
        child.join(10)
        raise error(f"{what} crashed ({SIGNALS.get(child.exitcode, f'exit code {child.exitcode}')})") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
    if kind == "raise":
        raise value
    if kind == "failed":
        raise error(f"{what} failed: {value}")
    return value
