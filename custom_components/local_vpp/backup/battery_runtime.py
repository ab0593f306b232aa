"""How long the battery can still carry the living room, and what an outage has cost.

During an outage the battery may give everything above its minimum SoC: the backup
reserve is the part kept *for* outages, so it is not a floor here. The floor is a
parameter so the caller decides (normally the battery's min SoC).

The runtime estimate divides the usable energy by a smoothed living-room load. With no
load (or a load that reads ≤ 0 W) nothing drains the battery and there is no finite
runtime: the estimate is ``None``, which Home Assistant shows as unknown, rather than an
infinity that no sensor can show.

No Home Assistant imports: the numbers are testable alone.
"""

from __future__ import annotations

import math
from typing import Any, Final

from ..energy_total import EnergyTotal, EnergyTotalState

# Conversion losses from the battery's DC to the living room's AC. Hybrid inverters
# reach 95 % at their rated power but far less at a living room's 100–300 W, so the
# estimate assumes 90 %: residents should get more time than promised, not less.
DEFAULT_DISCHARGE_EFFICIENCY: Final = 0.9
# A TV or kettle switching on should move the estimate within a few minutes, not
# make it jump from one poll to the next.
DEFAULT_LOAD_TIME_CONSTANT_S: Final = 60.0
_SNAPSHOT_VERSION: Final = 1


def usable_energy_wh(
    soc_pct: float | None, capacity_wh: float | None, floor_soc_pct: float | None
) -> float | None:
    """Energy stored above the floor SoC, ≥ 0; ``None`` if an input is unknown."""
    if soc_pct is None or capacity_wh is None or floor_soc_pct is None:
        return None
    if capacity_wh <= 0:
        return None
    # A SoC read above 100 % is a rounding or calibration artefact, not extra energy.
    above_floor_pct = min(soc_pct, 100.0) - floor_soc_pct
    return max(0.0, capacity_wh * above_floor_pct / 100)


def runtime_left_min(
    *,
    soc_pct: float | None,
    capacity_wh: float | None,
    floor_soc_pct: float | None,
    load_w: float | None,
    efficiency: float = DEFAULT_DISCHARGE_EFFICIENCY,
) -> float | None:
    """Minutes the battery can carry ``load_w`` before reaching ``floor_soc_pct``.

    ``None`` when an input is unknown or the load is ≤ 0 W (no finite runtime);
    0 when the battery is already at or below the floor.
    """
    if not 0 < efficiency <= 1:
        raise ValueError("efficiency must be in (0, 1]")
    energy_wh = usable_energy_wh(soc_pct, capacity_wh, floor_soc_pct)
    if energy_wh is None or load_w is None or load_w <= 0:
        return None
    return energy_wh * efficiency / load_w * 60


class LoadAverage:
    """Exponential moving average of a load, weighted by time between polls.

    Weighting by elapsed time keeps the smoothing the same whether the poll runs every
    0.25 s during an outage or every 10 s otherwise.
    """

    def __init__(self, time_constant_s: float = DEFAULT_LOAD_TIME_CONSTANT_S) -> None:
        """Smooth with ``time_constant_s``: a step is 63 % followed after that long."""
        if time_constant_s <= 0:
            raise ValueError("time constant must be positive")
        self._time_constant_s = time_constant_s
        self._value_w: float | None = None
        self._at: float | None = None

    @property
    def value_w(self) -> float | None:
        """The smoothed load, or ``None`` before the first reading."""
        return self._value_w

    def update(self, load_w: float | None, at: float) -> float | None:
        """Take the load read at ``at`` (s); ``None`` (no reading) keeps the average."""
        if load_w is None or math.isnan(load_w):
            return self._value_w
        # The living-room circuit only consumes; a negative read is a sensor offset.
        load_w = max(0.0, load_w)
        if self._value_w is None or self._at is None:
            self._value_w = load_w
        else:
            elapsed_s = max(0.0, at - self._at)
            weight = 1 - math.exp(-elapsed_s / self._time_constant_s)
            self._value_w += weight * (load_w - self._value_w)
        self._at = at
        return self._value_w

    def reset(self) -> None:
        """Forget the history, e.g. when a new outage starts."""
        self._value_w = None
        self._at = None


class BackupEnergyUse:
    """Energy the battery has delivered since the outage started, from its counter.

    The battery's lifetime discharge counter (Wh) is followed through
    :class:`EnergyTotal`, so a glitched read (a zero, a spike) or a counter reset never
    shows as negative or phantom energy. The first counter read is the baseline: energy
    before it is not counted, so start this at the outage's first poll.
    """

    def __init__(self) -> None:
        """Wait for the first counter read."""
        self._total = EnergyTotal()
        self._baseline_wh: float | None = None

    @property
    def used_wh(self) -> float | None:
        """Energy delivered since the baseline, ≥ 0; ``None`` before the first read."""
        total_wh = self._total.total_wh
        if total_wh is None or self._baseline_wh is None:
            return None
        return max(0.0, total_wh - self._baseline_wh)

    def update(self, discharged_wh: float | None, at: float) -> float | None:
        """Take the discharge counter read at ``at`` (s); ``None`` keeps the figure."""
        if discharged_wh is not None and not math.isnan(discharged_wh):
            total_wh = self._total.update(discharged_wh, at)
            if self._baseline_wh is None:
                self._baseline_wh = total_wh
        return self.used_wh

    def to_dict(self, *, now: float, wall_now: float) -> dict[str, Any]:
        """Snapshot for a restart; ``now`` on this clock is ``wall_now`` (Unix s)."""
        state = self._total.state
        if state is None or self._baseline_wh is None:
            return {"version": _SNAPSHOT_VERSION, "baseline_wh": None, "total": None}
        stored = state.as_dict()
        # Wall-clock, so the plausibility check sees how long the restart took.
        stored["at"] = state.at - now + wall_now
        return {
            "version": _SNAPSHOT_VERSION,
            "baseline_wh": self._baseline_wh,
            "total": stored,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, now: float, wall_now: float
    ) -> BackupEnergyUse | None:
        """Continue from a snapshot; ``None`` if the data is not a snapshot of ours."""
        try:
            if data["version"] != _SNAPSHOT_VERSION:
                return None
            baseline = data["baseline_wh"]
            stored = data["total"]
            restored = cls()
            if baseline is None or stored is None:
                return restored
            state = EnergyTotalState.from_dict(stored)
            if state is None:
                return None
            restored._baseline_wh = float(baseline)
        except (KeyError, TypeError, ValueError):
            return None
        state.at = state.at - wall_now + now
        restored._total.restore(state)
        return restored
