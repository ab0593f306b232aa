"""The battery's part of one ``flow`` entry (PROTOCOL.md section 7.1)."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.ledger import kinds
from sidecar.ledger.etp import Entry

UNKNOWN_SERIAL = ""


@dataclass(frozen=True, slots=True)
class Point:
    """One flow as the battery figures see it: energies in mWh, SoC in ppm.

    ``counted`` is False for estimated flows and flows across a measurement gap:
    their energy is reported beside the measured figures (PROTOCOL.md 7.1,
    "Quality"). ``measured`` is True only for a measured flow without a gap: a
    reconciled flow carries corrections of earlier intervals, so only measured
    flows make up the stretches the estimators use.
    """

    seq: int
    id: bytes
    start: int
    end: int
    bat_in: int
    bat_out: int
    soc: int | None
    counted: bool
    measured: bool
    serial: str


def point(entry: Entry) -> Point | None:
    """The battery's part of ``entry``; None for entries that are not flows."""
    content = entry.content
    if content.get("kind") != kinds.FLOW:
        return None
    balance = content["balance"]
    assert isinstance(balance, dict)  # guaranteed by the schema check
    bat_in, bat_out = balance["bat_in"], balance["bat_out"]
    start, end = content["start"], content["end"]
    soc = content.get("soc")
    serial = content.get("serial", UNKNOWN_SERIAL)
    assert isinstance(bat_in, int)
    assert isinstance(bat_out, int)
    assert isinstance(start, int)
    assert isinstance(end, int)
    assert soc is None or isinstance(soc, int)
    assert isinstance(serial, str)
    quality = content.get("quality")
    gap = "gap" in content
    counted = quality != "estimated" and not gap
    measured = quality is None and not gap
    return Point(
        entry.seq,
        entry.id,
        start,
        end,
        bat_in,
        bat_out,
        soc,
        counted,
        measured,
        serial,
    )
