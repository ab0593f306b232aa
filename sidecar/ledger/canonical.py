"""Canonical JSON: the single byte form of every signed body (PROTOCOL.md sec. 3)."""

from __future__ import annotations

import json
import re
from typing import Final

from sidecar.ledger.errors import InvalidData

type JsonValue = int | str | list[JsonValue] | dict[str, JsonValue]
type JsonObject = dict[str, JsonValue]

MAX_INT: Final = 2**53 - 1
MAX_BODY_BYTES: Final = 16_384
MAX_DEPTH: Final = 8
_KEY: Final = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
# One encoder for all calls: json.dumps with options builds a new one every time.
_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
)


class CanonicalError(InvalidData):
    """Bytes or a value that canonical JSON does not allow."""


def encode(body: JsonObject) -> bytes:
    r"""Canonical bytes of a body whose value types are already known to be valid.

    Bodies built by this node are typed as :data:`JsonObject`, so the type checker has
    already excluded floats, booleans and null; foreign values go through
    :func:`encode_checked`. Python's encoder with these options writes exactly the
    escapes the protocol prescribes (short forms, lowercase ``\u00xx``, else UTF-8).
    """
    text = _ENCODER.encode(body)
    try:
        return text.encode()
    except UnicodeEncodeError as err:
        raise CanonicalError(
            "lone_surrogate", "a string holds an unpaired surrogate"
        ) from err


def encode_checked(value: object) -> bytes:
    """Validate a foreign value (e.g. parsed from the exchange format) and encode it."""
    if not isinstance(value, dict):
        raise CanonicalError("not_object", "a body must be a JSON object")
    _check(value, 1)
    data = encode(value)
    if len(data) > MAX_BODY_BYTES:
        raise CanonicalError(
            "too_large", f"{len(data)} bytes, at most {MAX_BODY_BYTES}"
        )
    return data


def decode(data: bytes) -> JsonObject:
    """Parse body bytes, accepting them only if they are exactly canonical."""
    if len(data) > MAX_BODY_BYTES:
        raise CanonicalError(
            "too_large", f"{len(data)} bytes, at most {MAX_BODY_BYTES}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CanonicalError("not_utf8", str(err)) from err
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except CanonicalError:
        raise
    except ValueError as err:
        raise CanonicalError("not_json", str(err)) from err
    if not isinstance(value, dict):
        raise CanonicalError("not_object", "a body must be a JSON object")
    _check(value, 1)
    if encode(value) != data:
        raise CanonicalError(
            "not_canonical", "bytes differ from the canonical encoding"
        )
    return value


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalError("duplicate_key", f"key {key!r} appears twice")
            seen.add(key)
    return result


def _no_float(text: str) -> object:
    raise CanonicalError("float", f"number {text} is not an integer")


def _no_constant(text: str) -> object:
    raise CanonicalError("float", f"{text} is not allowed")


def _check(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalError("too_deep", f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool):
        raise CanonicalError("boolean", "true and false are not allowed")
    if isinstance(value, int):
        if -MAX_INT <= value <= MAX_INT:
            return
        raise CanonicalError("int_range", f"{value} is outside ±(2^53-1)")
    if isinstance(value, str):
        return
    if value is None:
        raise CanonicalError("null", "null is not allowed")
    if isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.match(key):
                raise CanonicalError(
                    "bad_name", f"key {key!r} is not [a-z][a-z0-9_]{{0,31}}"
                )
            _check(item, depth + 1)
        return
    if isinstance(value, float):
        raise CanonicalError("float", f"number {value!r} is not an integer")
    raise CanonicalError("bad_type", f"{type(value).__name__} is not a JSON value")
