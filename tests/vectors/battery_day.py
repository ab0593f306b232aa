"""The ``battery_day`` vectors (PROTOCOL.md 7.12), written to ``battery_day.json``.

Written with the other vector files by ``python -m tests.vectors.generate``: two signed
entries whose bodies hold (the second refers to the first, as the next day of the same
battery does) and bodies each refused for one reason. The keys are the published test
keys of :mod:`tests.vectors.generate`; signatures are deterministic.
"""

from __future__ import annotations

from typing import Any

from sidecar.ledger import etp
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.canonical import MAX_INT, JsonObject, JsonValue
from sidecar.ledger.schema import BodyError

BUILDING = "bldg-01"
DAY_MS = 86_400_000
# 2026-06-21 00:00 Asia/Tokyo: the day's bounds in the building's zone.
START = 1_781_881_200_000
SUMMED = {
    "charged": 5_200_000,
    "discharged": 4_700_000,
    "estimated_in": 0,
    "estimated_out": 0,
    "up_swing": 620_000,
    "up_energy": 5_100_000,
    "ups": 1,
    "down_swing": 560_000,
    "down_energy": 4_600_000,
    "downs": 1,
    "rest_drop": -2_000,
    "rest_soc_ms": 36_000_000_000,
    "rest_ms": 36_000_000,
    "rests": 2,
}


def body(day: int, **members: JsonValue) -> JsonObject:
    """The ``battery_day`` body of day ``day`` after START, with ``members`` changed."""
    start = START + day * DAY_MS
    content: JsonObject = {
        "v": 1,
        "kind": BATTERY_DAY,
        "building": BUILDING,
        "ts": start + DAY_MS + 60_000,
        "start": start,
        "end": start + DAY_MS,
        "first_seq": 1 + day * 1440,
        "soc_step": 1_000,
        **SUMMED,
    }
    content.update(members)
    return content


def _without(name: str) -> JsonObject:
    content = body(0)
    del content[name]
    return content


# (why, body, refs, reason): each breaks exactly one rule of section 7.12.
_INVALID: list[tuple[str, JsonObject, int, str]] = [
    ("refers to two entries", body(0), 2, "bad_refs"),
    ("a sum is missing", _without("charged"), 0, "missing_member"),
    ("soc_step is missing", _without("soc_step"), 0, "missing_member"),
    ("an unknown member", body(0, extra=1), 0, "unknown_member"),
    ("end is not after start", body(0, end=START), 0, "bad_member"),
    ("the day has not closed by ts", body(0, ts=START + DAY_MS - 1), 0, "bad_member"),
    ("first_seq is 0", body(0, first_seq=0), 0, "bad_member"),
    ("soc_step is 0", body(0, soc_step=0), 0, "bad_member"),
    ("soc_step above 1 000 000", body(0, soc_step=1_000_001), 0, "bad_member"),
    ("a negative unsigned sum", body(0, charged=-1), 0, "bad_member"),
    ("a sum beyond 2^53-1", body(0, discharged=MAX_INT + 1), 0, "bad_member"),
    ("a sum that is a string", body(0, ups="1"), 0, "bad_member"),
    ("rest_drop below -(2^53-1)", body(0, rest_drop=-MAX_INT - 1), 0, "bad_member"),
    ("an empty serial", body(0, serial=""), 0, "bad_member"),
    ("a serial of 65 characters", body(0, serial="S" * 65), 0, "bad_member"),
    ("soh above 1 000 000", body(0, soh=1_000_001), 0, "bad_member"),
    ("soc_min without soc_max", body(0, soc_min=100_000), 0, "missing_member"),
    ("soc_max without soc_min", body(0, soc_max=100_000), 0, "missing_member"),
    (
        "soc_min above soc_max",
        body(0, soc_min=900_000, soc_max=100_000),
        0,
        "bad_member",
    ),
    ("negative anomalies", body(0, anomalies=-1), 0, "bad_member"),
]


def vectors() -> dict[str, Any]:
    """Valid entries and invalid bodies with their reasons."""
    from tests.vectors.generate import KEY

    first = etp.make_entry(KEY, 1441, b"\x11" * 32, (), body(1), deterministic=True)
    full = body(
        2,
        serial="LVPP-101-BAT",
        soc_min=120_000,
        soc_max=950_000,
        soh=985_000,
        anomalies=1,
        rest_drop=3_000,
    )
    second = etp.make_entry(KEY, 2881, first.id, (first.id,), full, deterministic=True)
    valid = [
        {"why": "the required members only", "entry": etp.entry_to_wire(first)},
        {
            "why": "every optional member, referring to the previous day",
            "entry": etp.entry_to_wire(second),
        },
    ]
    invalid: list[JsonValue] = []
    for why, content, refs, reason in _INVALID:
        try:
            ledger_kinds.check_entry_body(content, 1, refs)
        except BodyError as err:
            if err.reason != reason:
                raise AssertionError(f"{why}: refused as {err.reason}") from err
        else:
            raise AssertionError(f"{why}: not refused")
        invalid.append({"why": why, "body": content, "refs": refs, "reason": reason})
    return {
        "description": "battery_day (PROTOCOL.md 7.12): valid signed entries, then "
        "bodies each refused with its reason (refs is how many entries it refers to)",
        "public_key": KEY.public_key.hex(),
        "valid": valid,
        "invalid": invalid,
    }
