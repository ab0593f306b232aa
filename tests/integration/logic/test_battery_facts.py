"""The installer's capacity and reserve complete a battery that does not report them."""

from __future__ import annotations

import dataclasses

import pytest

from custom_components.local_vpp.battery_facts import DEFAULT_RESERVE_PCT, BatteryFacts
from custom_components.local_vpp.device import BatteryReading, FlatReading
from custom_components.local_vpp.ledger.sample import energy_above_reserve_wh
from tests.integration.logic.test_group_messages import BATTERY

# An ECHONET Lite battery: capacity and remaining Wh, no reserve, no minimum SoC.
ECHONET = dataclasses.replace(
    BATTERY, available_wh=6000.0, min_soc_pct=None, reserve_soc_pct=None
)
# A SunSpec 1xx battery: a reserve, no capacity at all.
SUNSPEC_1XX = dataclasses.replace(
    BATTERY, rated_wh=None, available_wh=None, min_soc_pct=None
)


def _reading(battery: BatteryReading | None) -> FlatReading:
    return FlatReading(pv=None, battery=battery, meter=None, living_room=None)


def _energy(facts: BatteryFacts, battery: BatteryReading) -> float | None:
    completed = facts.complete(_reading(battery)).battery
    assert completed is not None
    return energy_above_reserve_wh(completed)


def test_without_facts_the_energy_of_those_batteries_is_unknown() -> None:
    assert energy_above_reserve_wh(ECHONET) is None
    assert energy_above_reserve_wh(SUNSPEC_1XX) is None


def test_a_battery_without_a_reserve_keeps_the_default_one() -> None:
    facts = BatteryFacts({}, default_reserve=True)
    assert facts.reserve_pct == DEFAULT_RESERVE_PCT
    # 60 % − 30 % of a 10 kWh battery at 90 % health.
    assert _energy(facts, ECHONET) == pytest.approx(2700.0)
    chosen = BatteryFacts({"battery_reserve_pct": 50}, default_reserve=True)
    assert _energy(chosen, ECHONET) == pytest.approx(900.0)


def test_the_installers_capacity_completes_a_1xx_battery() -> None:
    assert _energy(BatteryFacts({}, default_reserve=False), SUNSPEC_1XX) is None
    facts = BatteryFacts({"battery_capacity_wh": 8000}, default_reserve=False)
    # 60 % − its own 20 % reserve of 8 kWh at 90 % health.
    assert _energy(facts, SUNSPEC_1XX) == pytest.approx(2880.0)


def test_what_the_device_reports_always_wins() -> None:
    facts = BatteryFacts(
        {"battery_capacity_wh": 1, "battery_reserve_pct": 90}, default_reserve=True
    )
    completed = facts.complete(_reading(BATTERY)).battery
    assert completed == BATTERY


def test_a_flat_without_a_battery_is_left_alone() -> None:
    reading = _reading(None)
    assert BatteryFacts({}, default_reserve=True).complete(reading) is reading
