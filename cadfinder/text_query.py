"""Structured constraints read out of a designer's text query; the rest goes to the text encoder.

    "aluminium flange with 6 bolt holes under 2 kg"  -> material=aluminium (filter),
        holes=6 (boost), mass_kg<2 (filter), text "flange with bolt holes"
    "M8 hex bolt 40 mm"  -> thread M8 (boost), length 40 mm (boost), text "hex bolt"

Materials and mass limits are filters (a designer who names them means them), but a material
keeps the parts whose material the library does not know (a bare STL has none, and "a steel
cap screw" should still find its cap screws); counts, thread sizes and dimensions are score
boosts, since a part's "holes" may count differently from the designer's and dimensions are
approximate. `--where material=...` stays a hard filter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

from cadfinder.catalog import materials
from cadfinder.filters import Filter

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "sixteen": 16, "twenty": 20, "single": 1,
                "double": 2, "twin": 2, "triple": 3}
COUNTABLE = {"hole": "holes", "holes": "holes", "bolt hole": "holes", "bolt holes": "holes", "bore": None,
             "tooth": "teeth", "teeth": "teeth", "knuckle": "knuckles", "knuckles": "knuckles", "groove": "grooves",
             "grooves": "grooves", "step": "steps", "steps": "steps"}
UNIT_MM = {"mm": 1.0, "millimetre": 1.0, "millimeter": 1.0, "millimetres": 1.0, "millimeters": 1.0, "cm": 10.0,
           "m": 1000.0, "in": 25.4, "inch": 25.4, "inches": 25.4, '"': 25.4}
MASS_KG = {"kg": 1.0, "g": 0.001, "gram": 0.001, "grams": 0.001, "lb": 0.4536, "lbs": 0.4536}
_NUM = r"(\d+(?:[.,]\d+)?)"
_COUNT = re.compile(r"\b(" + _NUM[1:-1] + "|" + "|".join(NUMBER_WORDS) + r")\s*(?:x\s*)?(?:[a-z-]+\s+)?"
                    r"(bolt holes?|holes?|teeth|tooth|knuckles?|grooves?|steps?)\b", re.I)
_THREAD = re.compile(r"\bM(\d{1,2}(?:\.\d)?)\b")
_MASS = re.compile(r"\b(under|below|less than|lighter than|<=?|over|above|more than|heavier than|>=?)\s*"
                   + _NUM + r"\s*(kg|g|grams?|lbs?)\b", re.I)
_UNIT = r"(mm|millimet(?:re|er)s?|cm|m|inch(?:es)?|in|\")(?![a-z])"
_DIMS = re.compile(_NUM + r"\s*[x×]\s*" + _NUM + r"(?:\s*[x×]\s*" + _NUM + r")?\s*" + _UNIT, re.I)
_LENGTH = re.compile(r"(?:(?:Ø|⌀|dia(?:meter)?\.?\s*)\s*)?" + _NUM + r"\s*(mm|millimet(?:re|er)s?|cm|m|inch(?:es)?|in|\")"
                     r"(?![a-z])", re.I)


@dataclass
class Constraint:
    kind: str  # material | mass | count | thread | length
    value: object
    op: str = "="
    feature: str | None = None
    use: str = "boost"  # filter | boost
    source: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def as_filter(self) -> Filter | None:
        if self.kind == "material":
            return Filter("material", "=", self.value, or_unknown=True)
        if self.kind == "mass":
            return Filter("mass_kg", self.op, self.value)
        return None


@dataclass
class ParsedText:
    text: str  # what remains for the text encoder and full-text search
    constraints: list[Constraint]

    def filters(self) -> list[Filter]:
        return [f for c in self.constraints if c.use == "filter" and (f := c.as_filter()) is not None]

    def as_dict(self) -> dict:
        return {"text": self.text, "constraints": [c.as_dict() for c in self.constraints]}


def _num(s: str) -> float:
    s = s.lower()
    return float(NUMBER_WORDS[s]) if s in NUMBER_WORDS else float(s.replace(",", "."))


def _unit(u: str) -> str:
    u = u.lower()
    return "inch" if u.startswith("inch") else ("mm" if u.startswith("millimet") else u)


def parse(query: str) -> ParsedText:
    """Constraints found in the text, and the text with them taken out."""
    found: list[Constraint] = []
    spans: list[tuple[int, int]] = []
    # Control characters (pasted text; PostgreSQL refuses NUL in a text value) read as spaces.
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in query)

    for m in _MASS.finditer(text):
        word = m.group(1).lower()
        op = "<" if word in ("under", "below", "less than", "lighter than", "<", "<=") else ">"
        unit = m.group(3).lower()
        unit = unit if unit in MASS_KG else unit.rstrip("s")
        found.append(Constraint("mass", round(_num(m.group(2)) * MASS_KG[unit], 6), op=op, use="filter",
                                source=m.group(0)))
        spans.append(m.span())
    for m in _THREAD.finditer(text):
        found.append(Constraint("thread", float(m.group(1)), source=m.group(0)))
    for m in _COUNT.finditer(text):
        noun = m.group(2).lower()
        feature = COUNTABLE.get(noun) or COUNTABLE.get(noun.rstrip("s"))
        if feature:
            found.append(Constraint("count", int(_num(m.group(1))), feature=feature, source=m.group(0)))
            # keep the noun for the encoder ("holes" says something about the shape), drop the number
            spans.append((m.start(1), m.end(1)))
    for m in _DIMS.finditer(text):
        unit = _unit(m.group(4))
        for g in (1, 2, 3):
            if m.group(g):
                found.append(Constraint("length", round(_num(m.group(g)) * UNIT_MM[unit], 3), source=m.group(0)))
        spans.append(m.span())
    for m in _LENGTH.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        unit = _unit(m.group(2))
        found.append(Constraint("length", round(_num(m.group(1)) * UNIT_MM[unit], 3), source=m.group(0)))
        spans.append(m.span())
    words = re.findall(r"[A-Za-z]+(?:\s+steel)?", text)
    for w in sorted(set(words), key=len, reverse=True):
        canon = materials.canonical(w)
        if canon in materials.DENSITY and not any(c.kind == "material" for c in found):
            found.append(Constraint("material", canon, use="filter", source=w))
            for m in re.finditer(re.escape(w), text):
                spans.append(m.span())
    rest = list(text)
    for a, b in spans:
        for i in range(a, b):
            rest[i] = " "
    remaining = re.sub(r"\s+", " ", "".join(rest)).strip(" ,;")
    remaining = re.sub(r"\b(with|of|in|and|made|,)\s*$", "", remaining).strip()
    return ParsedText(remaining or text.strip(), found)
