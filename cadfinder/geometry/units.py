"""Length units. cadfinder works in millimetres; files and callers may say otherwise."""

from __future__ import annotations

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "ft": 304.8, "um": 0.001}


def to_mm(unit: str) -> float:
    """Millimetres per one `unit`; raises ValueError for an unknown unit."""
    try:
        return MM_PER_UNIT[unit.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown length unit {unit!r}; use one of {', '.join(sorted(MM_PER_UNIT))}") from None
