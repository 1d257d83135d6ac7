"""Genomes of every catalog family, and schema-valid mutations of them with extreme values and
expressions, for the fuzz tests (tests/test_fuzz.py) and bench/fuzz.py --genomes."""

from __future__ import annotations

import copy
import math
import random
from functools import lru_cache

import numpy as np

EXTREMES = (0.0, -1.0, 1e-12, 1e-6, 0.3, 2.5, 7.0, 1e4, 1e6, 1e12, 1e300, -1e300, 2.0 ** 63,
            math.nan, math.inf, -math.inf)
COUNT_KEYS = ("count", "nx", "ny", "teeth", "sides")
COUNTS = (0, 1, 2, 3, 5, 1e3, 1e5, 1e9, -4, 2.5)
SELECTORS = (">Z", "<Z", "|Z", "|X", "#Z", "%CIRCLE", "%LINE", ">Z[-2]", ">X[99]", "<Y", "+Z", "-X", "(>Z)")
FUNCTIONS = ("min", "max", "abs", "sqrt", "sin", "cos", "tan", "radians", "floor", "ceil", "round")


@lru_cache(maxsize=1)
def seed_genomes() -> tuple[dict, ...]:
    """One valid genome per catalog family."""
    from cadfinder.catalog import families

    return tuple(families.generate(f, np.random.default_rng(3))[0] for f in families.FAMILIES)


def _expression(rng: random.Random, names: list[str], depth: int = 0) -> str:
    """A random arithmetic expression in the genome's character set (may be absurd)."""
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([*names, "pi", repr(rng.choice((0, 1, 2, 1e-9, 1e9, 1e300, 0.5, 360)))])
    if r < 0.7:
        op = rng.choice(["+", "-", "*", "/", "**", "//", "%"])
        return f"({_expression(rng, names, depth + 1)} {op} {_expression(rng, names, depth + 1)})"
    if r < 0.8:
        return "-" * rng.randint(1, 40) + _expression(rng, names, depth + 1)
    f = rng.choice(FUNCTIONS)
    args = ", ".join(_expression(rng, names, depth + 1) for _ in range(rng.randint(1, 3)))
    return f"{f}({args})"


def _slots(node, out, path=()):
    """(path, key) of every value in the feature tree a mutation may replace."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                _slots(v, out, path + (k,))
            else:
                out.append((path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                _slots(v, out, path + (i,))
            else:
                out.append((path, i))


def _get(root, path):
    for p in path:
        root = root[p]
    return root


def mutate(genome: dict, seed: int, n: int = 3) -> dict:
    """A copy of `genome` with n random mutations that keep it JSON and mostly schema-valid."""
    rng = random.Random(seed)
    g = copy.deepcopy(genome)
    names = list(g["parameters"])
    for _ in range(n):
        kind = rng.randrange(8)
        if kind == 0:  # an extreme parameter value, its bounds dropped so that it is accepted
            p = g["parameters"][rng.choice(names)]
            p["value"] = rng.choice(EXTREMES)
            if rng.random() < 0.8:
                p.pop("min", None)
                p.pop("max", None)
                p.pop("integer", None)
        slots: list = []
        _slots(g["features"], slots)
        if kind in (1, 2, 3) and slots:
            path, key = rng.choice(slots)
            node = _get(g["features"], path)
            if kind == 1:
                node[key] = _expression(rng, names)[:200]
            elif kind == 2:
                node[key] = rng.choice(EXTREMES) if isinstance(node[key], (int, float)) else node[key]
            elif key in ("edges", "faces", "face"):
                node[key] = rng.choice(SELECTORS)
        if kind == 4:  # a count (pattern, teeth, sides) made absurd
            counts = [(p, k) for p, k in slots if k in COUNT_KEYS]
            if counts:
                path, key = rng.choice(counts)
                _get(g["features"], path)[key] = rng.choice(COUNTS)
        if kind == 5 and len(g["features"]) > 1:  # a feature dropped, duplicated or moved
            i = rng.randrange(1, len(g["features"]))
            f = g["features"].pop(i)
            op = rng.randrange(3)
            if op == 1:
                g["features"].insert(i, f)
                g["features"].append(dict(copy.deepcopy(f), id=f"{f['id']}x"[:32]))
            elif op == 2:
                g["features"].insert(rng.randrange(1, len(g["features"]) + 1), f)
        if kind == 6:
            f = rng.choice(g["features"])
            f["suppressed"] = not f.get("suppressed", False)
        if kind == 7:
            g["units"] = rng.choice(["mm", "cm", "m", "in"])
    return g
