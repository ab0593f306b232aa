"""Today's origin figures for one flat and the building, kept up to date.

:class:`Today` holds a tracker and reads only the entries written since it last
looked, so answering costs the new entries and the hourly allocation, not the whole
ledger. "Today" is the local day of the building's time zone.
"""

from __future__ import annotations

import sqlite3

from sidecar.apps.origin import issue, model
from sidecar.apps.origin.hourly import Tracker
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.kinds import periods
from sidecar.storage import origin_reads, store


class Today:
    """The figures of the day containing a moment, from a ledger database."""

    def __init__(self, tz: str) -> None:
        self.tracker = Tracker(tz)
        self._settled = model.Settled()
        # Figures of the hours before ``_settled.until`` (they no longer change).
        self._done: dict[tuple[bytes, int], model.FlatHour] = {}

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Take the entries written since the last call.

        The first time, a flat's history comes from its hourly rollups and only the
        flows after the last of them are read: the same hours, at a fraction of
        the reading.
        """
        for number, aid, _key in store.authors(conn):
            flat = self.tracker.flats.get(aid)
            if flat is None:
                first = origin_reads.first_flow_row(conn, number)
                if first is not None:
                    self.tracker.locate(store.load_entry(aid, first))
                for row in origin_reads.hourly_rows(conn, number):
                    self.tracker.add(store.load_entry(aid, row))
                flat = self.tracker.flats.get(aid)
            after = 0 if flat is None else flat.last_seq
            for row in origin_reads.origin_rows(conn, number, after):
                self.tracker.add(store.load_entry(aid, row))

    def figures(self, own: bytes, now_ms: int) -> JsonObject:
        """The day's totals (Wh) for the flat ``own`` and for the building."""
        tz = self.tracker.tz
        start = periods.floor(2, now_ms, tz)
        end = periods.following(2, now_ms, tz)
        figures, settled = model.compute_from(
            self.tracker.flats, self._settled, settle=issue.final_until(self.tracker)
        )
        self._done = {
            key: item
            for key, item in (*self._done.items(), *figures.items())
            if start <= key[1] < settled.until
        }
        self._settled = settled
        hours = [
            *self._done.values(),
            *(
                item
                for key, item in figures.items()
                if settled.until <= key[1] and start <= key[1] < end
            ),
        ]
        return {
            "tz": tz,
            "day_start": start,
            "flat": _totals(model.summarize(hours, authors={own})),
            "building": _totals(model.summarize(hours)),
        }


def _totals(summary: model.Summary) -> JsonObject:
    consumed, renewable = summary.energy(model.CONSUMPTION)
    result: JsonObject = {
        "consumed_wh": consumed // 1000,
        "renewable_wh": renewable // 1000,
        "renewable_ppm": renewable * 1_000_000 // consumed if consumed else 0,
    }
    for source in model.SOURCES:
        mwh, ren = summary.energy(model.CONSUMPTION, source)
        result[f"{source}_wh"] = mwh // 1000
        result[f"{source}_ren_wh"] = ren // 1000
    exported, exported_ren = summary.energy(model.EXPORT_GRID)
    to_neighbours, to_neighbours_ren = summary.energy(model.EXPORT_NEIGHBOURS)
    result["exported_wh"] = (exported + to_neighbours) // 1000
    result["exported_ren_wh"] = (exported_ren + to_neighbours_ren) // 1000
    result["to_neighbours_wh"] = to_neighbours // 1000
    return result
