"""The battery behind the hybrid inverter: energy, limits, losses, ageing, cells."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .energy import EnergyCounter

# Open-circuit voltage of an LFP cell against state of charge: steep at both ends,
# nearly flat in between (so cell voltage says little about SoC mid-range).
_LFP_OCV = (
    (0.00, 2.90),
    (0.05, 3.15),
    (0.10, 3.21),
    (0.20, 3.26),
    (0.40, 3.29),
    (0.60, 3.31),
    (0.80, 3.33),
    (0.90, 3.35),
    (0.95, 3.39),
    (1.00, 3.48),
)
_CELLS_IN_SERIES = 16  # a 51.2 V nominal pack
_NOMINAL_CELL_V = 3.2
_CELL_RESISTANCE_OHM = 0.0015
# Cells drift apart a little; the spread grows as the pack ages.
_CELL_SPREAD_V = 0.006


def cell_ocv(soc: float) -> float:
    """An LFP cell's resting voltage at ``soc`` (0..1)."""
    soc = min(1.0, max(0.0, soc))
    for (soc_lo, v_lo), (soc_hi, v_hi) in itertools.pairwise(_LFP_OCV):
        if soc <= soc_hi:
            return v_lo + (v_hi - v_lo) * (soc - soc_lo) / (soc_hi - soc_lo)
    return _LFP_OCV[-1][1]


@dataclass(slots=True)
class Degradation:
    """Ageing beyond the spec's, injected to test what notices it.

    Every figure is an extra on top of the healthy battery: capacity lost per
    simulated day (% of rated), self-discharge (% of the stored energy per 30 days),
    efficiency lost on each of the charge and discharge paths (%), and a weak cell:
    one of the series cells holds only ``weak_cell_pct`` % of the others' capacity,
    so the string holds that much and that cell's voltage swings further.
    """

    fade_pct_per_day: float = 0.0
    self_discharge_pct_per_month: float = 0.0
    efficiency_loss_pct: float = 0.0
    weak_cell_pct: float = 100.0

    def check(self) -> None:
        """Raise ``ValueError`` unless every figure is in its range."""
        if not 0.0 <= self.fade_pct_per_day <= 10.0:
            raise ValueError("fade_pct_per_day must be within 0–10")
        if not 0.0 <= self.self_discharge_pct_per_month <= 100.0:
            raise ValueError("self_discharge_pct_per_month must be within 0–100")
        if not 0.0 <= self.efficiency_loss_pct <= 50.0:
            raise ValueError("efficiency_loss_pct must be within 0–50")
        if not 50.0 <= self.weak_cell_pct <= 100.0:
            raise ValueError("weak_cell_pct must be within 50–100")


@dataclass(frozen=True, slots=True)
class BatterySpec:
    """What the battery is: fixed at installation."""

    capacity_wh: float = 2000.0
    max_charge_w: float = 1000.0
    max_discharge_w: float = 1000.0
    charge_efficiency: float = 0.95  # AC → stored
    discharge_efficiency: float = 0.95  # stored → AC
    soc_min_pct: float = 5.0
    soc_max_pct: float = 100.0
    self_discharge_pct_per_month: float = 3.0
    # Share of capacity lost per full equivalent cycle (about 80 % left after 4000).
    soh_fade_per_cycle: float = 5e-5

    @property
    def pack_nominal_v(self) -> float:
        """The pack's nominal voltage."""
        return _CELLS_IN_SERIES * _NOMINAL_CELL_V


