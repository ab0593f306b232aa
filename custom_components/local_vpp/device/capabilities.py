"""What a flat's devices let the integration do, whatever family they are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Reported in diagnostics and to the group, which counts only controllable givers.

    ``revert_timer``: the device falls back by itself when writes stop; without one
    the integration bounds every hold by other means and hands the battery back
    itself. ``min_write_interval_s``: how often a hold that has not changed may be
    written again (flash wear). ``immediate_controls``: the PV inverter serves
    SunSpec model 123 (connect, output limit); read and reported, not written.
    """

    read: bool = True
    control_power: bool = True
    switch_living_room: bool = True
    revert_timer: bool = True
    min_write_interval_s: float = 0.0
    immediate_controls: bool = False
