"""The incremental updater: a battery's figures, one new entry at a time.

:class:`Tracker` takes a flat's entries in seq order and keeps, per battery (per
serial), the segmenter, one :class:`~.figures.Day` per local day and the anomalies
found as days close. Adding entries one at a time and adding them all at once give
the same state, because there is only one way in (:meth:`Tracker.add`);
:func:`recompute` is that fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sidecar.apps.battery.anomalies import (
    Anomaly,
    Thresholds,
    judge,
    reported,
    trend,
)
from sidecar.apps.battery.figures import Day, Figures, window
from sidecar.apps.battery.points import UNKNOWN_SERIAL, Point, point
from sidecar.apps.battery.segments import Segmenter
from sidecar.apps.battery.summary import day_of
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.battery_state import BATTERY_STATE
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.kinds import periods

# The SoC step assumed until two flows show a smaller one: SunSpec's tenths of a %.
DEFAULT_RESOLUTION_PPM: Final = 1_000


@dataclass(slots=True)
class Battery:
    """One battery's running state."""

    serial: str
    segmenter: Segmenter = field(default_factory=Segmenter)
    days: list[Day] = field(default_factory=list)  # closed days, oldest first
    today: Day | None = None
    today_end: int = 0
    capacities: list[int | None] = field(default_factory=list)  # per closed day
    anomalies: list[Anomaly] = field(default_factory=list)
    last_soc: int | None = None
    resolution_ppm: int | None = None
    first_seq: int = 0
    last_seq: int = 0
    # The newest battery_state: (seq, id, body).
    state: tuple[int, bytes, JsonObject] | None = None
    # The newest closed day and the anomalies its close found; whether a
    # battery_day entry (PROTOCOL.md 7.12) stands for it.
    last_close: tuple[Day, list[Anomaly]] | None = None
    summarised: bool = False
    summary_id: bytes | None = None  # the newest battery_day's id
    summaries: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    """What a battery's entries say, for the API, Home Assistant and the passport.

    ``initial_capacity_mwh`` is the first estimate with a full recent window; the
    estimated SoH is the latest estimate against it (ppm). ``fade_mwh_per_year``
    is the trend's slope, + losing capacity. ``reported_soh_ppm`` and
    ``reported_cycles`` are the battery's own, from its newest ``battery_state``.
    ``active`` holds the anomalies of the latest closed day and after.
    """

    serial: str
    first_seq: int
    last_seq: int
    days: int
    lifetime: Figures
    recent: Figures
    initial_capacity_mwh: int | None
    estimated_soh_ppm: int | None
    fade_mwh_per_year: int | None
    reported_soh_ppm: int | None
    reported_cycles: int | None
    active: tuple[Anomaly, ...]
    anomalies: tuple[Anomaly, ...]


