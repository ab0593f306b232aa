"""A PV inverter's immediate controls (SunSpec model 123): connect and output limit.

``Conn`` 0 disconnects the inverter from the grid (it produces nothing), 1 lets it
connect; ``WMaxLimPct`` caps its output at that share of its rated power while
``WMaxLim_Ena`` is 1. Each has a revert timer (``Conn_RvrtTms``,
``WMaxLimPct_RvrtTms``): a write of ``Conn`` or ``WMaxLim_Ena`` starts it, and when
it runs out the inverter goes back by itself to connected and unlimited. 0 means
no timer: the value holds until written again.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT = 1
DISCONNECT = 0


@dataclass(slots=True)
class PvControls:
    """What a controller asked the PV inverter for, and for how long."""

    connect: int = CONNECT
    connect_revert_s: int = 0
    connect_remaining_s: float = 0.0
    limit_pct: float = 100.0
    limit_enabled: int = 0
    limit_revert_s: int = 0
    limit_remaining_s: float = 0.0

    def arm_connect(self) -> None:
        """Start the connect timer afresh (after a write of ``Conn``)."""
        self.connect_remaining_s = float(self.connect_revert_s)

    def arm_limit(self) -> None:
        """Start the limit timer afresh (after a write of ``WMaxLim_Ena``)."""
        self.limit_remaining_s = float(self.limit_revert_s)

    def tick(self, dt: float) -> None:
        """Let ``dt`` seconds pass; revert what has run out."""
        if self.connect_remaining_s > 0:
            self.connect_remaining_s = max(0.0, self.connect_remaining_s - dt)
            if self.connect_remaining_s == 0:
                self.connect = CONNECT
        if self.limit_remaining_s > 0:
            self.limit_remaining_s = max(0.0, self.limit_remaining_s - dt)
            if self.limit_remaining_s == 0:
                self.limit_enabled = 0

    def next_event_in(self) -> float | None:
        """Seconds until the next timer fires, if one runs."""
        running = [
            s for s in (self.connect_remaining_s, self.limit_remaining_s) if s > 0
        ]
        return min(running) if running else None

    def cap_w(self, available_w: float, rated_w: float) -> float:
        """What the inverter puts out of ``available_w`` under these controls."""
        if self.connect != CONNECT:
            return 0.0
        if self.limit_enabled:
            return min(available_w, rated_w * self.limit_pct / 100)
        return available_w
