"""Checks on strings from a genome before they reach Creo: names, file names, folders.

A genome is data from the library (or from someone's file); it must not be able to name a
file outside the working folder, smuggle a path, or pass anything but a plain identifier as a
parameter, dimension or feature name.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from cadfinder.errors import InputError

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")  # Creo parameter / feature names: CREOSON takes 31
DIMENSION = re.compile(r"^d[0-9]{1,5}$")  # Creo dimension symbols
MODEL_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}\.(prt|asm)$", re.I)
PART_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")
START_COMMAND = "nitro_proe_remote.bat"  # the only start script CREOSON's start_creo accepts


def name(s: str, what: str = "name") -> str:
    if not isinstance(s, str) or not NAME.match(s):
        raise InputError(f"unsafe Creo {what} {s!r}: letters, digits and _ only, at most 31, starting with a letter")
    return s


def dimension(s: str) -> str:
    if not isinstance(s, str) or not DIMENSION.match(s):
        raise InputError(f"unsafe Creo dimension symbol {s!r}: expected d<number>")
    return s


def model_file(s: str) -> str:
    if not isinstance(s, str) or not MODEL_FILE.match(s):
        raise InputError(f"unsafe Creo model file {s!r}: a plain NAME.prt or NAME.asm, no folders")
    return s


def model_stem(s: str) -> str:
    """A family table's generic: a model name without its type (what file.open's generic takes)."""
    if not isinstance(s, str) or not PART_NUMBER.match(s):
        raise InputError(f"unsafe Creo generic model name {s!r}: letters, digits, - and _ only, at most 31")
    return s


def part_number(s: str) -> str:
    if not isinstance(s, str) or not PART_NUMBER.match(s):
        raise InputError(f"part number {s!r} cannot be a Creo file name: letters, digits, - and _ only, at most 31")
    return s


def file_stem(s: str) -> str:
    """A file name without its folder or suffix, as a user types it in a save dialog: spaces and
    any letters allowed; no folder separators, nothing that names a folder."""
    if not isinstance(s, str) or not s.strip() or s.strip(".") == "" or any(c in s for c in "/\\\0"):
        raise InputError(f"{s!r} is not a plain file name (no folders, not empty)")
    return s


def number(v, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{what}: {v!r} is not a number") from None
    if not math.isfinite(x):
        raise InputError(f"{what}: {v!r} is not a finite number")
    return x


def inside(folder: str | Path, child: str) -> Path:
    """`folder/child`, refusing anything that would resolve outside `folder`."""
    base = Path(folder).resolve()
    p = (base / child).resolve()
    if base != p and base not in p.parents:
        raise InputError(f"{child!r} would be written outside {base}")
    return p
