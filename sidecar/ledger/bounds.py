"""Bounds on numbers and nesting that cross a boundary, checked before any arithmetic.

A JSON number may be any size: an integer beyond the range of a float raises when it
is converted, and a finite but huge float overflows later sums. Every number taken
from Home Assistant or a peer passes :func:`number` or :func:`position` first, and
every frame passes :func:`loads` (a nesting bound before parsing) — so what is out of
bounds becomes a counted rejection with a reason, never an exception in a handler.
PROTOCOL.md section 12.10 states the bounds per field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Final

from sidecar.ledger.canonical import MAX_INT
from sidecar.ledger.errors import InvalidData

# Deeper than any message or frame the protocol defines (entry bodies nest at most 8).
MAX_FRAME_DEPTH: Final = 32
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_SQUARE: Final = str.maketrans("{}", "[]")


class OutOfBounds(InvalidData):
    """A value outside its stated bounds (``not_a_number``, ``out_of_range``)."""


class TooDeep(InvalidData):
    """A frame nested deeper than :data:`MAX_FRAME_DEPTH`."""


def number(value: object, low: float, high: float, name: str) -> float:
    """``value`` as a float if it is a finite JSON number within ``low..high``.

    Integers are compared before conversion (Python compares int and float
    exactly), so one beyond the float range is ``out_of_range``, not an OverflowError.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OutOfBounds("not_a_number", f"{name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise OutOfBounds("not_a_number", f"{name} is not finite")
    if not low <= value <= high:
        raise OutOfBounds("out_of_range", f"{name} is outside {low:g}..{high:g}")
    return float(value)


def position(value: object, name: str, low: int = 0, high: int = MAX_INT) -> int:
    """An integer count or position (seq, size, limit) within ``low..high``.

    Anything that is not an integer is ``malformed``; an integer out of range is
    ``out_of_range`` (SQLite stores at most 64-bit integers, the ledger 2^53 − 1).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise OutOfBounds("malformed", f"{name} is not an integer")
    if not low <= value <= high:
        raise OutOfBounds("out_of_range", f"{name} is outside {low}..{high}")
    return value


def check_depth(text: str, limit: int = MAX_FRAME_DEPTH) -> None:
    """Refuse ``text`` if its arrays and objects nest deeper than ``limit``.

    Runs before ``json.loads``, whose recursion would otherwise be bounded only by
    the interpreter's stack. Brackets inside strings do not count. Each pass removes
    the innermost level (in C, a few passes over the frame at most); brackets that
    do not pair up are ``malformed``.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).translate(_SQUARE)
    for _ in range(limit):
        if not brackets:
            return
        inner = brackets.replace("[]", "")
        if inner == brackets:
            raise InvalidData("malformed", "brackets do not pair up")
        brackets = inner
    if brackets:
        raise TooDeep("too_deep", f"nested deeper than {limit} levels")


def loads(text: str, limit: int = MAX_FRAME_DEPTH) -> object:
    """Parse a frame: ``too_deep`` past ``limit`` levels, ``malformed`` if not JSON."""
    check_depth(text, limit)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise InvalidData("malformed", "not JSON") from err