class Tracker:
    """Every battery of one flat, kept up to date entry by entry."""

    def __init__(self, tz: str, limits: Thresholds | None = None) -> None:
        self.tz = tz
        self.limits = limits or Thresholds()
        self.batteries: dict[str, Battery] = {}

    def add(self, entry: Entry) -> list[Anomaly]:
        """Take the flat's next entry; return the anomalies of any day it closed."""
        if entry.kind == BATTERY_STATE:
            return self._state(entry)
        if entry.kind == BATTERY_DAY:
            return self._summary(entry)
        flow = point(entry)
        if flow is None:
            return []
        battery = self._battery(flow.serial, flow.seq)
        battery.last_seq = flow.seq
        self._learn_resolution(battery, flow)
        segment = battery.segmenter.add(flow)
        if segment is not None and battery.today is not None:
            battery.today.take(segment)
        found: list[Anomaly] = []
        if battery.today is None or flow.end > battery.today_end:
            found = self._close_day(battery)
            start = periods.floor(2, flow.end - 1, self.tz)
            battery.today = Day(start)
            battery.today_end = periods.following(2, start, self.tz)
        day = battery.today
        if flow.soc is not None:
            day.soc_min = (
                flow.soc if day.soc_min is None else min(day.soc_min, flow.soc)
            )
            day.soc_max = (
                flow.soc if day.soc_max is None else max(day.soc_max, flow.soc)
            )
        if flow.counted:
            day.charged += flow.bat_in
            day.discharged += flow.bat_out
        else:
            day.estimated_in += flow.bat_in
            day.estimated_out += flow.bat_out
        return found

    def _battery(self, serial: str, seq: int) -> Battery:
        battery = self.batteries.get(serial)
        if battery is None:
            battery = self.batteries[serial] = Battery(serial, first_seq=seq)
        return battery

    def _state(self, entry: Entry) -> list[Anomaly]:
        """A battery_state: its anomalies against the one before, once per day."""
        serial = entry.content.get("serial", UNKNOWN_SERIAL)
        assert isinstance(serial, str)  # guaranteed by the schema check
        battery = self._battery(serial, entry.seq)
        battery.last_seq = entry.seq
        now = (entry.seq, entry.id, entry.content)
        day_start = periods.floor(2, entry.ts, self.tz)
        seen = {(a.kind, a.day_start) for a in battery.anomalies[-16:]}
        found = [
            anomaly
            for anomaly in reported(battery.state, now, day_start, self.limits)
            if (anomaly.kind, anomaly.day_start) not in seen
        ]
        battery.state = now
        battery.anomalies.extend(found)
        return found

    def _summary(self, entry: Entry) -> list[Anomaly]:
        """A ``battery_day``: it takes the place of whatever the flows gave that day.

        The day closed from flows (all of them, some, or none left by retention) is
        withdrawn with the anomalies its close found, and the summary closes it
        instead, so every node states the same figures for it.
        """
        content = entry.content
        serial = content.get("serial", UNKNOWN_SERIAL)
        assert isinstance(serial, str)  # guaranteed by the schema check
        battery = self._battery(serial, entry.seq)
        battery.last_seq = entry.seq
        day = day_of(content, (entry.seq, entry.id))
        first, step = content["first_seq"], content["soc_step"]
        assert isinstance(first, int)
        assert isinstance(step, int)
        battery.first_seq = min(battery.first_seq, first)
        if battery.resolution_ppm is None or step < battery.resolution_ppm:
            battery.resolution_ppm = step
        if battery.today is not None and battery.today.start <= day.start:
            battery.today = None  # flows of that day before the summary: superseded
        elif battery.days and battery.days[-1].start == day.start:
            self._withdraw(battery)
        elif battery.days and battery.days[-1].start > day.start:
            return []  # a summary of a day already past: nothing to replace
        battery.today, saved = day, battery.today
        found = self._close_day(battery)
        battery.today = saved
        battery.summarised = True
        battery.summary_id = entry.id
        battery.summaries.append((entry.seq, entry.id))
        return found

    def _withdraw(self, battery: Battery) -> None:
        """Undo the newest close: its day, capacity estimate and anomalies."""
        battery.days.pop()
        battery.capacities.pop()
        if battery.last_close is not None:
            for anomaly in battery.last_close[1]:
                battery.anomalies.remove(anomaly)
        battery.last_close = None

    def _learn_resolution(self, battery: Battery, flow: Point) -> None:
        if flow.soc is None:
            return
        if battery.last_soc is not None and flow.soc != battery.last_soc:
            step = abs(flow.soc - battery.last_soc)
            if battery.resolution_ppm is None or step < battery.resolution_ppm:
                battery.resolution_ppm = step
        battery.last_soc = flow.soc

    def _close_day(self, battery: Battery) -> list[Anomaly]:
        if battery.today is None:
            return []
        battery.days.append(battery.today)
        battery.today = None
        step = resolution(battery)
        recent = battery.days[-self.limits.recent_days :]
        estimate = None
        if len(recent) == self.limits.recent_days:
            estimate = window(recent, step).capacity_mwh
        battery.capacities.append(estimate)
        found = judge(battery.days, battery.capacities, step, self.limits)
        battery.anomalies.extend(found)
        battery.last_close = (battery.days[-1], found)
        battery.summarised = False
        return found

    def report(self, serial: str) -> Report:
        """The figures of battery ``serial`` over the days closed so far."""
        battery = self.batteries[serial]
        step = resolution(battery)
        days = battery.days
        known = [c for c in battery.capacities if c is not None]
        initial = known[0] if known else None
        latest = known[-1] if known else None
        soh = None
        if initial and latest is not None:
            soh = latest * 1_000_000 // initial
        line = trend(battery.capacities)
        fade = None if line is None else int(-line[1] * 365 // 1)
        # The latest closed day and after; before any day closed, everything.
        since = days[-1].start if days else 0
        if not days and battery.today is not None:
            since = battery.today.start
        state = battery.state[2] if battery.state is not None else {}
        told_soh, cycles = state.get("soh"), state.get("cycles")
        return Report(
            serial=serial,
            first_seq=battery.first_seq,
            last_seq=battery.last_seq,
            days=len(days),
            lifetime=window(days, step),
            recent=window(days[-self.limits.recent_days :], step),
            initial_capacity_mwh=initial,
            estimated_soh_ppm=soh,
            fade_mwh_per_year=fade,
            reported_soh_ppm=told_soh if isinstance(told_soh, int) else None,
            reported_cycles=cycles if isinstance(cycles, int) else None,
            active=tuple(a for a in battery.anomalies if a.day_start >= since),
            anomalies=tuple(battery.anomalies),
        )

    def reports(self) -> list[Report]:
        """Every battery's report, by serial."""
        return [self.report(serial) for serial in sorted(self.batteries)]


def resolution(battery: Battery) -> int:
    """The SoC step of ``battery`` as its flows show it (or the default)."""
    return battery.resolution_ppm or DEFAULT_RESOLUTION_PPM


def recompute(
    entries: Iterable[Entry], tz: str, limits: Thresholds | None = None
) -> Tracker:
    """A tracker built from ``entries`` (a flat's, in seq order) from scratch."""
    tracker = Tracker(tz, limits)
    for entry in entries:
        tracker.add(entry)
    return tracker
