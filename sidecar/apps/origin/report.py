"""Origin figures per flat and for the building, by hour or by day of the time zone.

One row per flat (and one for the building) per period: energy consumed from each
source and exported, each with its renewable part, in whole Wh rounded down from
the exact mWh sums (so a building row is the sum of its flats' exact figures, and
may be a few Wh more than the sum of their rounded rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sidecar.apps.origin import model
from sidecar.apps.origin.certificates import local_time
from sidecar.apps.origin.hourly import Flat
from sidecar.apps.origin.model import FlatHour
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.kinds import periods

BUILDING: Final = "building"
LEVELS: Final = {"hour": 1, "day": 2}
COLUMNS: Final = (
    "period_start",
    "flat",
    "consumed_wh",
    "consumed_ren_wh",
    *(f"{source}_{kind}" for source in model.SOURCES for kind in ("wh", "ren_wh")),
    "exported_wh",
    "exported_ren_wh",
    "to_neighbours_wh",
    "to_neighbours_ren_wh",
    "charged_wh",
    "charged_ren_wh",
    "discharged_wh",
    "discharged_ren_wh",
    "losses_wh",
    "losses_ren_wh",
)


def rows(
    figures: Mapping[tuple[bytes, int], FlatHour],
    flats: Mapping[bytes, Flat],
    tz: str,
    *,
    by: str,
    start: int,
    end: int,
) -> list[JsonObject]:
    """Rows of the periods starting in [start, end): the flats, then the building."""
    level = LEVELS[by]
    groups: dict[tuple[int, str], model.Summary] = {}
    for (author, hour), item in sorted(figures.items()):
        period = periods.floor(level, hour, tz)
        if not start <= period < end:
            continue
        name = flats[author].flat or author.hex()[:16]
        for key in ((period, name), (period, BUILDING)):
            groups.setdefault(key, model.Summary()).add(item)
    return [
        _row(local_time(period, tz), name, summary)
        for (period, name), summary in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == BUILDING, kv[0][1])
        )
    ]


def _row(period: str, name: str, summary: model.Summary) -> JsonObject:
    consumed = summary.energy(model.CONSUMPTION)
    row: JsonObject = {
        "period_start": period,
        "flat": name,
        "consumed_wh": consumed[0] // 1000,
        "consumed_ren_wh": consumed[1] // 1000,
    }
    for source in model.SOURCES:
        mwh, ren = summary.energy(model.CONSUMPTION, source)
        row[f"{source}_wh"] = mwh // 1000
        row[f"{source}_ren_wh"] = ren // 1000
    grid = summary.energy(model.EXPORT_GRID)
    neighbours = summary.energy(model.EXPORT_NEIGHBOURS)
    row["exported_wh"] = (grid[0] + neighbours[0]) // 1000
    row["exported_ren_wh"] = (grid[1] + neighbours[1]) // 1000
    row["to_neighbours_wh"] = neighbours[0] // 1000
    row["to_neighbours_ren_wh"] = neighbours[1] // 1000
    storage = summary.storage
    for column, key in (
        ("charged", "charge"),
        ("discharged", "discharge"),
        ("losses", "loss"),
    ):
        row[f"{column}_wh"] = storage.get(key, 0) // 1000
        row[f"{column}_ren_wh"] = storage.get(f"{key}_ren", 0) // 1000
    return row
