"""Decide from each poll whether the grid is there, to supervise the backup.

The inverter protects the flat by itself (anti-islanding, changeover); this module only
decides what Home Assistant should believe, so that it switches the living room to the
battery, sheds loads and tells the residents at the right moments and never on a blip.

States of the grid:

- ``grid_ok``: voltage, frequency and the connection state are in band.
- ``suspect``: the latest samples are out of band but not yet for long enough.
- ``outage``: confirmed loss of the grid; the backup is wanted.
- ``restoring``: the grid is back in band but not yet for the reconnection delay; the
  backup is still wanted.
- ``unknown``: no data (before the first sample, or communication lost).

Confirmation rule (grid loss): an outage is declared at the sample where an *unbroken*
run of out-of-band samples has lasted at least ``confirm_s`` (default 0.22 s, measured
from the first to the latest bad sample) *and* counts at least ``confirm_samples``
(default 2, never fewer). One bad sample never declares an outage, and neither does a
disturbance shorter than ``confirm_s``, whatever the poll interval; a longer one that
two bad samples at least ``confirm_s`` apart see is a grid loss. With the defaults:

- polling every 0.25 s, the second bad sample (0.25 s after the first) declares it;
- polling every 0.5 s or 1 s, the second bad poll declares it;
- with the integration's confirmation read (an extra poll ``confirm_s`` after the first
  bad sample), it is declared 0.22 s after the first bad sample;
- a 0.2 s sag is never seen by two samples 0.22 s or more apart and is ignored.

Reconnection rule: the first in-band sample during an outage moves to ``restoring``; the
grid is ``grid_ok`` again once it has been *observed* in band for ``reconnect_delay_s``
in total, counting only the time between consecutive in-band samples. Any out-of-band
sample while restoring is a relapse: back to ``outage``, and the delay starts over.

Lost communication: a sample without any value is "no data". It shows as ``unknown``
but carries no evidence either way: it never declares an outage and never ends one.
The watcher remembers the state it was in (``underlying``, ``backup_wanted``); the gap
breaks a confirmation run (the run starts again at the next bad sample) and its time
does not count towards the reconnection delay.

Time is whatever monotonic clock the caller passes in seconds; this module never reads
a clock. There are no Home Assistant imports here, so the rules are testable alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from ..const import (
    DEFAULT_GRID_AREA,
    DEFAULT_NOMINAL_VOLTAGE,
    DEFAULT_RECONNECT_DELAY_S,
)


class GridState(StrEnum):
    """What the supervisor believes about the grid."""

    GRID_OK = "grid_ok"
    SUSPECT = "suspect"
    OUTAGE = "outage"
    RESTORING = "restoring"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    """What one sample says about the grid."""

    IN_BAND = "in_band"
    OUT_OF_BAND = "out_of_band"
    NO_DATA = "no_data"


# Frequency relay settings after JEAC 9701 for Japan's two synchronous areas
# (east of the Fuji river 50 Hz, west 60 Hz): (under-frequency, over-frequency).
FREQUENCY_BANDS_HZ: Final[dict[int, tuple[float, float]]] = {
    50: (48.5, 51.0),
    60: (58.8, 61.2),
}

# Poll timestamps are sums of float intervals (0.1 s is not exact in binary); without
# this, a run of exactly confirm_s or a delay of exactly reconnect_delay_s could fall
# short by a rounding error and wait one more poll.
_CLOCK_SLACK_S: Final = 1e-6
_SNAPSHOT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class GridWatchSettings:
    """Thresholds and timings; defaults after JEAC 9701 for a 100 V Japanese flat."""

    nominal_voltage_v: float = DEFAULT_NOMINAL_VOLTAGE
    area_hz: int = int(DEFAULT_GRID_AREA)
    under_voltage_pct: float = 80.0
    over_voltage_pct: float = 115.0
    confirm_s: float = 0.22
    confirm_samples: int = 2
    reconnect_delay_s: float = DEFAULT_RECONNECT_DELAY_S

    def __post_init__(self) -> None:
        """Refuse settings that would make the rules meaningless."""
        checks = (
            (self.nominal_voltage_v > 0, "nominal voltage must be positive"),
            (self.area_hz in FREQUENCY_BANDS_HZ, "frequency area must be 50 or 60 Hz"),
            (
                0 < self.under_voltage_pct < 100 < self.over_voltage_pct,
                "under-voltage must be below 100 % and over-voltage above",
            ),
            (self.confirm_s >= 0, "confirmation time must not be negative"),
            # One sample must never be enough: a single bad read is a blip.
            (self.confirm_samples >= 2, "confirmation needs at least 2 samples"),
            (self.reconnect_delay_s >= 0, "reconnection delay must not be negative"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def under_voltage_v(self) -> float:
        """The lowest voltage still in band."""
        return self.nominal_voltage_v * self.under_voltage_pct / 100

    @property
    def over_voltage_v(self) -> float:
        """The highest voltage still in band."""
        return self.nominal_voltage_v * self.over_voltage_pct / 100

    @property
    def frequency_band_hz(self) -> tuple[float, float]:
        """The lowest and highest frequency still in band."""
        return FREQUENCY_BANDS_HZ[self.area_hz]

    def judge(
        self,
        voltage_v: float | None,
        frequency_hz: float | None,
        connected: bool | None,
    ) -> Verdict:
        """Judge one sample on the values it has; limits themselves are in band.

        Any value out of band (or ``connected`` False) makes the sample out of band.
        ``connected`` is the grid-side connection state (the meter's, or the battery
        inverter's); ``None`` or NaN means the device did not say.
        """
        known = False
        if voltage_v is not None and not math.isnan(voltage_v):
            known = True
            if not self.under_voltage_v <= voltage_v <= self.over_voltage_v:
                return Verdict.OUT_OF_BAND
        if frequency_hz is not None and not math.isnan(frequency_hz):
            known = True
            low_hz, high_hz = self.frequency_band_hz
            if not low_hz <= frequency_hz <= high_hz:
                return Verdict.OUT_OF_BAND
        if connected is not None:
            known = True
            if not connected:
                return Verdict.OUT_OF_BAND
        return Verdict.IN_BAND if known else Verdict.NO_DATA


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of the underlying grid state, for the caller to act on and announce."""

    from_state: GridState
    to_state: GridState
    at: float
    outage_started_at: float | None

    @property
    def starts_outage(self) -> bool:
        """The grid loss was just confirmed: switch to backup, shed, notify."""
        return (
            self.from_state is GridState.SUSPECT and self.to_state is GridState.OUTAGE
        )

    @property
    def ends_outage(self) -> bool:
        """The grid has been stable for the reconnection delay: release the backup."""
        return (
            self.from_state is GridState.RESTORING
            and self.to_state is GridState.GRID_OK
        )

    @property
    def outage_duration_s(self) -> float | None:
        """Seconds since the outage's first bad sample, if this is about an outage."""
        if self.outage_started_at is None:
            return None
        return self.at - self.outage_started_at


class GridWatch:
    """The grid state machine, fed one sample per poll."""

    def __init__(self, settings: GridWatchSettings | None = None) -> None:
        """Start in ``unknown``; the first sample with data decides."""
        self._settings = settings or GridWatchSettings()
        self._underlying = GridState.UNKNOWN
        self._data_missing = False
        # The unbroken run of out-of-band samples being confirmed.
        self._run_started_at: float | None = None
        self._run_samples = 0
        self._outage_started_at: float | None = None
        # Restoring: in-band time observed so far, and the previous in-band sample
        # (None after a gap or a bad sample, so unwatched time never counts).
        self._in_band_s = 0.0
        self._last_in_band_at: float | None = None

    @property
    def settings(self) -> GridWatchSettings:
        """The thresholds and timings in use."""
        return self._settings

    @property
    def state(self) -> GridState:
        """The state to show: ``unknown`` while the latest sample had no data."""
        return GridState.UNKNOWN if self._data_missing else self._underlying

    @property
    def underlying(self) -> GridState:
        """The state remembered through a communication loss."""
        return self._underlying

    @property
    def backup_wanted(self) -> bool:
        """Whether the living room should be on the battery (outage or restoring)."""
        return self._underlying in (GridState.OUTAGE, GridState.RESTORING)

    @property
    def outage_started_at(self) -> float | None:
        """When the current outage's first bad sample came; ``None`` outside one."""
        return self._outage_started_at

    @property
    def reconnect_remaining_s(self) -> float | None:
        """While restoring, the in-band time still needed before ``grid_ok``."""
        if self._underlying is not GridState.RESTORING:
            return None
        return max(0.0, self._settings.reconnect_delay_s - self._in_band_s)

    def outage_duration_s(self, now: float) -> float | None:
        """How long the current outage has lasted at ``now``; ``None`` outside one."""
        if self._outage_started_at is None:
            return None
        return max(0.0, now - self._outage_started_at)

    def update(
        self,
        at: float,
        *,
        voltage_v: float | None,
        frequency_hz: float | None,
        connected: bool | None,
    ) -> Transition | None:
        """Take the sample polled at ``at``; return the transition it caused, if any.

        Transitions are of the underlying state only: losing or regaining
        communication changes ``state`` but returns ``None``.
        """
        verdict = self._settings.judge(voltage_v, frequency_hz, connected)
        if verdict is Verdict.NO_DATA:
            self._data_missing = True
            self._run_started_at = None
            self._run_samples = 0
            self._last_in_band_at = None
            return None
        self._data_missing = False
        if verdict is Verdict.OUT_OF_BAND:
            return self._out_of_band(at)
        return self._in_band(at)

    def _out_of_band(self, at: float) -> Transition | None:
        self._last_in_band_at = None
        if self._run_started_at is None:
            self._run_started_at = at
        self._run_samples += 1
        match self._underlying:
            case GridState.UNKNOWN | GridState.GRID_OK:
                return self._move(GridState.SUSPECT, at)
            case GridState.SUSPECT if self._confirmed(at):
                self._outage_started_at = self._run_started_at
                return self._move(GridState.OUTAGE, at)
            case GridState.RESTORING:
                self._in_band_s = 0.0
                return self._move(GridState.OUTAGE, at)
        return None

    def _in_band(self, at: float) -> Transition | None:
        self._run_started_at = None
        self._run_samples = 0
        previous_at, self._last_in_band_at = self._last_in_band_at, at
        match self._underlying:
            case GridState.UNKNOWN | GridState.SUSPECT:
                return self._move(GridState.GRID_OK, at)
            case GridState.OUTAGE:
                self._in_band_s = 0.0
                return self._move(GridState.RESTORING, at)
            case GridState.RESTORING:
                if previous_at is not None:
                    self._in_band_s += max(0.0, at - previous_at)
                if self._in_band_s + _CLOCK_SLACK_S >= self._settings.reconnect_delay_s:
                    transition = self._move(GridState.GRID_OK, at)
                    self._outage_started_at = None
                    self._in_band_s = 0.0
                    return transition
        return None

    def _confirmed(self, at: float) -> bool:
        assert self._run_started_at is not None
        lasted_s = at - self._run_started_at
        return (
            self._run_samples >= self._settings.confirm_samples
            and lasted_s + _CLOCK_SLACK_S >= self._settings.confirm_s
        )

    def _move(self, to_state: GridState, at: float) -> Transition:
        transition = Transition(self._underlying, to_state, at, self._outage_started_at)
        self._underlying = to_state
        return transition

    def to_dict(self, *, now: float, wall_now: float) -> dict[str, Any]:
        """Snapshot for a restart; ``now`` on this clock is ``wall_now`` (Unix s).

        Times are stored as wall-clock so they mean something after a reboot, when the
        monotonic clock starts again from an arbitrary value.
        """
        started = self._outage_started_at
        return {
            "version": _SNAPSHOT_VERSION,
            "underlying": self._underlying.value,
            "outage_started_wall": None
            if started is None
            else started - now + wall_now,
            "in_band_s": self._in_band_s,
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        settings: GridWatchSettings | None = None,
        *,
        now: float,
        wall_now: float,
    ) -> GridWatch | None:
        """Continue from a snapshot; ``None`` if the data is not a snapshot of ours.

        ``now`` (the caller's monotonic clock) and ``wall_now`` (Unix seconds) are read
        together by the caller, which maps the stored wall-clock times onto its clock.
        The restored state shows at once (no ``unknown``, no new transitions), so a
        restart during an outage stays in ``outage``. Time while nothing was watching
        does not count towards the reconnection delay, and a half-confirmed run starts
        over.
        """
        try:
            if data["version"] != _SNAPSHOT_VERSION:
                return None
            underlying = GridState(data["underlying"])
            started_wall = data["outage_started_wall"]
            started = (
                None if started_wall is None else float(started_wall) - wall_now + now
            )
            in_band_s = float(data["in_band_s"])
        except (KeyError, TypeError, ValueError):
            return None
        watch = cls(settings)
        watch._underlying = underlying
        if watch.backup_wanted:
            watch._outage_started_at = started
            watch._in_band_s = in_band_s if underlying is GridState.RESTORING else 0.0
        return watch
