"""Checking JSON values from a control API or a scenario: one message per mistake."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class BadRequestError(ValueError):
    """Input the simulator cannot act on; the message goes back to the caller."""


def number(body: Mapping[str, Any], key: str, default: float | None = None) -> float:
    """``body[key]`` as a finite number, or ``default`` when it is missing."""
    value = body.get(key, default)
    if value is None:
        raise BadRequestError(f"{key!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{key!r} must be a number")
    if not math.isfinite(value):
        raise BadRequestError(f"{key!r} must be finite")
    return float(value)


def integer(body: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """``body[key]`` as a whole number."""
    value = number(body, key, default)
    if not value.is_integer():
        raise BadRequestError(f"{key!r} must be a whole number")
    return int(value)


def flag(body: Mapping[str, Any], key: str) -> bool:
    """``body[key]`` as true or false."""
    value = body.get(key)
    if not isinstance(value, bool):
        raise BadRequestError(f"{key!r} must be true or false")
    return value


def text(body: Mapping[str, Any], key: str) -> str:
    """``body[key]`` as a string."""
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequestError(f"{key!r} must be a string")
    return value


def optional_text(body: Mapping[str, Any], key: str) -> str | None:
    """``body[key]`` as a string, or ``None`` when missing or null."""
    return None if body.get(key) is None else text(body, key)
