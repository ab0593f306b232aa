"""Rollup periods: hours, days and months of the building's time zone.

PROTOCOL.md section 7.2. A period of level 1 is a local hour, of level 2 a local day,
of level 3 a local month. A level-1 period containing instant ``t`` starts at
``t - ((t + offset(t)) mod 3 600 000)``, ``offset(t)`` being the zone's UTC offset at
``t``. A level-2 or level-3 period starts at the local wall-clock time ``00:00`` of the
day (of the 1st of the month), turned into an instant with the UTC offset in force just
before that wall time (a skipped wall time maps to the instant the clocks skipped at, a
repeated one to its first occurrence: Python's ``fold=0``, RFC 9557's "compatible").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LEVELS: Final = (1, 2, 3)
NAMES: Final = {1: "hour", 2: "day", 3: "month"}
UTC_NAME: Final = "UTC"
MINUTE_MS: Final = 60_000
_HOUR_MS: Final = 3_600_000
# Instants outside this range have no calendar date in Python (years 1..9999).
_LAST_MS: Final = 253_402_300_799_000 - 86_400_000 * 62


class ZoneError(ValueError):
    """A time zone name the IANA database does not know."""


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone of ``name`` (e.g. ``Asia/Tokyo``); raises ZoneError if unknown."""
    if not name or name.startswith(("/", ".")) or ".." in name or len(name) > 64:
        raise ZoneError(f"{name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ZoneError(f"{name!r} is not an IANA time zone name") from err


def floor(level: int, at_ms: int, tz: str = UTC_NAME) -> int:
    """The boundary that starts the level's period containing the instant ``at_ms``."""
    at_ms = min(max(at_ms, 0), _LAST_MS)
    info = zone(tz)
    local = datetime.fromtimestamp(at_ms / 1000, info)
    if level == 1:
        offset = local.utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        return at_ms - (at_ms + _ms(offset)) % _HOUR_MS
    if level == 2:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif level == 3:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"no rollup level {level}")
    return _instant(start.replace(fold=0))


def following(level: int, at_ms: int, tz: str = UTC_NAME) -> int:
    """The first boundary of the level strictly after the instant ``at_ms``."""
    start = floor(level, at_ms, tz)
    if level == 1:
        # An offset change by part of an hour moves the next hour's start.
        nxt = floor(1, start + _HOUR_MS, tz)
        return nxt if nxt > at_ms else start + _HOUR_MS
    info = zone(tz)
    local = datetime.fromtimestamp(start / 1000, info)
    if level == 2:
        day = local.date() + timedelta(days=1)
        nxt_local = datetime(day.year, day.month, day.day, tzinfo=info)
    else:
        year, month = (
            (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        )
        nxt_local = datetime(year, month, 1, tzinfo=info)
    return _instant(nxt_local)


def is_boundary(level: int, at_ms: int, tz: str = UTC_NAME) -> bool:
    """Whether ``at_ms`` is a boundary of the level in the zone."""
    return 0 <= at_ms <= _LAST_MS and floor(level, at_ms, tz) == at_ms


def _instant(local: datetime) -> int:
    return _ms(local - datetime(1970, 1, 1, tzinfo=UTC))


def _ms(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
