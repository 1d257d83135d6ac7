"""Genome validation: JSON Schema first, then what a schema cannot say (references, bounds)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import jsonschema

from cadfinder.errors import GenomeError
from cadfinder.genome import expressions

# What a part can sensibly hold: beyond these the kernel runs for many minutes or out of memory
# (measured: a grid of 1,024 holes builds in 60 s on 2 cores, 2,025 in 180 s; 10^9 polygon sides
# abort OpenCascade with bad_alloc). Lengths are in the genome's units.
MAX_MAGNITUDE = 1e6
MAX_INSTANCES = 1000  # holes or cuts one feature places (points plus pattern)
MAX_COUNT = {"teeth": 500, "sides": 500}
COUNT_KEYS = ("count", "nx", "ny", "teeth", "sides")

EXPR_KEYS = {"value", "distance", "angle", "diameter", "depth", "radius", "length", "thickness", "width", "height",
             "inner_diameter", "sides", "module", "teeth", "pressure_angle", "count", "start_angle", "nx", "ny",
             "pitch_x", "pitch_y", "offset"}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("cadfinder.genome").joinpath("genome.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator():
    return jsonschema.Draft202012Validator(schema())


def _where(path) -> str:
    return "genome" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


DISCRIMINATORS = ("type", "shape", "kind")


def _branch_errors(error):
    """Of a oneOf failure's sub-errors, those of the branch the instance's type/shape/kind selects."""
    branches: dict[int, list] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in branches.values():
        if not any(len(e.relative_path) == 1 and e.relative_path[0] in DISCRIMINATORS for e in subs):
            return subs
    return error.context


def _best_error(errors):
    # For oneOf failures, follow the branch the object's discriminator names down to a precise error.
    best = jsonschema.exceptions.best_match(errors)
    while best is not None and best.context:
        best = jsonschema.exceptions.best_match(_branch_errors(best))
    return best


def _expressions(node, path=()):
    """Yield (path, expression) for every dimension-like value in the feature tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in EXPR_KEYS and isinstance(v, (str, int, float)) and not isinstance(v, bool):
                yield path + (k,), v
            elif k in ("at", "center", "points"):
                for i, pt in enumerate(v if isinstance(v, list) else []):
                    if k == "center":
                        yield path + (k, i), pt
                    else:
                        for j, c in enumerate(pt if isinstance(pt, list) else []):
                            yield path + (k, i, j), c
            else:
                yield from _expressions(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _expressions(v, path + (i,))


def validate(genome: dict) -> list[str]:
    """Return a list of precise problems (empty when the genome is valid)."""
    if not isinstance(genome, dict):
        return ["genome: must be a JSON object"]
    errors = list(_validator().iter_errors(genome))
    if errors:
        problems = []
        for top in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))[:10]:
            e = _best_error([top]) or top
            problems.append(f"{_where(e.absolute_path)}: {e.message}")
        return problems
    problems = []
    params = genome["parameters"]
    values = {k: p["value"] for k, p in params.items()}
    absurd = []
    for name, p in params.items():
        bad = [f"genome.parameters.{name}: {key} {p[key]} is not a finite number of at most {MAX_MAGNITUDE:g} "
               "in size" for key in ("value", "min", "max") if key in p and not abs(p[key]) <= MAX_MAGNITUDE]
        if bad:  # (also NaN)
            absurd += bad
            continue
        lo, hi = p.get("min"), p.get("max")
        if lo is not None and hi is not None and lo > hi:
            problems.append(f"genome.parameters.{name}: min {lo} is greater than max {hi}")
        if lo is not None and p["value"] < lo:
            problems.append(f"genome.parameters.{name}: value {p['value']} is below its minimum {lo}")
        if hi is not None and p["value"] > hi:
            problems.append(f"genome.parameters.{name}: value {p['value']} is above its maximum {hi}")
        if p.get("integer") and float(p["value"]) != int(p["value"]):
            problems.append(f"genome.parameters.{name}: value {p['value']} must be a whole number")
    if absurd:  # every expression over them would be reported too
        return absurd + problems
    ids = [f["id"] for f in genome["features"]]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        problems.append(f"genome.features: duplicate feature ids {sorted(dup)}")
    dimensions_ok = True
    for path, expr in _expressions(genome["features"], ("features",)):
        try:
            v = expressions.evaluate(expr, values)
        except expressions.ExpressionError as e:
            problems.append(f"{_where(path)}: {e}")
            dimensions_ok = False
            continue
        if abs(v) > MAX_MAGNITUDE:
            problems.append(f"{_where(path)}: {v:g} is larger than {MAX_MAGNITUDE:g}")
            dimensions_ok = False
        elif path[-1] in COUNT_KEYS and not 0 < round(v) <= MAX_COUNT.get(path[-1], MAX_INSTANCES):
            problems.append(f"{_where(path)}: {v:g} is not a count from 1 to "
                            f"{MAX_COUNT.get(path[-1], MAX_INSTANCES)}")
            dimensions_ok = False
    for i, f in enumerate(genome["features"] if dimensions_ok else []):
        placement = f.get("placement") or {}
        n = len(placement.get("at", [])) + _pattern_size(placement.get("pattern"), values)
        if n > MAX_INSTANCES:
            problems.append(f"genome.features[{i}].placement: places {n} instances, more than {MAX_INSTANCES}")
    first = genome["features"][0]
    kinds = {f["type"] == "creo" for f in genome["features"]}
    if kinds == {True, False}:
        problems.append("genome.features: Creo features (type creo) and open-kernel features cannot be mixed")
    elif kinds == {False} and first["type"] not in ("extrude", "revolve"):
        problems.append(f"genome.features[0]: the first feature must create material (extrude or revolve), "
                        f"not {first['type']!r}")
    creo = genome.get("creo", {})
    for key in creo.get("parameters", {}):
        if key not in params:
            problems.append(f"genome.creo.parameters.{key}: no such parameter")
    for key in creo.get("dimensions", {}):
        if key not in params:
            problems.append(f"genome.creo.dimensions.{key}: no such parameter")
    for key in creo.get("features", {}):
        if key not in ids:
            problems.append(f"genome.creo.features.{key}: no such feature id")
    return problems


