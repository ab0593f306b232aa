"""Every point in docs/REGISTERS.md reads what the flat's state says, with its signs."""

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
    running,
)


async def _model(probe: Probe, unit: int, model_id: int) -> list[int]:
    start, length = (await probe.models(unit))[model_id]
    return await probe.read(unit, start, 2 + length)


def _u(words: list[int], offset: int, size: int = 1) -> int:
    return decode(words[offset : offset + size], "u")


def _i(words: list[int], offset: int, size: int = 1) -> int:
    return decode(words[offset : offset + size], "i")


async def test_ac_measurement_points_match_the_state(
    sim: Simulator, probe: Probe
) -> None:
    sim.advance(30)
    state = sim.flat_state()
    for unit, power_w, connected, injected, absorbed in (
        (PV, state.pv.w, state.pv.connected, state.pv.tot_wh_inj, 0),
        (
            BATTERY,
            state.battery.w,
            state.battery.connected,
            state.battery.tot_wh_inj,
            state.battery.tot_wh_abs,
        ),
        (
            METER,
            state.meter.w,
            state.meter.connected,
            state.meter.tot_wh_inj,
            state.meter.tot_wh_abs,
        ),
    ):
        ac = await _model(probe, unit, 701)
        assert ac[0] == 701
        assert (_i(ac, 114), _i(ac, 115), _i(ac, 116), _i(ac, 120)) == (-1, -3, 0, 0)
        assert ac[5] == int(connected)
        assert _i(ac, 10) == pytest.approx(power_w, abs=1)
        assert _u(ac, 16) / 10 == pytest.approx(state.grid.voltage_v, abs=0.05)
        assert _u(ac, 17, 2) / 1000 == pytest.approx(state.grid.frequency_hz, abs=5e-4)
        assert _u(ac, 19, 4) == injected
        assert _u(ac, 23, 4) == absorbed
    pv_ac = await _model(probe, PV, 701)
    assert (pv_ac[3], pv_ac[4]) == (1, state.pv.inverter_state)
    battery_ac = await _model(probe, BATTERY, 701)
    assert battery_ac[4] == state.battery.inverter_state == 3


async def test_battery_models_match_the_state(sim: Simulator, probe: Probe) -> None:
    sim.advance(30)
    battery = sim.flat_state().battery
    storage = await _model(probe, BATTERY, 713)
    assert (_i(storage, 7), _i(storage, 8)) == (0, -1)
    assert _u(storage, 2) == battery.rated_wh == 2000
    assert _u(storage, 3) == pytest.approx(battery.available_wh, abs=0.5)
    assert _u(storage, 4) / 10 == pytest.approx(battery.soc_pct, abs=0.05)
    assert _u(storage, 5) / 10 == pytest.approx(battery.soh_pct, abs=0.05)
    assert storage[6] == 0  # Sta OK

    bat = await _model(probe, BATTERY, 802)
    scale = {name: _i(bat, off) for name, off in (("wh", 53), ("w", 54), ("soc", 56))}
    assert scale == {"wh": 0, "w": 0, "soc": -1}
    assert (_i(bat, 58), _i(bat, 60), _i(bat, 63)) == (-1, -3, 0)
    assert _u(bat, 3) == 2000
    assert (_u(bat, 4), _u(bat, 5)) == (1000, 1000)
    assert _u(bat, 8) / 10 == battery.soc_min_pct == 5.0
    assert _u(bat, 10) / 10 == battery.reserve_pct == 20.0
    assert _u(bat, 11) / 10 == pytest.approx(battery.soc_pct, abs=0.05)
    assert _u(bat, 13) / 10 == pytest.approx(battery.soh_pct, abs=0.05)
    assert _u(bat, 14, 2) == battery.cycles
    assert _u(bat, 18) == battery.heartbeat == 30
    assert _u(bat, 26, 2) == battery.alarms == 0
    assert _u(bat, 37) / 1000 == pytest.approx(battery.cell_v_max, abs=5e-4)
    assert _u(bat, 40) / 1000 == pytest.approx(battery.cell_v_min, abs=5e-4)
    assert _i(bat, 47) == pytest.approx(battery.w, abs=1)


async def test_controls_and_living_room_match_the_state(
    sim: Simulator, probe: Probe
) -> None:
    sim.advance(30)
    state = sim.flat_state()
    controls = await _model(probe, BATTERY, 704)
    assert (controls[22], controls[23]) == (0, 1)  # WSetEna off, WSetMod watts
    assert _i(controls, 24, 2) == state.setpoint.setpoint_w == 0
    assert _i(controls, 55) == 0  # WSet_SF
    assert _u(controls, 31, 2) == _u(controls, 33, 2) == 0
    room = await _model(probe, BATTERY, 64900)
    assert room[:2] == [64900, 8]
    assert room[2] == state.living_room.source == 0
    assert room[3] == pytest.approx(state.living_room.w, abs=1)
    assert 40 <= room[3] <= 250
    assert _u(room, 4, 4) == state.living_room.tot_wh
    assert room[8] == 1
    assert _i(room, 9) == 0


async def test_signs_at_sunny_noon_and_at_night() -> None:
    # A full battery at noon cannot take the surplus: the meter exports.
    noon = manual_config(soc_pct=100.0)
    night = manual_config(start=datetime(2025, 6, 21, 2, 0), soc_pct=60.0)
    async with lone(noon) as sim:
        sim.advance(10)
        state = sim.flat_state()
        assert state.pv.w > 1000
        assert state.meter.w > 0  # + export
    async with running(manual_config(soc_pct=40.0)) as (sim, probe):
        sim.advance(10)
        assert sim.flat_state().battery.w < 0  # − charging from the surplus
        assert (await _model(probe, BATTERY, 701))[10] >= 0x8000  # negative int16
    async with lone(night) as sim:
        sim.advance(10)
        state = sim.flat_state()
        assert state.pv.w == 0
        assert state.battery.w > 0  # + discharging to cover the night load
        assert abs(state.meter.w) < 1  # self-consumption: nothing drawn
        # The reserve is reached: the grid takes over.
        sim.model.flat().reserve_pct = 60.0
        sim.advance(10)
        assert sim.flat_state().meter.w < 0  # − import
        assert sim.flat_state().battery.w == 0


async def test_counters_only_grow_over_a_day(sim: Simulator, probe: Probe) -> None:
    previous: dict[tuple[int, int], int] = {}
    for _ in range(24):
        sim.advance(3600)
        for unit, model_id, offset in (
            (PV, 701, 19),
            (BATTERY, 701, 19),
            (BATTERY, 701, 23),
            (METER, 701, 19),
            (METER, 701, 23),
            (BATTERY, 64900, 4),
        ):
            value = await probe.point(unit, model_id, offset, "u64")
            assert value >= previous.get((unit, offset + model_id), 0)
            previous[(unit, offset + model_id)] = value
    assert all(value > 0 for value in previous.values())
