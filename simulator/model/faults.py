"""Faults a test or an installer can inject into a flat."""

from __future__ import annotations

from enum import StrEnum


class FaultKind(StrEnum):
    """Things that break.

    ``battery``: the battery trips (alarm bit, inverter state fault, no power).
    ``device_failure``: one unit answers every request with Modbus exception 4.
    """

    BATTERY = "battery"
    DEVICE_FAILURE = "device_failure"


class GlitchKind(StrEnum):
    """How an energy counter misreads once before showing the true value again."""

    DIP = "dip"  # a little lower than before, at most 1 %
    ZERO = "zero"  # drops to 0


def glitched_wh(true_wh: int, kind: GlitchKind) -> int:
    """The value a counter at ``true_wh`` shows during a glitch of ``kind``."""
    if kind is GlitchKind.ZERO:
        return 0
    return max(0, true_wh - max(1, true_wh // 200))
