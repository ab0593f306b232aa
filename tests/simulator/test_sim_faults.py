"""Injected faults: battery trip, a failing unit, a dropped link, counter glitches."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from pymodbus.client import AsyncModbusTcpClient

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


async def _counter(probe: Probe, unit: int, model_id: int, offset: int) -> int:
    start, _ = (await probe.models(unit))[model_id]
    return decode(await probe.read(unit, start + offset, 4), "u")


async def test_battery_fault_raises_the_alarm_and_stops_the_battery(
    sim: Simulator, probe: Probe
) -> None:
    sim.set_fault("battery", True)
    sim.advance(5)
    models = await probe.models(BATTERY)
    battery_start, _ = models[802]
    ac_start, _ = models[701]
    assert decode(await probe.read(BATTERY, battery_start + 26, 2), "u") & (1 << 1)
    assert await probe.read(BATTERY, ac_start + 4, 1) == [6]  # InvSt fault
    assert await probe.read(BATTERY, ac_start + 10, 1) == [0]  # W
    sim.set_fault("battery", False)
    sim.advance(5)
    assert decode(await probe.read(BATTERY, battery_start + 26, 2), "u") == 0
    assert sim.flat_state().battery.w != 0


async def test_a_failing_unit_answers_with_device_failure_alone(
    sim: Simulator, probe: Probe
) -> None:
    sim.set_fault("device_failure", True, "meter")
    with pytest.raises(ModbusError) as refused:
        await probe.read(METER, 40000, 2)
    assert refused.value.code == 4
    assert await probe.read(PV, 40000, 2) == [0x5375, 0x6E53]
    assert await probe.read(BATTERY, 40000, 2) == [0x5375, 0x6E53]
    sim.set_fault("device_failure", False, "meter")
    assert await probe.read(METER, 40000, 2) == [0x5375, 0x6E53]


async def test_fault_input_is_checked(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="role"):
        sim.set_fault("device_failure", True)
    with pytest.raises(ValueError, match="is not a valid FaultKind"):
        sim.set_fault("fire", True)


async def test_disconnect_drops_clients_and_comes_back_on_the_same_port(
    sim: Simulator, probe: Probe
) -> None:
    port = sim.port
    # Long enough that the refused connect below comes before the port reopens,
    # even on a busy machine.
    await sim.disconnect(2.0)
    assert not sim.listening()
    await asyncio.sleep(0.05)
    assert not probe.client.connected
    refused = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.3, retries=0)
    assert not await refused.connect()
    refused.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not sim.listening():
        assert loop.time() < deadline, "not listening again after 10 s"
        await asyncio.sleep(0.05)
    assert sim.port == port
    again = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await again.connect()
    try:
        assert await Probe(again).read(BATTERY, 40000, 2) == [0x5375, 0x6E53]
    finally:
        again.close()


# role, point → unit id, model, offset (docs/REGISTERS.md)
COUNTERS = {
    ("meter", "TotWhAbs"): (METER, 701, 23),
    ("meter", "TotWhInj"): (METER, 701, 19),
    ("pv", "TotWhInj"): (PV, 701, 19),
    ("battery", "TotWhAbs"): (BATTERY, 701, 23),
    ("battery", "TotWh"): (BATTERY, 64900, 4),
}


@pytest.mark.parametrize(("role", "point"), list(COUNTERS))
@pytest.mark.parametrize("kind", ["dip", "zero"])
async def test_a_counter_glitch_lasts_one_read(
    role: str, point: str, kind: str
) -> None:
    unit, model_id, offset = COUNTERS[(role, point)]
    # From 06:00 to 22:00 every counter has moved: morning import, noon export, PV,
    # charging, the living room.
    config = manual_config(start=datetime(2025, 6, 21, 6, 0), max_step_s=60.0)
    async with running(config) as (sim, probe):
        sim.advance(16 * 3600)
        true_wh = await _counter(probe, unit, model_id, offset)
        assert true_wh > 200
        sim.glitch_counter(role, point, kind)
        glitched = await _counter(probe, unit, model_id, offset)
        if kind == "zero":
            assert glitched == 0
        else:
            assert true_wh * 0.99 <= glitched < true_wh
        assert await _counter(probe, unit, model_id, offset) == true_wh


async def test_a_glitch_waits_for_a_read_that_covers_the_counter(
    sim: Simulator, probe: Probe
) -> None:
    sim.advance(3600)
    sim.glitch_counter("meter", "TotWhAbs", "zero")
    start, _ = (await probe.models(METER))[701]
    assert await probe.read(METER, start + 10, 1)  # W only: not the counter
    assert await _counter(probe, METER, 701, 23) == 0


async def test_glitch_input_is_checked(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="no counter"):
        sim.glitch_counter("pv", "TotWhAbs", "zero")
    with pytest.raises(ValueError, match="is not a valid GlitchKind"):
        sim.glitch_counter("meter", "TotWhAbs", "spike")