def _pattern_size(pattern: dict | None, values: dict) -> int:
    """Instances a (validated) pattern places."""
    if not pattern:
        return 0
    if pattern["kind"] == "polar":
        return round(expressions.evaluate(pattern["count"], values))
    return round(expressions.evaluate(pattern["nx"], values)) * round(expressions.evaluate(pattern["ny"], values))


def check(genome: dict) -> dict:
    """Raise GenomeError listing every problem, or return the genome unchanged."""
    problems = validate(genome)
    if problems:
        raise GenomeError("invalid genome: " + "; ".join(problems))
    return genome


def is_creo_tree(genome: dict) -> bool:
    """True when the feature tree is Creo's own (ingested from Creo): only Creo rebuilds it."""
    return any(f.get("type") == "creo" for f in genome.get("features") or [])


def parameter_values(genome: dict) -> dict[str, float]:
    return {k: float(p["value"]) for k, p in genome["parameters"].items()}


def feature_counts(genome: dict) -> dict[str, int]:
    """Counts of feature kinds (hole counts instances, gears count teeth), unsuppressed only."""
    values = parameter_values(genome)
    counts: dict[str, int] = {}

    def add(k, n=1):
        counts[k] = counts.get(k, 0) + int(n)

    for f in genome["features"]:
        if f.get("suppressed"):
            continue
        if f["type"] == "creo":  # counted by Creo's own type name: hole, cut, round, chamfer, ...
            add(f["creo_type"].lower())
            if f["creo_type"] == "HOLE":
                add("holes")
            continue
        add(f["type"])
        placement = f.get("placement") or {}
        n = len(placement.get("at", [])) + _pattern_size(placement.get("pattern"), values)
        if placement.get("pattern"):
            add("pattern")
        if f["type"] == "hole":
            add("holes", max(n, 1))
            if f.get("counterbore"):
                add("counterbore")
            if f.get("countersink"):
                add("countersink")
        prof = f.get("profile") or {}
        if prof.get("shape") == "gear":
            add("teeth", round(expressions.evaluate(prof["teeth"], values)))
        if prof.get("shape") == "circle" and prof.get("inner_diameter") is not None and f["type"] == "extrude":
            add("holes")
    return counts
