"""A closed day of a battery as a ``battery_day`` body, and back (PROTOCOL.md 7.12).

The node writes one per battery per closed local day (:func:`due`); the tracker takes
a summary in place of whatever it summed from that day's flows (:func:`day_of`), so the
figures of a summarised day are the same whether its flows are still stored or not.
"""

from __future__ import annotations

from typing import Final

from sidecar.apps.battery.figures import Day
from sidecar.apps.battery.segments import Kind
from sidecar.ledger.battery_day import SUMS
from sidecar.ledger.canonical import JsonObject

# A summary stands in for its segments as their evidence, one per kind it counts.
_COUNTS: Final = ((Kind.CHARGE, "ups"), (Kind.DISCHARGE, "downs"), (Kind.REST, "rests"))


def body(
    serial: str | None,
    day: Day,
    end: int,
    *,
    first_seq: int,
    soc_step: int,
    soh: int | None,
    anomalies: int,
) -> JsonObject:
    """The members of the ``battery_day`` entry of ``day`` (which ends at ``end``)."""
    content: JsonObject = {"start": day.start, "end": end}
    if serial is not None:
        content["serial"] = serial
    content.update({name: getattr(day, name) for name in SUMS})
    content["first_seq"] = first_seq
    content["soc_step"] = soc_step
    if day.soc_min is not None and day.soc_max is not None:
        content["soc_min"], content["soc_max"] = day.soc_min, day.soc_max
    if soh is not None:
        content["soh"] = soh
    content["anomalies"] = anomalies
    return content


def _int(content: JsonObject, name: str) -> int:
    value = content[name]
    assert isinstance(value, int)  # guaranteed by the schema check
    return value


def day_of(content: JsonObject, ref: tuple[int, bytes]) -> Day:
    """The :class:`Day` a summary states; ``ref`` is its entry's (seq, id)."""
    day = Day(_int(content, "start"))
    for name in SUMS:
        setattr(day, name, _int(content, name))
    if "soc_min" in content:
        day.soc_min, day.soc_max = _int(content, "soc_min"), _int(content, "soc_max")
    day.evidence = [(kind, ref, ref) for kind, count in _COUNTS if getattr(day, count)]
    return day
