"""`--where` filters: simple comparisons over a whitelist of columns, compiled to parameterised SQL.

    material=aluminium   family=flange   mass_kg<2.5   feature=hole   holes>=6   kind=assembly
    size_x_mm<=120 (largest extent)   size_z_mm>5 (smallest)   length_mm / width_mm / height_mm
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from psycopg import sql

from cadfinder.catalog import materials
from cadfinder.errors import InputError

TEXT_COLUMNS = {"material", "family", "access_group", "part_number", "revision", "units", "kind"}
KINDS = ("part", "assembly")
NUMBER_COLUMNS = {"mass_kg", "volume_mm3", "surface_area_mm2", "size_x_mm", "size_y_mm", "size_z_mm"}
ALIASES = {"mass": "mass_kg", "volume": "volume_mm3", "length_mm": "size_x_mm", "width_mm": "size_y_mm",
           "height_mm": "size_z_mm", "length": "size_x_mm", "width": "size_y_mm", "height": "size_z_mm"}
# Counts from the genome's feature tree (feature_counts jsonb).
COUNT_KEYS = {"holes", "hole", "teeth", "fillet", "chamfer", "pattern", "extrude", "cut", "revolve", "shell",
              "counterbore", "countersink"}
FEATURE_SYNONYMS = {"holes": "hole", "fillets": "fillet", "chamfers": "chamfer", "patterns": "pattern",
                    "tooth": "teeth", "gear": "teeth", "keyway": "cut", "pocket": "cut"}
OPS = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_EXPR = re.compile(r"^\s*([A-Za-z_]+)\s*(==|!=|<=|>=|=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: object
    or_unknown: bool = False  # also keep rows where the column is NULL (the library does not know)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def parse(expr: str) -> Filter:
    """One filter expression; InputError names what is wrong."""
    m = _EXPR.match(expr)
    if not m:
        raise InputError(f"cannot read filter {expr!r}: use COLUMN OP VALUE, e.g. material=aluminium or mass_kg<2.5")
    col, op, raw = m.group(1).lower(), m.group(2), m.group(3).strip().strip("'\"")
    col = ALIASES.get(col, col)
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise InputError(f"filter {expr!r} has control characters in its value")
    if col == "feature":
        if op not in ("=", "=="):
            raise InputError("feature= takes a feature name, e.g. feature=hole")
        return Filter("feature", "=", FEATURE_SYNONYMS.get(raw.lower(), raw.lower()))
    if col in TEXT_COLUMNS:
        if op not in ("=", "==", "!="):
            raise InputError(f"{col} compares with = or != only")
        value = materials.canonical(raw) if col == "material" else raw
        if col == "kind" and value not in KINDS:
            raise InputError(f"kind is part or assembly, not {raw!r}")
        return Filter(col, OPS[op], value)
    if col in NUMBER_COLUMNS or col in COUNT_KEYS:
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{col} needs a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise InputError(f"{col} needs a finite number, not {raw!r}")
        return Filter(col, OPS[op], value)
    allowed = sorted(TEXT_COLUMNS | NUMBER_COLUMNS | COUNT_KEYS | set(ALIASES) | {"feature"})
    raise InputError(f"cannot filter on {col!r}; use one of: {', '.join(allowed)}")


def to_sql(filters: list[Filter]) -> tuple[sql.Composable, dict]:
    """A WHERE fragment (TRUE when empty) and its parameters; identifiers only from the whitelist."""
    parts, params = [], {}
    for i, f in enumerate(filters):
        key = f"f{i}"
        params[key] = f.value
        if f.column == "feature":
            parts.append(sql.SQL("(coalesce((feature_counts->>{})::int, 0) > 0)").format(sql.Placeholder(key)))
        elif f.column in COUNT_KEYS:
            parts.append(sql.SQL("(coalesce((feature_counts->>{})::float8, 0) {} {})").format(
                sql.Literal(f.column), sql.SQL(f.op), sql.Placeholder(key)))
        elif f.or_unknown:
            parts.append(sql.SQL("({col} {} {} OR {col} IS NULL)").format(sql.SQL(f.op), sql.Placeholder(key),
                                                                         col=sql.Identifier(f.column)))
        else:
            parts.append(sql.SQL("({} {} {})").format(sql.Identifier(f.column), sql.SQL(f.op), sql.Placeholder(key)))
    if not parts:
        return sql.SQL("TRUE"), params
    return sql.SQL(" AND ").join(parts), params
