"""Lifetime energy counters that only ever grow."""

from __future__ import annotations

import math


class EnergyCounter:
    """Accumulates energy in Wh and shows it as the whole Wh a meter register holds.

    The fraction is kept, so many short steps add up to the same total as one long one.
    """

    def __init__(self, wh: float = 0.0) -> None:
        """Start at ``wh``."""
        self.wh = wh
        # Where the register last started from 0 (a reset or replaced meter).
        self._register_zero = 0.0

    def add(self, power_w: float, seconds: float) -> None:
        """Count ``power_w`` over ``seconds``; negative power counts elsewhere."""
        if power_w > 0 and seconds > 0:
            self.wh += power_w * seconds / 3600.0

    @property
    def register_wh(self) -> int:
        """Whole Wh, rounded down so the register never runs ahead of the truth."""
        return math.floor(self.wh - self._register_zero)

    def restart_register(self) -> int:
        """The register starts again from 0, as a reset or replaced meter's does.

        ``wh`` goes on counting all the energy, so the energy measured across the
        reset is what the register showed before plus what it shows after. Returns
        what it showed before.
        """
        shown = self.register_wh
        self._register_zero = self.wh
        return shown
