"""Injected battery degradation: physics, scenario steps and the control API."""

from __future__ import annotations

import json
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from simulator.control_api import build_control_app
from simulator.model.building import Building
from simulator.model.config import BuildingConfig, FlatConfig
from simulator.model.json_input import BadRequestError
from simulator.model.scenarios import SCENARIOS, Scenario, apply_scenario
from simulator.physics.battery import Battery, BatterySpec, Degradation
from simulator.simulator import Simulator

NIGHT = datetime(2025, 1, 15, 1, 0)


def _resting(spec: BatterySpec, degradation: Degradation, hours: int) -> Battery:
    battery = Battery(spec, soc_pct=80.0, soh_pct=100.0)
    battery.degrade(degradation)
    for _ in range(hours):
        battery.run(0.0, 5.0, 3600.0)
    return battery


def test_capacity_fades_by_the_injected_rate_per_day() -> None:
    spec = BatterySpec()
    battery = _resting(spec, Degradation(fade_pct_per_day=0.5), 24 * 4)
    # At rest nothing cycles: all of the loss is the injected 4 × 0.5 %.
    assert battery.soh == pytest.approx(0.98, abs=1e-9)
    assert battery.usable_wh == pytest.approx(0.98 * spec.capacity_wh)


def test_self_discharge_rises_by_the_injected_rate() -> None:
    spec = BatterySpec()
    healthy = _resting(spec, Degradation(), 24 * 10)
    worn = _resting(spec, Degradation(self_discharge_pct_per_month=27.0), 24 * 10)
    healthy_loss = 80.0 - healthy.soc * 100
    worn_loss = 80.0 - worn.soc * 100
    # 3 %/month against 30 %/month of what is stored: ten times the loss.
    assert worn_loss == pytest.approx(10 * healthy_loss, rel=0.05)


def test_an_efficiency_drop_loses_more_on_the_way_in_and_out() -> None:
    spec = BatterySpec()
    results = []
    for loss in (0.0, 5.0):
        battery = Battery(spec, soc_pct=20.0, soh_pct=100.0)
        battery.degrade(Degradation(efficiency_loss_pct=loss))
        charged = sum(-battery.run(-500.0, 5.0, 60.0) for _ in range(60)) / 60
        soc_up = battery.soc - 0.2
        results.append(soc_up / charged)
    # Self-discharge during the hour is the only other (tiny) difference.
    assert results[1] / results[0] == pytest.approx(0.95, rel=1e-4)


def test_a_weak_cell_limits_the_pack_and_spreads_the_cells_near_empty() -> None:
    spec = BatterySpec()
    healthy = Battery(spec, soc_pct=10.0, soh_pct=100.0)
    worn = Battery(spec, soc_pct=10.0, soh_pct=100.0)
    stored = worn.stored_wh
    worn.degrade(Degradation(weak_cell_pct=85.0))
    assert worn.usable_wh == pytest.approx(0.85 * spec.capacity_wh)
    assert worn.stored_wh == pytest.approx(stored)  # no energy made or lost
    worn.soc = healthy.soc = 0.08
    high, low = healthy.cell_voltages()
    worn_high, worn_low = worn.cell_voltages()
    # The weak cell is nearly empty while the others still hold some charge.
    assert worn_high - worn_low > 3 * (high - low)
    assert worn_low <= low + 0.006 + 1e-9  # the spread aside, the same cell voltage


def test_out_of_range_degradation_is_refused_and_changes_nothing() -> None:
    battery = Battery(BatterySpec(), soc_pct=50.0, soh_pct=100.0)
    with pytest.raises(ValueError, match="weak_cell_pct"):
        battery.degrade(Degradation(weak_cell_pct=20.0))
    assert battery.degradation == Degradation()


def test_a_scenario_step_degrades_one_flat_at_its_time() -> None:
    scenario = Scenario.from_json(
        {
            "name": "ageing",
            "start": "2025-01-15T01:00",
            "duration_s": 7200,
            "steps": [
                {
                    "at_s": 3600,
                    "action": "degrade",
                    "flats": [1],
                    "body": {"fade_pct_per_day": 2.4},
                }
            ],
        }
    )
    building = Building(scenario.config(flats=2, seed=3, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(1800)
    assert building.flat("102").battery.degradation == Degradation()
    building.advance(5400)
    worn = building.flat("102").battery
    assert worn.degradation.fade_pct_per_day == 2.4
    healthy_soh = building.flat("101").battery.soh
    # One hour at 2.4 %/day is 0.1 %, on top of whatever cycling did.
    assert worn.soh < healthy_soh - 0.0009
    assert building.flat("102").state().battery.degradation.fade_pct_per_day == 2.4


def test_a_scenario_with_an_unknown_degradation_is_refused_when_read() -> None:
    step = {"at_s": 1, "action": "degrade", "flats": 0, "body": {"fade": 1}}
    data = {"name": "bad", "start": "2025-01-15T01:00", "duration_s": 60}
    with pytest.raises(BadRequestError, match="unknown degradation: fade"):
        Scenario.from_json({**data, "steps": [step]})


async def _post(
    session: aiohttp.ClientSession, url: str, body: object
) -> tuple[int, dict[str, object]]:
    async with session.post(url, data=json.dumps(body)) as response:
        return response.status, await response.json()


async def test_the_control_api_degrades_a_lone_flat_and_refuses_bad_bodies() -> None:
    config = BuildingConfig.of_flat(FlatConfig(port=0, manual_clock=True, start=NIGHT))
    async with Simulator(config) as sim:
        runner = web.AppRunner(build_control_app(sim))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/degrade"
        try:
            async with aiohttp.ClientSession() as session:
                body = {"efficiency_loss_pct": 4.0, "weak_cell_pct": 90.0}
                status, answer = await _post(session, url, body)
                assert status == 200, answer
                state = answer["state"]
                assert isinstance(state, dict)
                assert state["battery"]["degradation"] == {
                    "fade_pct_per_day": 0.0,
                    "self_discharge_pct_per_month": 0.0,
                    "efficiency_loss_pct": 4.0,
                    "weak_cell_pct": 90.0,
                }
                status, answer = await _post(session, url, {"weak_cell_pct": 10})
                assert status == 400
                assert "weak_cell_pct" in str(answer["error"])
                status, answer = await _post(session, url, {"fade": 1})
                assert status == 400
        finally:
            await runner.cleanup()
        assert sim.flat_state().battery.degradation.efficiency_loss_pct == 4.0


def test_the_ageing_scenario_degrades_four_batteries_after_a_month() -> None:
    scenario = SCENARIOS["ageing_batteries"]
    building = Building(scenario.config(flats=5, seed=2, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(30 * 86400 - 60)
    assert all(
        flat.battery.degradation == Degradation() for flat in building.flats.values()
    )
    building.advance(120)
    worn = [building.flats[f].battery.degradation for f in ("102", "103", "104", "105")]
    assert worn == [
        Degradation(fade_pct_per_day=0.2),
        Degradation(self_discharge_pct_per_month=27.0),
        Degradation(efficiency_loss_pct=3.0),
        Degradation(weak_cell_pct=90.0),
    ]
    assert building.flats["101"].battery.degradation == Degradation()
