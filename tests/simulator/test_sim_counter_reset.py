"""A counter reset: a meter's lifetime Wh register starts again from 0."""

from __future__ import annotations

import json
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from simulator.control_api import build_control_app
from simulator.model.building import Building
from simulator.model.config import BuildingConfig
from simulator.model.scenarios import Scenario, apply_scenario
from simulator.simulator import Simulator
from tests.simulator.sim_probe import Probe, manual_config, running
from tests.simulator.test_sim_faults import COUNTERS, _counter

# role, point → the state's (unit, register field, exact energy field)
FIELDS = {
    ("meter", "TotWhAbs"): ("meter", "tot_wh_abs", "imported_wh"),
    ("meter", "TotWhInj"): ("meter", "tot_wh_inj", "exported_wh"),
    ("pv", "TotWhInj"): ("pv", "tot_wh_inj", "produced_wh"),
    ("battery", "TotWhAbs"): ("battery", "tot_wh_abs", "charged_wh"),
    ("battery", "TotWh"): ("living_room", "tot_wh", "energy_wh"),
}


def _readings(sim: Simulator, role: str, point: str) -> tuple[int, float]:
    """The register and the exact energy the state shows for that counter."""
    unit, register, exact = FIELDS[(role, point)]
    part = getattr(sim.flat_state(), unit)
    return getattr(part, register), getattr(part, exact)


@pytest.mark.parametrize(("role", "point"), list(COUNTERS))
async def test_a_reset_counter_restarts_from_zero_and_counts_on(
    role: str, point: str
) -> None:
    unit, model_id, offset = COUNTERS[(role, point)]
    # 06:00 to 22:00 moves every counter; 22:00 to 06:00 the meter imports, and
    # PV, charging and the living room are checked to start from 0 again.
    config = manual_config(start=datetime(2025, 6, 21, 6, 0), max_step_s=60.0)
    async with running(config) as (sim, probe):
        sim.advance(16 * 3600)
        shown = await _counter(probe, unit, model_id, offset)
        assert shown > 200
        _, exact_before = _readings(sim, role, point)
        assert sim.reset_counter(role, point) == shown
        assert await _counter(probe, unit, model_id, offset) == 0
        assert _readings(sim, role, point) == (0, exact_before)
        sim.advance(16 * 3600)
        after = await _counter(probe, unit, model_id, offset)
        register, exact = _readings(sim, role, point)
        assert after == register
        # What the device measured is what it showed before plus after the reset.
        assert 0 <= exact - (shown + after) < 2
        # It stays reset: reads after it count on from the new start.
        assert await _counter(probe, unit, model_id, offset) == after


async def test_a_reset_leaves_the_other_counters_alone(
    sim: Simulator, probe: Probe
) -> None:
    sim.advance(3 * 3600)
    before = sim.flat_state()
    sim.reset_counter("meter", "TotWhAbs")
    after = sim.flat_state()
    assert after.meter.tot_wh_abs == 0
    assert after.meter.tot_wh_inj == before.meter.tot_wh_inj
    assert after.pv.tot_wh_inj == before.pv.tot_wh_inj
    assert after.battery.tot_wh_inj == before.battery.tot_wh_inj


async def test_reset_input_is_checked(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="no counter"):
        sim.reset_counter("pv", "TotWhAbs")
    with pytest.raises(ValueError, match="no counter"):
        sim.reset_counter("battery", "TotWhExp")  # no building bus on a lone flat
    with pytest.raises(ValueError, match="is not a valid UnitRole"):
        sim.reset_counter("heater", "TotWhAbs")


async def _post(
    session: aiohttp.ClientSession, url: str, body: object
) -> tuple[int, dict[str, object]]:
    async with session.post(url, data=json.dumps(body)) as response:
        return response.status, await response.json()


async def test_the_control_api_resets_a_counter_of_a_flat() -> None:
    config = BuildingConfig(
        flats=2, base_port=0, manual_clock=True, start=datetime(2025, 1, 15, 19, 0)
    )
    async with Simulator(config) as sim:
        sim.advance(1800)
        assert sim.flat_state("102").meter.tot_wh_abs > 0
        runner = web.AppRunner(build_control_app(sim))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/flats"
        try:
            async with aiohttp.ClientSession() as session:
                body = {"role": "meter", "point": "TotWhAbs"}
                status, answer = await _post(session, f"{url}/102/reset_counter", body)
                assert status == 200, answer
                state = answer["state"]
                assert isinstance(state, dict)
                assert state["meter"]["tot_wh_abs"] == 0
                assert state["meter"]["imported_wh"] > 0
                status, answer = await _post(
                    session, f"{url}/102/reset_counter", {"role": "meter", "point": "X"}
                )
                assert status == 400
                assert "no counter" in str(answer["error"])
                status, _ = await _post(session, f"{url}/999/reset_counter", body)
                assert status == 404
        finally:
            await runner.cleanup()
        assert sim.flat_state("101").meter.tot_wh_abs > 0


def test_a_scenario_step_resets_a_counter() -> None:
    scenario = Scenario.from_json(
        {
            "name": "meter swap",
            "start": "2025-01-15T19:00",
            "duration_s": 120,
            # Batteries at their reserve and big loads: the meters import.
            "settings": {"soc_bands": [[1.0, 10.0, 11.0]], "load_scale": [3.0, 4.0]},
            "steps": [
                {
                    "at_s": 60,
                    "action": "reset_counter",
                    "flats": [1],
                    "body": {"role": "meter", "point": "TotWhAbs"},
                }
            ],
        }
    )
    building = Building(scenario.config(flats=2, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(59)
    early = building.flat_state("102").meter
    assert early.tot_wh_abs == int(early.imported_wh) > 0
    building.advance(61)
    swapped = building.flat_state("102").meter
    # Counted from the reset at 60 s on, not from the start.
    assert 0 < swapped.tot_wh_abs <= swapped.imported_wh - early.imported_wh
