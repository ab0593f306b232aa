"""Scenarios and the building's variety: data-driven, and the same for the same seed."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from simulator.model.building import Building, UnknownFlatError
from simulator.model.config import BuildingConfig
from simulator.model.scenarios import (
    SCENARIOS,
    Scenario,
    Step,
    apply_scenario,
    load_scenario,
)
from simulator.threaded import run_building_in_thread
from tests.simulator.building_probe import building_config, connect
from tests.simulator.sim_probe import BASE, BATTERY


def _run(name: str, flats: int, seed: int, seconds: float) -> Building:
    scenario = SCENARIOS[name]
    building = Building(scenario.config(flats=flats, seed=seed, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(seconds)
    return building


def test_the_same_seed_gives_the_same_building_and_evening() -> None:
    first = _run("evening_peak", 8, 5, 1800).state().to_json(full=True)
    second = _run("evening_peak", 8, 5, 1800).state().to_json(full=True)
    assert first == second
    other = _run("evening_peak", 8, 6, 1800).state().to_json(full=True)
    assert other["flats"] != first["flats"]


def test_flats_differ_as_the_bands_say() -> None:
    config = BuildingConfig(flats=50, base_port=0)
    flats = config.flat_configs()
    capacities = [flat.battery.capacity_wh for flat in flats]
    assert all(1000 <= wh <= 10000 for wh in capacities)
    assert sum(wh <= 2000 for wh in capacities) == 30
    assert sum(wh >= 5000 for wh in capacities) == 5
    assert all(500 <= flat.pv_peak_w <= 3000 for flat in flats)
    assert len({flat.pv_peak_w for flat in flats}) > 30
    assert len({flat.load_scale for flat in flats}) > 30
    assert all(30 <= flat.soc_pct <= 90 for flat in flats)
    assert sum(flat.bus_wired for flat in flats) == 40
    assert [flat.flat for flat in flats[9:12]] == ["110", "201", "202"]
    # A large battery gets a larger inverter.
    big = max(flats, key=lambda flat: flat.battery.capacity_wh)
    assert big.battery.max_discharge_w > 1000


def test_evening_peak_raises_the_building_demand() -> None:
    scenario = SCENARIOS["evening_peak"]
    building = Building(scenario.config(flats=10, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(900)
    early_state = building.state()
    early = -early_state.meter.w
    building.advance(2 * 3600 + 900)  # 19:30, loads at 1.2×
    peak = building.state()
    assert building.common.scale == 1.2
    assert -peak.meter.w > 3 * early
    # By now the batteries have spent much of themselves, most down to the reserve.
    before = sum(f.battery.soc_pct for f in early_state.flats) / 10
    after = sum(f.battery.soc_pct for f in peak.flats) / 10
    assert after < before - 20
    assert sum(flat.battery.soc_pct < 21 for flat in peak.flats) >= 5
    assert [event.label for event in peak.scheduled] == ["loads"]


def test_a_household_out_for_the_evening_keeps_its_factor_through_the_peak() -> None:
    building = Building(BuildingConfig(flats=3, base_port=0, manual_clock=True))
    usual = {f: flat.load.scale for f, flat in building.flats.items()}
    building.set_household_load(0.3, flat_id="102")
    building.set_load_scale(2.5)
    scales = {f: flat.load.scale for f, flat in building.flats.items()}
    assert scales["101"] == pytest.approx(usual["101"] * 2.5)
    assert scales["102"] == pytest.approx(usual["102"] * 0.3 * 2.5)
    building.set_load_scale(1.0)
    assert building.flats["102"].load.scale == pytest.approx(usual["102"] * 0.3)
    with pytest.raises(ValueError, match="load factor"):
        building.set_household_load(-1, flat_id="102")
    with pytest.raises(UnknownFlatError):
        building.set_household_load(1.0, flat_id="999")
    assert building.flats["102"].load.scale == pytest.approx(usual["102"] * 0.3)


def test_an_outage_with_uneven_soc_darkens_the_empty_flats_unless_the_bus_helps() -> (
    None
):
    alone = _run("outage_uneven_soc", 10, 2, 300 + 3600)
    state = alone.state()
    assert not state.grid.up
    assert all(not flat.grid.up for flat in state.flats)
    full = [f for f in state.flats if f.battery.soc_pct > 30]
    assert all(f.living_room.powered and f.living_room.on_battery for f in full)
    dark = [f.flat for f in state.flats if not f.living_room.powered]
    assert len(dark) >= 3

    # The same outage with the full flats supporting the empty ones over the bus
    # (a stand-in for the flats' own coordination).
    scenario = SCENARIOS["outage_uneven_soc"]
    helped = Building(scenario.config(flats=10, seed=2, manual_clock=True))
    apply_scenario(scenario, helped)
    helped.advance(302)
    for flat in helped.state().flats:
        if not helped.flats[flat.flat].bus_wired:
            continue
        helped.set_bus_setpoint(
            300 if flat.battery.soc_pct > 30 else -300, flat_id=flat.flat
        )
    helped.advance(3600 - 2)
    state = helped.state()
    for flat in state.flats:
        if flat.flat in dark and helped.flats[flat.flat].bus_wired:
            assert flat.living_room.powered, flat.flat
    assert state.bus.imported_wh == pytest.approx(state.bus.exported_wh * 0.97)
    assert state.bus.imported_wh > 100
    # The grid comes back after two hours; living rooms go back to the grid.
    helped.advance(3 * 3600)
    state = helped.state()
    assert state.grid.up
    assert all(f.living_room.source == 0 and f.living_room.powered for f in state.flats)
    assert state.bus.exported_w == 0


def test_a_scenario_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "storm.json"
    path.write_text(
        json.dumps(
            {
                "name": "storm",
                "start": "2025-08-01T15:00",
                "duration_s": 600,
                "settings": {"soc_bands": [[1.0, 50, 60]], "cloud_cover": 0.9},
                "steps": [
                    {"at_s": 60, "action": "sag", "body": {"fraction": 0.7}},
                    {"at_s": 120, "action": "outage", "body": {"on": True}},
                    {
                        "at_s": 121,
                        "action": "fault",
                        "flats": [0, 3],
                        "body": {"kind": "battery", "on": True},
                    },
                ],
            }
        )
    )
    scenario = load_scenario(str(path))
    assert scenario.config(flats=3).soc_bands == ((1.0, 50, 60),)
    building = Building(scenario.config(flats=3, manual_clock=True))
    apply_scenario(scenario, building)
    assert len(building.state().scheduled) == 4  # flat 3 wraps round to 101
    building.advance(scenario.duration_s)
    state = building.state()
    assert not state.grid.up
    assert state.flat("101").battery.fault
    assert not state.flat("102").battery.fault
    assert state.cloud_cover == 0.9


def test_bad_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Step(0, "earthquake")
    with pytest.raises(ValueError, match="needs 'flats'"):
        Step(0, "vanish")
    with pytest.raises(ValueError, match="whole building"):
        Step(0, "outage", {"on": True}, flats="all")
    with pytest.raises(ValueError, match="before the start"):
        Step(-1, "outage", {"on": True})
    with pytest.raises(ValueError, match="true or false"):
        Step(0, "outage", {"on": "yes"})
    with pytest.raises(ValueError, match="source"):
        Step(0, "living_room", {"source": 7}, flats="all")
    with pytest.raises(ValueError, match="no scenario"):
        load_scenario("nowhere.json")
    with pytest.raises(ValueError, match="not a scenario"):
        Scenario.from_json({"name": "x"})
    with pytest.raises(ValueError, match="unknown settings"):
        Scenario.from_json(
            {
                "name": "x",
                "start": "2025-01-01T00:00",
                "duration_s": 1,
                "settings": {"colour": "red"},
            }
        )
    building = Building(building_config(flats=2))
    with pytest.raises(UnknownFlatError):
        building.vanish("999")
    with pytest.raises(ValueError, match="flat selector"):
        apply_scenario(
            Scenario("x", "", building.now, 1, {}, (Step(0, "vanish", flats="odd"),)),
            building,
        )


def test_a_building_in_its_own_thread() -> None:
    threads_before = set(threading.enumerate())
    scenario = SCENARIOS["flat_vanishes"]
    with run_building_in_thread(
        scenario.config(flats=3, base_port=0, manual_clock=True), scenario
    ) as building:
        ports = building.ports
        assert building.meter_port not in ports.values()
        building.advance(601)
        assert building.state.vanished == ("103",)
        building.return_flat("103")
        building.set_outage(True)
        building.inject_sag(0.5, 1)
        building.set_clouds(0.3)
        building.inject_frequency(0.2, 1)
        building.set_flapping(1, 1, 0)
        building.set_load_scale(1.1)
        building.set_bus_setpoint(-100, revert_s=30, flat_id="102")
        building.set_living_room(1, flat_id="102")
        building.glitch_counter("meter", "TotWhAbs", "dip", flat_id="102")
        building.set_fault("battery", True, flat_id="101")
        building.set_bus_available(False, flat_id="102")
        assert building.flat_state("102").bus is not None
        assert not building.state.grid.up
        building.vanish("102")
        building.return_flat("102")
        building.disconnect(0.1, flat_id="101")
        assert building.call(lambda sim: sim.listening("103"))

        async def read() -> list[int]:
            probe = await connect(ports["103"])
            try:
                return await probe.read(BATTERY, BASE, 2)
            finally:
                probe.client.close()

        assert asyncio.run(read()) == [0x5375, 0x6E53]
    with pytest.raises(RuntimeError, match="not running"):
        building.advance(1)
    assert set(threading.enumerate()) <= threads_before


def test_a_step_the_building_refuses_is_logged_and_time_goes_on() -> None:
    building = Building(building_config(flats=2))
    steps = (
        Step(10, "clouds", {"cover": 2.0}),  # a number, but no sky is 200 % cloudy
        Step(20, "outage", {"on": True}),
    )
    apply_scenario(Scenario("x", "", building.now, 30, {}, steps), building)
    building.advance(30)
    state = building.state()
    assert state.event_errors == ("clouds at 10 s: cloud cover must be within 0–1",)
    assert not state.grid.up
    assert state.to_json()["event_errors"] == list(state.event_errors)
