"""Outage support over the building bus: which flats give, which receive, how much.

During a power cut, flats whose bus is closed may carry the living rooms of neighbours
that are running low. Every node computes the same plan from the same signed
availabilities (docs/COORDINATION.md section 13): a flat is *low* when its living
room draws power and its battery is at or below its reserve, or under
:data:`LOW_SOC_PPM`; the others with energy above their reserve give, in proportion
to that energy, within their discharge limit after their own living room. Givers send
what the low flats need plus the bus losses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sidecar.coordination.allocation import Availability, split

LOW_SOC_PPM: Final = 250_000
BUS_LOSS_PPM: Final = 30_000  # wiring and changeover gear; the simulator's default
PPM: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class SupportPlan:
    """Bus setpoints for one round: + export to the bus, − import from it (W)."""

    setpoints: dict[bytes, int]

    @property
    def importers(self) -> dict[bytes, int]:
        """Flats receiving, with the power each receives (W, positive)."""
        return {a: -w for a, w in self.setpoints.items() if w < 0}

    @property
    def exporters(self) -> dict[bytes, int]:
        """Flats giving, with the power each gives (W)."""
        return {a: w for a, w in self.setpoints.items() if w > 0}


def is_low(offer: Availability) -> bool:
    """Whether a flat on the bus needs its neighbours for its living room."""
    if not offer.living_w:
        return False
    return offer.energy_wh <= 0 or (
        offer.soc_ppm is not None and offer.soc_ppm < LOW_SOC_PPM
    )


def plan_support(
    fresh: Iterable[Availability], loss_ppm: int = BUS_LOSS_PPM
) -> SupportPlan:
    """The bus plan from the round's fresh availabilities (sorted, one per member)."""
    on_bus = [a for a in fresh if a.outage and a.bus]
    low = [a for a in on_bus if is_low(a)]
    givers = [
        a
        for a in on_bus
        if not is_low(a) and a.participate and a.controllable and a.energy_wh > 0
    ]
    need = sum(a.living_w or 0 for a in low)
    if not need or not givers:
        return SupportPlan({})
    gross = -(-need * PPM // (PPM - loss_ppm))  # rounded up: losses are on the bus
    exports = split(
        gross,
        (
            (a.author, a.energy_wh, max(0, a.max_discharge_w - (a.living_w or 0)))
            for a in givers
        ),
    )
    delivered = sum(exports.values()) * (PPM - loss_ppm) // PPM
    imports = split(
        delivered, ((a.author, a.living_w or 0, a.living_w or 0) for a in low)
    )
    setpoints = {author: w for author, w in exports.items() if w}
    setpoints.update({author: -w for author, w in imports.items() if w})
    return SupportPlan(setpoints)
