"""Lifetime energy totals that the Energy dashboard can trust.

A device counter is the truth, but a read can glitch (a dip, a zero, a spike) and a
counter can be reset when a device is replaced. Home Assistant's ``total_increasing``
treats any decrease as a reset and counts the whole value again, so a single bad
read would book phantom energy. This module decides what total to show: it ignores
small dips, holds the last value through glitches until a change is confirmed by
consecutive reads, and continues seamlessly across a real counter reset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# A flat's connection is well under this (Japanese flats: 60 A × 200 V); anything
# faster between two reads is a glitch, not energy.
DEFAULT_MAX_POWER_W = 50_000.0
# Rounding and unscaled integer counters can move by a few Wh between reads.
_SLACK_WH = 2.0


@dataclass(slots=True)
class EnergyTotalState:
    """What must survive a restart: the shown total, the counter offset, when."""

    total_wh: float
    offset_wh: float
    at: float

    def as_dict(self) -> dict[str, Any]:
        """Serialise for Home Assistant's restore storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyTotalState | None:
        """Rebuild from restore storage; ``None`` if the data is not ours."""
        try:
            return cls(
                total_wh=float(data["total_wh"]),
                offset_wh=float(data["offset_wh"]),
                at=float(data["at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class EnergyTotal:
    """Follow one device counter and produce a total that never jumps."""

    def __init__(
        self,
        *,
        max_power_w: float = DEFAULT_MAX_POWER_W,
        dip_tolerance: float = 0.01,
        confirmations: int = 3,
    ) -> None:
        """Configure the plausibility bound, the dip to ignore, reads to confirm."""
        self._max_power_w = max_power_w
        self._dip_tolerance = dip_tolerance
        self._confirmations = confirmations
        self._state: EnergyTotalState | None = None
        self._pending: list[float] = []

    @property
    def total_wh(self) -> float | None:
        """The total to show, or ``None`` before the first good read."""
        return None if self._state is None else self._state.total_wh

    @property
    def state(self) -> EnergyTotalState | None:
        """The state to store for the next restart."""
        return self._state

    def restore(self, state: EnergyTotalState) -> None:
        """Continue from what was shown before a restart."""
        self._state = state
        self._pending.clear()

    def update(self, counter_wh: float, at: float) -> float | None:
        """Take a counter read at time ``at`` (seconds) and return the total to show."""
        state = self._state
        if state is None:
            self._state = EnergyTotalState(counter_wh, 0.0, at)
            return counter_wh
        candidate = counter_wh + state.offset_wh
        delta = candidate - state.total_wh
        if delta >= 0 and delta <= self._plausible_rise(at - state.at):
            self._accept(candidate, state.offset_wh, at)
        elif delta < 0 and -delta <= self._dip_tolerance * state.total_wh:
            # A small dip: a meter's rounding or a read between two updates.
            self._pending.clear()
        else:
            self._confirm(counter_wh, at)
        return self._state.total_wh if self._state else None

    def _plausible_rise(self, seconds: float) -> float:
        return self._max_power_w * max(seconds, 0.0) / 3600.0 + _SLACK_WH

    def _accept(self, total_wh: float, offset_wh: float, at: float) -> None:
        self._state = EnergyTotalState(total_wh, offset_wh, at)
        self._pending.clear()

    def _confirm(self, counter_wh: float, at: float) -> None:
        """Hold the total until the new level repeats, then adopt it without a jump."""
        if self._pending and counter_wh < self._pending[-1]:
            self._pending.clear()
        self._pending.append(counter_wh)
        if len(self._pending) < self._confirmations:
            return
        assert self._state is not None
        first = self._pending[0]
        if first + self._state.offset_wh < self._state.total_wh:
            # The counter restarted lower (device replaced or reset): carry on from
            # the shown total, so the dashboard sees no decrease and no jump.
            offset = self._state.total_wh - first
        else:
            # A confirmed rise the clock cannot explain (e.g. a long gap without
            # timestamps): count the energy the device reports, once.
            offset = self._state.offset_wh
        self._accept(counter_wh + offset, offset, at)
