"""Reading a node's flows back and checking them against the meters' counters."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from devkit.node_db import Body, body, read_rows

# balance member → the sample's counter it must add up to
BALANCE_COUNTERS = {
    "pv": "pv_wh",
    "grid_in": "grid_in_wh",
    "grid_out": "grid_out_wh",
    "bat_in": "battery_in_wh",
    "bat_out": "battery_out_wh",
    "home": "home_wh",
}


def own_flows(db: Path, author: bytes | None = None) -> list[Body]:
    """The ``flow`` bodies of ``author`` (default: of every author) in feed order."""
    if author is None:
        rows = read_rows(
            db, "SELECT body FROM entries WHERE kind = 'flow' ORDER BY seq"
        )
    else:
        rows = read_rows(
            db,
            "SELECT e.body FROM entries e JOIN authors a ON a.no = e.author "
            "WHERE a.id = ? AND e.kind = 'flow' ORDER BY e.seq",
            (author,),
        )
    return [body(data) for (data,) in rows]


def overlaps_and_holes(flows: list[Body]) -> list[str]:
    """Every place where a flow does not start where the one before it ended."""
    found = []
    for before, after in pairwise(flows):
        if after["start"] < before["end"]:
            found.append(f"overlap {after['start']} < {before['end']}")
        elif after["start"] > before["end"]:
            found.append(f"hole {before['end']}..{after['start']}")
    return found


def totals_mwh(flows: list[Body]) -> dict[str, int]:
    """Each balance total, and ``living``, summed over the flows (mWh)."""
    sums = dict.fromkeys([*BALANCE_COUNTERS, "living"], 0)
    for flow in flows:
        for key in BALANCE_COUNTERS:
            sums[key] += flow["balance"][key]
        sums["living"] += flow.get("living", 0)
    return sums
