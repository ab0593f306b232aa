"""Setpoints a coordinator writes, each with a revert timer (the dead-man switch).

Model 704's active-power setpoint for the battery, and model 64901's setpoint for
the building bus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

DISABLED = 0
ENABLED = 1
MODE_WATTS = 1


@dataclass(slots=True)
class SetpointControl:
    """What a remote controller asked the battery for, and until when.

    Each write of ``WSet`` or ``WSetEna`` re-arms the timer with ``WSetRvrtTms``;
    when it runs out the battery takes ``WSetRvrt`` and ``WSetEnaRvrt`` by itself, so
    a controller that disappears cannot leave the battery draining. ``revert_s`` 0
    means no timer.
    """

    enabled: int = DISABLED
    mode: int = MODE_WATTS
    setpoint_w: int = 0
    revert_w: int = 0
    revert_enabled: int = DISABLED
    revert_s: int = 0
    remaining_s: float = 0.0

    def rearm(self) -> None:
        """Start the revert timer afresh (after a write of the setpoint or enable)."""
        self.remaining_s = float(self.revert_s)

    @property
    def remaining_register_s(self) -> int:
        """Whole seconds left, rounded up so 0 means the timer has fired or is off."""
        return math.ceil(self.remaining_s)

    def tick(self, dt: float) -> None:
        """Let ``dt`` seconds pass; revert when the timer runs out."""
        if self.remaining_s <= 0:
            return
        self.remaining_s = max(0.0, self.remaining_s - dt)
        if self.remaining_s == 0:
            self.setpoint_w = self.revert_w
            self.enabled = self.revert_enabled

    def next_event_in(self) -> float | None:
        """Seconds until the timer fires, if it runs."""
        return self.remaining_s if self.remaining_s > 0 else None


class BusStatus(IntEnum):
    """Model 64901 ``St``."""

    OFF = 0  # not wired to the bus, or the inverter has tripped
    STANDBY = 1  # wired, but the grid is up: the bus stays open
    ACTIVE = 2  # grid out: the bus is closed and the setpoint is followed


@dataclass(slots=True)
class BusControl:
    """The bus setpoint a coordinator asked for, and until when.

    ``setpoint_w`` is + export to the bus, − import from it. Each write re-arms the
    revert timer with ``revert_s``; when it runs out the setpoint falls back to 0, so
    a coordinator that goes silent cannot leave a battery draining into the bus.
    ``revert_s`` 0 means no timer.
    """

    setpoint_w: int = 0
    revert_s: int = 0
    remaining_s: float = 0.0

    def rearm(self) -> None:
        """Start the revert timer afresh (after a write of the setpoint)."""
        self.remaining_s = float(self.revert_s)

    @property
    def remaining_register_s(self) -> int:
        """Whole seconds left, rounded up; 0 when the timer has fired or is off."""
        return math.ceil(self.remaining_s)

    def tick(self, dt: float) -> None:
        """Let ``dt`` seconds pass; fall back to 0 W when the timer runs out."""
        if self.remaining_s <= 0:
            return
        self.remaining_s = max(0.0, self.remaining_s - dt)
        if self.remaining_s == 0:
            self.setpoint_w = 0

    def next_event_in(self) -> float | None:
        """Seconds until the timer fires, if it runs."""
        return self.remaining_s if self.remaining_s > 0 else None
