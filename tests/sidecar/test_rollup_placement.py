"""Rollups on the clock: where a node puts them, and what ``verify`` checks of it.

PROTOCOL.md section 7.2: a level-L rollup is appended once the node's clock passed the
boundary after its range opened, before any later entry, and every entry it covers
lies inside its period ``[start, end)``. ``verify`` checks this (section 10, step 5)
with ``rollup_missing`` and ``rollup_period``; the altered copies of
``tests/vectors/feed.json`` break each rule.
"""

from __future__ import annotations

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.storage import store
from sidecar.tools.verify import verify_database
from tests.sidecar.support import DAY, HOUR, T0, Ledger, flow_content

WITNESSED: JsonObject = {"logs": [{"log": "ab" * 32, "size": 3, "root": "cd" * 32}]}


def test_a_day_rollup_after_a_silent_night_covers_a_real_period(
    ledger: Ledger,
) -> None:
    """A node silent over midnight right after an hourly rollup.

    Its next hourly rollup starts on the day before; that rollup must not make the
    day's range look opened on that day (the node signed a daily rollup whose
    ``start`` equalled its ``end``, which every reader refuses).
    """
    ledger.feed.append("witnessed", WITNESSED, T0 + 22 * HOUR + 600_000)
    ledger.feed.roll(T0 + 23 * HOUR + 100)
    morning = T0 + DAY + 6 * HOUR + 30_000
    ledger.feed.append(kinds.FLOW, flow_content(morning - 1000), morning)
    later = T0 + DAY + 7 * HOUR + 500
    ledger.feed.append(kinds.FLOW, flow_content(later - 1000), later)
    ledger.sync()
    report = verify_database(ledger.path)
    assert report.ok, [str(f) for f in report.findings]
    conn = store.connect(ledger.path, readonly=True)
    try:
        keys = [row[1] for row in store.iter_entries(conn, 1)]
    finally:
        conn.close()
    # witnessed, hour 22, day 0 (at 06:00), flow, hour 06 of day 1, flow: no second day.
    assert keys == [
        "witnessed",
        "rollup_1",
        "rollup_2",
        kinds.FLOW,
        "rollup_1",
        kinds.FLOW,
    ]


def test_verify_accepts_rollups_placed_over_days_with_restarts(ledger: Ledger) -> None:
    """Honest rollups over three days, with silences and a restart, stay OK."""
    now = T0 + 30 * 60_000
    for hour in range(3 * 24):
        if hour % 17 == 5:
            now += 5 * HOUR + 7 * 60_000  # the node was off
            ledger.reopen()
        now = ledger.flows(3, now, 20 * 60_000)
        if hour % 5 == 0:
            ledger.feed.append("witnessed", WITNESSED, now)
    ledger.feed.roll(now + DAY)
    ledger.sync()
    report = verify_database(ledger.path)
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries > 3 * 24 * 3
