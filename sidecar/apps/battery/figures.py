"""A battery's figures over a window of local days, in exact integer arithmetic.

Per day the tracker keeps integer sums (:class:`Day`); a window's figures are
functions of the summed integers, rounded down at the very end, so every node that
holds the same entries states the same numbers. With ``E_in`` the AC energy charged
and ``S_up`` the SoC rise over the charge segments, ``E_out`` and ``S_down`` the same
for the discharge segments (PROTOCOL.md 7.1 gives ``soc`` in ppm):

* ``a = S_up / E_in`` is charge efficiency over capacity, ``b = S_down / E_out`` is
  one over (discharge efficiency × capacity);
* round-trip efficiency ``a / b`` (both directions' losses);
* usable capacity ``1 / sqrt(a × b)``: the capacity of the cells when the charge and
  discharge paths lose alike (a hybrid inverter's usually do);
* self-discharge at rest: the SoC lost over the rest segments against the SoC held
  over their time, scaled to 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import isqrt
from typing import Final

from sidecar.apps.battery.segments import Kind, Segment

PPM: Final = 1_000_000
MONTH_MS: Final = 30 * 86_400_000
# Segments that move the SoC less than this are left out of the estimators: the
# SoC's resolution would weigh too much in them.
MIN_SWING_PPM: Final = 50_000
# Rests shorter than this say nothing about self-discharge at the SoC's resolution.
MIN_REST_MS: Final = 3_600_000


@dataclass(slots=True)
class Day:
    """Integer sums of one local day; ``start`` is its first instant (ms)."""

    start: int
    charged: int = 0  # mWh, measured and reconciled flows
    discharged: int = 0
    estimated_in: int = 0  # mWh, estimated flows and gaps
    estimated_out: int = 0
    up_swing: int = 0  # ppm, charge segments
    up_energy: int = 0  # mWh
    ups: int = 0
    down_swing: int = 0  # ppm, discharge segments (as a positive number)
    down_energy: int = 0
    downs: int = 0
    rest_drop: int = 0  # ppm lost at rest (negative when the SoC rose)
    rest_soc_ms: int = 0  # twice the integral of the SoC over the rests, ppm·ms
    rest_ms: int = 0
    rests: int = 0
    soc_min: int | None = None  # ppm, over the day's flows
    soc_max: int | None = None
    evidence: list[tuple[Kind, tuple[int, bytes], tuple[int, bytes]]] = field(
        default_factory=list
    )

    def take(self, segment: Segment) -> None:
        """Count a closed segment that ended on this day, if the estimators use it."""
        swing = segment.swing
        if segment.kind is Kind.CHARGE and swing >= MIN_SWING_PPM:
            self.up_swing += swing
            self.up_energy += segment.energy
            self.ups += 1
        elif segment.kind is Kind.DISCHARGE and -swing >= MIN_SWING_PPM:
            self.down_swing -= swing
            self.down_energy += segment.energy
            self.downs += 1
        elif segment.kind is Kind.REST and segment.end - segment.start >= MIN_REST_MS:
            span = segment.end - segment.start
            self.rest_drop -= swing
            self.rest_soc_ms += (segment.soc_from + segment.soc_to) * span
            self.rest_ms += span
            self.rests += 1
        else:
            return
        self.evidence.append((segment.kind, segment.first, segment.last))


@dataclass(frozen=True, slots=True)
class Figures:
    """A window's figures; None where the window holds too little to say.

    Energies in mWh, efficiency and self-discharge in ppm, cycles in thousandths.
    """

    days: int
    charged: int
    discharged: int
    estimated_in: int
    estimated_out: int
    round_trip_ppm: int | None
    capacity_mwh: int | None
    capacity_uncertainty_mwh: int | None
    self_discharge_ppm_per_month: int | None
    cycles_milli: int | None


def _sum(days: list[Day], name: str) -> int:
    return sum(getattr(day, name) for day in days)


def window(days: list[Day], resolution_ppm: int) -> Figures:
    """The figures of ``days`` together; ``resolution_ppm`` is the SoC's step."""
    up_s, up_e = _sum(days, "up_swing"), _sum(days, "up_energy")
    down_s, down_e = _sum(days, "down_swing"), _sum(days, "down_energy")
    charged, discharged = _sum(days, "charged"), _sum(days, "discharged")
    rte = cap = unc = None
    if up_s > 0 and up_e > 0 and down_s > 0 and down_e > 0:
        rte = up_s * down_e * PPM // (up_e * down_s)
        cap = isqrt(up_e * down_e * PPM * PPM // (up_s * down_s))
        # Each segment's SoC change is off by up to one step at each end; the
        # errors are independent, so they grow as the square root of their number.
        step = resolution_ppm // 2
        rel = (
            isqrt(_sum(days, "ups")) * step * PPM // up_s
            + isqrt(_sum(days, "downs")) * step * PPM // down_s
        ) // 2
        unc = cap * rel // PPM
    rest_soc_ms = _sum(days, "rest_soc_ms")
    self_discharge = None
    if rest_soc_ms > 0 and _sum(days, "rest_ms") >= 24 * 3_600_000:
        self_discharge = _sum(days, "rest_drop") * 2 * MONTH_MS * PPM // rest_soc_ms
    cycles = None
    if cap:
        cycles = (charged + discharged) * 500 // cap
    return Figures(
        days=len(days),
        charged=charged,
        discharged=discharged,
        estimated_in=_sum(days, "estimated_in"),
        estimated_out=_sum(days, "estimated_out"),
        round_trip_ppm=rte,
        capacity_mwh=cap,
        capacity_uncertainty_mwh=unc,
        self_discharge_ppm_per_month=self_discharge,
        cycles_milli=cycles,
    )
