"""The checks every body schema is built from: members present, integers, strings, ids.

Each raises :class:`BodyError` with the reason codes PROTOCOL.md and the test vectors
use, so a refusal reads the same whichever kind it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.errors import InvalidData

_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")


class BodyError(InvalidData):
    """A body whose members break its kind's schema."""


def exact_keys(
    obj: JsonObject, allowed: frozenset[str], required: Iterable[str]
) -> None:
    """Every required member present, nothing beyond the allowed ones."""
    for key in sorted(required):
        if key not in obj:
            raise BodyError("missing_member", f"{key!r} is required")
    for key in obj:
        if key not in allowed:
            raise BodyError("unknown_member", f"{key!r} is not a member of this kind")


def integer(obj: JsonObject, key: str, low: int, high: int) -> int:
    """An integer member within ``low``..``high``."""
    value = obj.get(key)
    # type(), not isinstance(): JSON's true and false are Python ints too.
    if type(value) is not int or not low <= value <= high:
        raise BodyError("bad_member", f"{key!r} must be an integer in {low}..{high}")
    return value


def text(obj: JsonObject, key: str, max_len: int) -> str:
    """A string member of 1..``max_len`` characters."""
    value = obj.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise BodyError(
            "bad_member", f"{key!r} must be a string of 1-{max_len} characters"
        )
    return value


def hex32(obj: JsonObject, key: str) -> str:
    """A 32-byte id member in lowercase hex."""
    value = obj.get(key)
    if not isinstance(value, str) or not _HEX32.match(value):
        raise BodyError("bad_member", f"{key!r} must be 64 lowercase hex digits")
    return value


def member_object(obj: JsonObject, key: str) -> dict[str, JsonValue]:
    """An object member."""
    value = obj.get(key)
    if not isinstance(value, dict):
        raise BodyError("bad_member", f"{key!r} must be an object")
    return value
