"""The building bus: flats' batteries sharing energy while the grid is out.

A building's flats may be wired to a common bus that closes only during an outage
(it must never run in parallel with the grid). A flat's hybrid inverter then exports
to the bus or imports from it, as its model 64901 setpoint asks. The bus balances:
what the importing flats take is what the exporting flats give, less the bus's
losses.

``share_bus`` decides the flows of one physics step for the whole building; each
flat's setpoint and its revert timer are ``simulator.model.controls.BusControl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BusFlows:
    """One step's flows on the bus, W at the flats' terminals."""

    exported_w: float
    imported_w: float

    @property
    def loss_w(self) -> float:
        """What the bus itself used up (wiring, the changeover gear)."""
        return self.exported_w - self.imported_w


def share_bus(
    offers_w: Sequence[float],
    wants_w: Sequence[float],
    loss: float,
    take: Callable[[int, float], float],
    give: Callable[[int, float], None],
) -> BusFlows:
    """Match what exporters offer with what importers want, and settle it.

    ``offers_w[i]`` is what exporter ``i`` could give, ``wants_w[j]`` what importer
    ``j`` asks for, both ≥ 0; ``loss`` (0 ≤ loss < 1) is the share of exported power
    the bus loses. When supply and demand differ, the short side is served in full
    and the long side pro rata. ``take(j, w)`` hands importer ``j`` its share and
    returns what it really took (an importer whose living room tripped may take less);
    then ``give(i, w)`` tells each exporter what to export, so that exactly
    (taken / (1 − loss)) leaves the exporters. The bus balances by construction.
    """
    supply_w = sum(offers_w) * (1.0 - loss)
    demand_w = sum(wants_w)
    delivered_w = min(supply_w, demand_w)
    taken_w = 0.0
    for j, want_w in enumerate(wants_w):
        share_w = want_w * delivered_w / demand_w if delivered_w > 0 else 0.0
        taken_w += take(j, share_w)
    exported_w = taken_w / (1.0 - loss)
    offered_w = sum(offers_w)
    for i, offer_w in enumerate(offers_w):
        give(i, offer_w * exported_w / offered_w if exported_w > 0 else 0.0)
    return BusFlows(exported_w, taken_w)
