"""The group-discharge benchmark completes batteries as the integration does.

Its driver plays each flat's Home Assistant without Home Assistant, so it fills in
a missing capacity and reserve itself; its offers must be the integration's.
"""

from __future__ import annotations

import pytest

from bench.group_flat import complete_battery
from custom_components.local_vpp.battery_facts import BatteryFacts
from custom_components.local_vpp.device import BatteryReading, FlatReading
from custom_components.local_vpp.ledger.sample import energy_above_reserve_wh
from tests.integration.logic.test_battery_facts import ECHONET, SUNSPEC_1XX
from tests.integration.logic.test_group_messages import BATTERY


def _reading(battery: BatteryReading | None) -> FlatReading:
    return FlatReading(pv=None, battery=battery, meter=None, living_room=None)


@pytest.mark.parametrize(
    ("battery", "default_reserve", "capacity_wh"),
    [
        (ECHONET, True, None),
        (SUNSPEC_1XX, False, 8000.0),
        (SUNSPEC_1XX, False, None),
        (BATTERY, False, None),
        (None, True, None),
    ],
    ids=["echonet", "sunspec1xx", "sunspec1xx-no-capacity", "sunspec7xx", "none"],
)
def test_the_bench_offers_what_the_integration_offers(
    battery: BatteryReading | None, default_reserve: bool, capacity_wh: float | None
) -> None:
    options = {} if capacity_wh is None else {"battery_capacity_wh": capacity_wh}
    facts = BatteryFacts(options, default_reserve=default_reserve)
    reading = _reading(battery)
    ours = complete_battery(
        reading, default_reserve=default_reserve, stated_capacity_wh=capacity_wh
    )
    assert ours == facts.complete(reading)


def test_the_benchs_echonet_flat_offers_energy() -> None:
    completed = complete_battery(
        _reading(ECHONET), default_reserve=True, stated_capacity_wh=None
    ).battery
    assert completed is not None
    assert energy_above_reserve_wh(completed) == pytest.approx(2700.0)
