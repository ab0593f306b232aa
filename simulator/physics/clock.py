"""Simulated time: runs at a multiple of real time, or only when stepped by hand."""

from __future__ import annotations

from datetime import datetime, timedelta


class SimClock:
    """The simulation's own time, counted in seconds since ``start``."""

    def __init__(self, start: datetime, speed: float, manual: bool) -> None:
        """Begin at ``start``; ``speed`` simulated seconds pass per real second.

        A manual clock ignores real time: it moves only through ``advance``.
        """
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.manual = manual
        self.elapsed_s = 0.0

    @property
    def now(self) -> datetime:
        """The simulated wall-clock time."""
        return self.start + timedelta(seconds=self.elapsed_s)

    def advance(self, seconds: float) -> None:
        """Move simulated time on by ``seconds``."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.elapsed_s += seconds

    def simulated_seconds(self, real_seconds: float) -> float:
        """How much simulated time ``real_seconds`` of real time is worth."""
        return 0.0 if self.manual else real_seconds * self.speed
