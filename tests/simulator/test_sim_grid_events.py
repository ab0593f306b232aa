"""Outages, sags, frequency excursions and a flapping grid, as the units report them."""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator.simulator import Simulator
from tests.simulator.sim_probe import (
    BATTERY,
    METER,
    PV,
    Probe,
    decode,
    lone,
    manual_config,
)


async def _ac(probe: Probe, unit: int) -> list[int]:
    start, length = (await probe.models(unit))[701]
    return await probe.read(unit, start, 2 + length)


async def _living_room(probe: Probe) -> list[int]:
    start, length = (await probe.models(BATTERY))[64900]
    return await probe.read(BATTERY, start, 2 + length)


async def test_outage_takes_everything_off_the_grid_and_darkens_the_living_room(
    sim: Simulator, probe: Probe
) -> None:
    sim.advance(10)
    before = sim.flat_state()
    sim.set_outage(True)
    sim.advance(5)
    meter = await _ac(probe, METER)
    assert meter[16] == 0  # LNV
    assert decode(meter[17:19], "u") == 0  # Hz
    assert meter[10] == 0  # W
    for unit in (PV, BATTERY, METER):
        assert (await _ac(probe, unit))[5] == 0  # ConnSt: anti-islanding
    assert (await _ac(probe, PV))[10] == 0  # a grid-tied inverter stops
    room = await _living_room(probe)
    assert (room[3], room[8]) == (0, 0)  # W, Pwr: dark with Src = grid
    state = sim.flat_state()
    assert state.meter.tot_wh_abs == before.meter.tot_wh_abs
    assert state.battery.w == 0


async def test_in_an_outage_the_battery_keeps_the_living_room_lit_until_soc_min() -> (
    None
):
    config = manual_config(start=datetime(2025, 6, 21, 20, 0), soc_pct=8.0)
    async with lone(config) as sim:
        sim.model.flat().source = sim.model.flat().source.BATTERY
        sim.set_outage(True)
        sim.advance(60)
        state = sim.flat_state()
        assert state.living_room.powered
        assert state.battery.w == pytest.approx(state.living_room.w)
        assert state.battery.w > 100  # evening: TV and lights
        assert state.meter.w == 0
        assert not state.battery.connected
        # 3 % of 2 kWh at ~230 W lasts about 15 minutes.
        sim.advance(3600)
        state = sim.flat_state()
        assert not state.living_room.powered
        assert state.battery.soc_pct == pytest.approx(5.0, abs=0.2)
        assert state.battery.w == 0
        sim.set_outage(False)
        assert sim.flat_state().living_room.powered
        assert sim.flat_state().grid.voltage_v > 90


async def test_the_reserve_is_for_outages_only() -> None:
    config = manual_config(start=datetime(2025, 6, 21, 20, 0), soc_pct=20.0)
    async with lone(config) as sim:
        sim.advance(60)
        assert sim.flat_state().battery.w == 0  # at the reserve: no self-consumption
        sim.model.flat().source = sim.model.flat().source.BATTERY
        sim.set_outage(True)
        sim.advance(60)
        assert sim.flat_state().battery.w > 0
        assert sim.flat_state().battery.soc_pct < 20.0


async def test_inverters_wait_before_reconnecting_after_an_outage() -> None:
    async with lone(manual_config(reconnect_delay_s=300)) as sim:
        sim.advance(5)
        assert sim.flat_state().pv.connected
        sim.set_outage(True)
        sim.advance(60)
        sim.set_outage(False)
        sim.advance(299)
        state = sim.flat_state()
        assert state.meter.connected
        assert not state.pv.connected
        assert state.pv.w == 0
        sim.advance(2)
        assert sim.flat_state().pv.connected
        assert sim.flat_state().pv.w > 0


async def test_a_sag_shows_for_its_duration_then_recovers(
    sim: Simulator, probe: Probe
) -> None:
    sim.inject_sag(0.6, 0.2)
    meter = await _ac(probe, METER)
    assert meter[16] == 600  # 60.0 V of 100 V
    assert meter[5] == 1  # a short sag does not disconnect
    sim.advance(0.1)
    assert sim.flat_state().grid.voltage_v == pytest.approx(60.0)
    sim.advance(0.15)
    assert (await _ac(probe, METER))[16] == pytest.approx(1000, abs=30)


async def test_a_frequency_excursion_shows_at_the_meter(
    sim: Simulator, probe: Probe
) -> None:
    sim.inject_frequency(-1.5, 2.0)
    sim.advance(1)
    assert decode((await _ac(probe, METER))[17:19], "u") == 58500
    sim.advance(1.5)
    assert decode((await _ac(probe, METER))[17:19], "u") == pytest.approx(60000, abs=60)


async def test_a_flapping_grid_goes_down_and_up_then_stays_up(
    sim: Simulator,
) -> None:
    sim.set_flapping(up_seconds=2, down_seconds=1, cycles=3)
    seen = []
    for _ in range(12):
        sim.advance(0.5)
        seen.append(sim.flat_state().grid.up)
    assert seen == [True, True, True, False, False, True] * 2
    sim.advance(3)
    assert sim.flat_state().grid.up


async def test_a_50_hz_area_at_230_v() -> None:
    async with lone(manual_config(area_hz=50, nominal_v=230.0)) as sim:
        sim.advance(10)
        grid = sim.flat_state().grid
        assert grid.frequency_hz == pytest.approx(50.0, abs=0.1)
        assert grid.voltage_v == pytest.approx(230.0, rel=0.05)