class Battery:
    """Energy stored, moved in and out through the inverter at AC power."""

    def __init__(self, spec: BatterySpec, soc_pct: float, soh_pct: float) -> None:
        """A battery at ``soc_pct`` charge and ``soh_pct`` health."""
        self.spec = spec
        self.soc = soc_pct / 100.0
        self.soh = soh_pct / 100.0
        self.charged = EnergyCounter()  # AC side, into the battery
        self.discharged = EnergyCounter()  # AC side, out of the battery
        self._discharged_dc_wh = 0.0
        self.power_w = 0.0  # + discharging, − charging (AC)
        self.degradation = Degradation()

    def degrade(self, degradation: Degradation) -> None:
        """Age from now on as ``degradation`` says; ``ValueError`` if out of range.

        A weaker cell limits the string at once: the charge it held is kept, as a
        share of the smaller capacity.
        """
        degradation.check()
        stored_wh = self.stored_wh
        self.degradation = degradation
        usable_wh = self.usable_wh
        self.soc = min(1.0, stored_wh / usable_wh) if usable_wh > 0 else 0.0

    @property
    def usable_wh(self) -> float:
        """What a full battery holds now that it has aged (the weakest cell's share)."""
        return self.spec.capacity_wh * self.soh * self.degradation.weak_cell_pct / 100

    @property
    def charge_efficiency(self) -> float:
        """AC → stored, after any injected loss."""
        return self.spec.charge_efficiency * (
            1 - self.degradation.efficiency_loss_pct / 100
        )

    @property
    def discharge_efficiency(self) -> float:
        """Stored → AC, after any injected loss."""
        return self.spec.discharge_efficiency * (
            1 - self.degradation.efficiency_loss_pct / 100
        )

    @property
    def stored_wh(self) -> float:
        """Energy in the cells."""
        return self.soc * self.usable_wh

    def available_wh(self, floor_pct: float) -> float:
        """Energy in the cells above ``floor_pct`` SoC."""
        return max(0.0, self.soc - floor_pct / 100.0) * self.usable_wh

    @property
    def cycles(self) -> int:
        """Full equivalent cycles: energy discharged from the cells / rated capacity."""
        return math.floor(self._discharged_dc_wh / self.spec.capacity_wh)

    def max_discharge_w(self, floor_pct: float, dt: float) -> float:
        """The most AC power it can give for ``dt`` s without going below the floor.

        ``dt`` 0 asks for the instantaneous limit.
        """
        energy_wh = self.available_wh(floor_pct) * self.discharge_efficiency
        if energy_wh <= 0 or dt <= 0:
            return self.spec.max_discharge_w if energy_wh > 0 else 0.0
        return min(self.spec.max_discharge_w, energy_wh * 3600.0 / dt)

    def max_charge_w(self, dt: float) -> float:
        """The most AC power it can take for ``dt`` s without passing SoCMax."""
        room_wh = max(0.0, self.spec.soc_max_pct / 100.0 - self.soc) * self.usable_wh
        if room_wh <= 0 or dt <= 0:
            return self.spec.max_charge_w if room_wh > 0 else 0.0
        return min(
            self.spec.max_charge_w, room_wh / self.charge_efficiency * 3600.0 / dt
        )

    def run(self, request_w: float, floor_pct: float, dt: float) -> float:
        """Deliver ``request_w`` (+ discharge) for ``dt`` s as far as limits allow.

        Returns the AC power actually delivered. Losses and self-discharge come out of
        the cells; ageing follows the energy moved through them.
        """
        if request_w > 0:
            power_w = min(request_w, self.max_discharge_w(floor_pct, dt))
        else:
            power_w = -min(-request_w, self.max_charge_w(dt))
        hours = dt / 3600.0
        if power_w >= 0:
            cell_wh = power_w * hours / self.discharge_efficiency
            self._discharged_dc_wh += cell_wh
        else:
            cell_wh = power_w * hours * self.charge_efficiency
        worn = self.degradation
        self_discharge_wh = (
            self.stored_wh
            * (
                self.spec.self_discharge_pct_per_month
                + worn.self_discharge_pct_per_month
            )
            / 100.0
            * dt
            / (30 * 86400)
        )
        stored_wh = max(0.0, self.stored_wh - cell_wh - self_discharge_wh)
        # Half a cycle each way: a full charge plus a full discharge is one cycle.
        self.soh = max(
            0.0,
            self.soh
            - self.spec.soh_fade_per_cycle * abs(cell_wh) / (2 * self.spec.capacity_wh)
            - worn.fade_pct_per_day / 100 * dt / 86400,
        )
        self.soc = min(1.0, stored_wh / self.usable_wh) if self.usable_wh > 0 else 0.0
        self.charged.add(-power_w, dt)
        self.discharged.add(power_w, dt)
        self.power_w = power_w
        return power_w

    def cell_voltages(self) -> tuple[float, float]:
        """(highest, lowest) cell voltage: resting voltage moved by the current.

        A weak cell limits the string, so it runs through its whole charge while the
        others stay nearer the middle of theirs: it is the highest cell when the
        pack is nearly full and the lowest when it is nearly empty.
        """
        pack_v = _CELLS_IN_SERIES * cell_ocv(self.soc)
        current_a = -self.power_w / pack_v  # charging current is positive
        drop_v = current_a * _CELL_RESISTANCE_OHM
        spread = _CELL_SPREAD_V * (2.0 - self.soh)
        weak = self.degradation.weak_cell_pct / 100
        if weak >= 1.0:
            cell_v = cell_ocv(self.soc) + drop_v
            return cell_v + spread, cell_v - spread
        weak_v = cell_ocv(self.soc) + drop_v
        others_v = cell_ocv(0.5 + (self.soc - 0.5) * weak) + drop_v
        return max(weak_v, others_v + spread), min(weak_v, others_v - spread)

    @property
    def pack_v(self) -> float:
        """Pack voltage: the series cells at their average voltage."""
        high, low = self.cell_voltages()
        return _CELLS_IN_SERIES * (high + low) / 2

    @property
    def pack_current_a(self) -> float:
        """DC current, + discharging (SunSpec 802's sign for A)."""
        return self.power_w / self.pack_v
