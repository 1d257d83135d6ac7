"""Fuzz for N minutes: the query readers (every supported format and STEP, mutated at random:
flipped bytes, absurd or non-finite numbers, truncation; read as a mesh and as a point cloud),
or with --genomes the genome validator and the open kernel (every family's genome with extreme
values, random expressions, absurd counts, features dropped, repeated or moved).

    python bench/fuzz.py --minutes 10 [--seed 0] [--timeout 20] [--genomes]

Each input runs in a worker process with bounded memory (cadfinder.isolation.memory_limit), so
that a native crash, running out of memory or a hang is caught and counted (the worker is
restarted). The only outcomes allowed: a result, an invalid genome's list of problems, or a
CadfinderError with a message. Reports inputs tried, outcomes, and every failure with what
caused it (failing files, or the genome's family and mutation seed, are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _worker(conn) -> None:
    # OpenCASCADE prints parse errors on the process's own stdout: keep the report clean.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    import resource

    from cadfinder.errors import CadfinderError
    from cadfinder.isolation import memory_limit
    from tests import fuzz_genomes
    from tests.test_fuzz import build_one, read_one

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit(), memory_limit()))
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            if job[0] == "genome":
                _, family, seed = job
                conn.send((build_one(fuzz_genomes.mutate(fuzz_genomes.seed_genomes()[family], seed)), ""))
            else:
                read_one(Path(job[1]), job[2])
                conn.send(("result", ""))
        except CadfinderError as e:
            conn.send(("clear error", "") if str(e).strip() else ("empty message", repr(e)))
        except AssertionError as e:
            conn.send(("bad result", str(e)[:300]))
        except BaseException as e:  # what the fuzzing is for
            conn.send(("other exception", f"{type(e).__name__}: {str(e)[:300]}"))


class Worker:
    def __init__(self):
        self.start()

    def start(self):
        self.conn, child = mp.Pipe()
        # not daemonic: read_points reads a query's CAD file in a child process of its own
        self.proc = mp.get_context("spawn").Process(target=_worker, args=(child,))
        self.proc.start()

    def run(self, job: tuple, timeout: float) -> tuple[str, str]:
        self.conn.send(job)
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:
                pass
        self.proc.join(1.0)
        code = self.proc.exitcode
        self.proc.kill()
        self.proc.join()
        self.start()
        return ("crash", f"exit code {code}") if code is not None else ("hang", f"over {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20, help="seconds an input may take")
    ap.add_argument("--out", default=None, help="folder for failing inputs (default: a temporary one)")
    ap.add_argument("--genomes", action="store_true", help="fuzz genomes (validation and the open kernel)")
    args = ap.parse_args()
    if args.genomes:
        return fuzz_genomes(args)
    from cadfinder.geometry import readers
    from tests.fuzz_inputs import NUMBERS, mutate, seed_files

    work = Path(tempfile.mkdtemp(prefix="cf_fuzz_"))
    out = Path(args.out) if args.out else work / "failures"
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_files(work / "seeds")
    import cadquery as cq

    step = work / "seeds" / "box.step"
    cq.exporters.export(cq.Workplane().box(30, 20, 10).faces(">Z").hole(8), str(step))
    seeds.append(step)
    rng = np.random.default_rng(args.seed)
    worker = Worker()
    counts, failures, tried = {}, [], 0
    end = time.monotonic() + 60 * args.minutes
    while time.monotonic() < end:
        src = seeds[rng.integers(len(seeds))]
        m = ([(float(rng.random()), int(rng.integers(256))) for _ in range(rng.integers(0, 9))],
             float(rng.random()) if rng.random() < 0.3 else None,
             [(float(rng.random()), str(rng.choice(NUMBERS))) for _ in range(rng.integers(0, 5))])
        path = work / f"input{src.suffix}"
        path.write_bytes(mutate(src.read_bytes(), *m))
        modes = (True, False) if src.suffix in readers.PART_SUFFIXES else (False,)
        for as_mesh in modes:
            outcome, detail = worker.run(("file", str(path), as_mesh), args.timeout)
            tried += 1
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome not in ("result", "clear error"):
                kept = out / f"failure{len(failures)}{src.suffix}"
                shutil.copy(path, kept)
                failures.append({"seed_file": src.name, "as_mesh": as_mesh, "outcome": outcome, "detail": detail,
                                 "mutation": m, "kept": str(kept)})
    worker.conn.send(None)
    worker.proc.join(10)
    worker.proc.kill()
    print(json.dumps({"minutes": args.minutes, "inputs_tried": tried, "outcomes": counts,
                      "failures": failures}, indent=1))


def fuzz_genomes(args) -> None:
    from tests.fuzz_genomes import seed_genomes

    families = [g["family"] for g in seed_genomes()]
    rng = np.random.default_rng(args.seed)
    worker = Worker()
    counts, failures, tried = {}, [], 0
    end = time.monotonic() + 60 * args.minutes
    while time.monotonic() < end:
        family, seed = int(rng.integers(len(families))), int(rng.integers(2 ** 31))
        outcome, detail = worker.run(("genome", family, seed), args.timeout)
        tried += 1
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome not in ("built", "invalid", "clear error"):
            failures.append({"family": families[family], "mutation_seed": seed, "outcome": outcome,
                             "detail": detail, "replay": f"tests.fuzz_genomes.mutate(seed_genomes()[{family}], {seed})"})
    worker.conn.send(None)
    worker.proc.join(10)
    worker.proc.kill()
    print(json.dumps({"minutes": args.minutes, "genomes_tried": tried, "outcomes": counts, "failures": failures},
                     indent=1))


if __name__ == "__main__":
    main()
