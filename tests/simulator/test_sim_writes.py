"""Writable points are honoured and read back; everything else is refused."""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator.simulator import Simulator
from tests.simulator.sim_probe import (
    BATTERY,
    METER,
    PV,
    ModbusError,
    Probe,
    decode,
    manual_config,
    running,
)


async def _address(probe: Probe, unit: int, model_id: int, offset: int) -> int:
    start, _ = (await probe.models(unit))[model_id]
    return start + offset


def _int32(value: int) -> list[int]:
    raw = value & 0xFFFFFFFF
    return [raw >> 16, raw & 0xFFFF]


async def test_reserve_is_written_and_read_back(sim: Simulator, probe: Probe) -> None:
    reserve = await _address(probe, BATTERY, 802, 10)
    await probe.write(BATTERY, reserve, [355])
    assert await probe.read(BATTERY, reserve, 1) == [355]
    assert sim.flat_state().battery.reserve_pct == 35.5


@pytest.mark.parametrize("value", [1001, 0xFFFF])
async def test_reserve_above_100_percent_is_an_illegal_value(
    sim: Simulator, probe: Probe, value: int
) -> None:
    reserve = await _address(probe, BATTERY, 802, 10)
    with pytest.raises(ModbusError) as refused:
        await probe.write(BATTERY, reserve, [value])
    assert refused.value.code == 3
    assert sim.flat_state().battery.reserve_pct == 20.0


async def test_living_room_source_switches_and_refuses_other_values() -> None:
    # At night, with the battery below its reserve, self-consumption is off: what
    # the battery gives then is exactly the living room on its backup output.
    config = manual_config(start=datetime(2025, 6, 21, 2, 0), soc_pct=15.0)
    async with running(config) as (sim, probe):
        source = await _address(probe, BATTERY, 64900, 2)
        sim.advance(10)
        assert sim.flat_state().battery.w == 0
        await probe.write(BATTERY, source, [1])
        assert await probe.read(BATTERY, source, 1) == [1]
        state = sim.flat_state()
        assert state.living_room.on_battery
        assert state.battery.w == pytest.approx(state.living_room.w)
        assert state.meter.w == pytest.approx(-state.load.rest_w)
        with pytest.raises(ModbusError) as refused:
            await probe.write(BATTERY, source, [2])
        assert refused.value.code == 3
        await probe.write(BATTERY, source, [0])
        assert not sim.flat_state().living_room.on_battery
        assert sim.flat_state().battery.w == 0


@pytest.mark.parametrize(
    ("unit", "model_id", "offset", "size"),
    [
        (BATTERY, 802, 11, 1),  # SoC
        (BATTERY, 802, 19, 1),  # CtrlHb: writable in SunSpec, not here
        (BATTERY, 704, 33, 2),  # WSetRvrtRem
        (BATTERY, 64900, 3, 1),  # living-room W
        (PV, 701, 10, 1),
        (METER, 701, 19, 4),
        (METER, 1, 66, 1),  # DA
        (BATTERY, 704, 0, 1),  # the model id register
    ],
)
async def test_read_only_registers_refuse_writes(
    probe: Probe, unit: int, model_id: int, offset: int, size: int
) -> None:
    address = await _address(probe, unit, model_id, offset)
    before = await probe.read(unit, address, size)
    with pytest.raises(ModbusError) as refused:
        await probe.write(unit, address, [1] * size)
    assert refused.value.code == 2
    assert await probe.read(unit, address, size) == before


async def test_a_write_spanning_a_read_only_register_changes_nothing(
    sim: Simulator, probe: Probe
) -> None:
    reserve = await _address(probe, BATTERY, 802, 10)
    with pytest.raises(ModbusError) as refused:
        await probe.write(BATTERY, reserve, [300, 500])  # SoCRsvMin, SoC
    assert refused.value.code == 2
    assert sim.flat_state().battery.reserve_pct == 20.0


async def test_setpoint_is_followed_then_reverts_when_the_timer_runs_out(
    sim: Simulator, probe: Probe
) -> None:
    base = await _address(probe, BATTERY, 704, 0)
    await probe.write(BATTERY, base + 31, [0, 60])  # WSetRvrtTms 60 s
    await probe.write(BATTERY, base + 24, _int32(-400))  # WSet: charge 400 W
    await probe.write(BATTERY, base + 22, [1])  # WSetEna
    controls = await probe.read(BATTERY, base, 67)
    assert controls[22] == 1
    assert decode(controls[24:26], "i") == -400
    assert decode(controls[33:35], "u") == 60
    sim.advance(1)
    assert sim.flat_state().battery.w == pytest.approx(-400)
    assert sim.flat_state().setpoint.revert_remaining_s == 59
    sim.advance(30)
    await probe.write(BATTERY, base + 24, _int32(300))  # re-arms the timer
    sim.advance(59)
    assert sim.flat_state().setpoint.enabled
    assert sim.flat_state().battery.w == pytest.approx(300)
    sim.advance(1)
    controls = await probe.read(BATTERY, base, 67)
    assert controls[22] == 0  # WSetEnaRvrt
    assert decode(controls[24:26], "i") == 0  # WSetRvrt
    assert decode(controls[33:35], "u") == 0
    assert not sim.flat_state().setpoint.enabled


async def test_without_a_revert_time_the_setpoint_stays(
    sim: Simulator, probe: Probe
) -> None:
    base = await _address(probe, BATTERY, 704, 0)
    # WSet and WSetRvrt in one write, then enable; WSetRvrtTms stays 0.
    await probe.write(BATTERY, base + 24, [*_int32(200), *_int32(0)])
    await probe.write(BATTERY, base + 22, [1])
    sim.advance(3600)
    assert sim.flat_state().setpoint.enabled
    assert sim.flat_state().setpoint.revert_remaining_s == 0


async def test_setpoint_is_clipped_to_power_limit_and_reserve(
    sim: Simulator, probe: Probe
) -> None:
    base = await _address(probe, BATTERY, 704, 0)
    await probe.write(BATTERY, base + 24, _int32(5000))
    await probe.write(BATTERY, base + 22, [1])
    sim.advance(1)
    assert sim.flat_state().battery.w == pytest.approx(1000)  # WDisChaRteMax
    sim.advance(2 * 3600)  # 50 % → reserve 20 % takes ~35 min at 1 kW
    state = sim.flat_state()
    assert state.battery.soc_pct == pytest.approx(20.0, abs=0.2)
    assert state.battery.w < 50


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (22, [2]),  # WSetEna
        (23, [0]),  # WSetMod: only watts
        (30, [7]),  # WSetEnaRvrt
        (24, [0x8000, 0]),  # WSet: the "not implemented" value
    ],
)
async def test_bad_control_values_are_illegal_values(
    probe: Probe, offset: int, words: list[int]
) -> None:
    address = await _address(probe, BATTERY, 704, offset)
    with pytest.raises(ModbusError) as refused:
        await probe.write(BATTERY, address, words)
    assert refused.value.code == 3
