"""Which ``battery_day`` summaries a node owes its feed (PROTOCOL.md 7.12).

A day closes in the tracker when the first flow after it arrives; its summary is then
written once, after that flow. A node that restarted before writing it writes it
when it has rebuilt its figures.
"""

from __future__ import annotations

from sidecar.apps.battery.points import UNKNOWN_SERIAL
from sidecar.apps.battery.summary import body
from sidecar.apps.battery.tracker import Tracker, resolution
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.kinds import periods


def due(
    tracker: Tracker, asked: set[tuple[str, int]]
) -> list[tuple[JsonObject, tuple[bytes, ...]]]:
    """The summaries to write now: one per battery whose newest day closed from flows.

    Each with its refs: the id of the battery's previous summary, so the summaries
    form a hash chain that the newest one proves. ``asked`` holds the (serial, day
    start) already handed out, so a day is written once even before its summary
    comes back through the tracker.
    """
    found: list[tuple[JsonObject, tuple[bytes, ...]]] = []
    for serial in sorted(tracker.batteries):
        battery = tracker.batteries[serial]
        if battery.last_close is None or battery.summarised:
            continue
        day = battery.last_close[0]
        if (serial, day.start) in asked:
            continue
        asked.add((serial, day.start))
        state = battery.state[2] if battery.state is not None else {}
        soh = state.get("soh")
        refs = () if battery.summary_id is None else (battery.summary_id,)
        found.append(
            (
                body(
                    None if serial == UNKNOWN_SERIAL else serial,
                    day,
                    periods.following(2, day.start, tracker.tz),
                    first_seq=battery.first_seq,
                    soc_step=resolution(battery),
                    soh=soh if isinstance(soh, int) else None,
                    anomalies=sum(a.day_start == day.start for a in battery.anomalies),
                ),
                refs,
            )
        )
    return found
