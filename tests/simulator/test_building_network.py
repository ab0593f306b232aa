"""Every flat its own endpoint: fifty of them, fixed ports, vanishing and returning."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from pymodbus.exceptions import ModbusException

from devkit.ports import free_port_block
from simulator.model.scenarios import SCENARIOS, apply_scenario
from simulator.simulator import Simulator
from tests.simulator.building_probe import (
    EVENING,
    METER_UNIT,
    building_config,
    connect,
    running_building,
)
from tests.simulator.sim_probe import BASE, BATTERY

SUNS = [0x5375, 0x6E53]


async def _eventually(condition: Callable[[], bool], within_s: float) -> None:
    """Wait until ``condition`` holds, for at most ``within_s`` of real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, f"not within {within_s} s"
        await asyncio.sleep(0.01)


async def test_fifty_flats_start_and_answer_on_every_port() -> None:
    async with Simulator(building_config(flats=50)) as sim:
        ports = sim.ports
        assert len(ports) == len(set(ports.values())) == 50
        assert list(ports)[:3] == ["101", "102", "103"]
        assert list(ports)[-1] == "510"

        async def marker(port: int, unit: int) -> list[int]:
            probe = await connect(port)
            try:
                return await probe.read(unit, BASE, 2)
            finally:
                probe.client.close()

        answers = await asyncio.gather(
            *(marker(port, BATTERY) for port in ports.values()),
            marker(sim.meter_port, METER_UNIT),
        )
        assert all(answer == SUNS for answer in answers)


def _free_base(flats: int) -> int:
    """A free base port for the meter and ``flats`` free ports after it.

    The whole block lies below the kernel's ephemeral range.
    """
    return free_port_block(flats + 1)


async def test_fixed_ports_put_the_meter_on_the_base_and_flats_after_it() -> None:
    base = _free_base(3)
    async with Simulator(building_config(flats=3, base_port=base)) as sim:
        assert sim.meter_port == base
        assert sim.ports == {"101": base + 1, "102": base + 2, "103": base + 3}
        probe = await connect(base + 2)
        try:
            assert await probe.read(BATTERY, BASE, 2) == SUNS
        finally:
            probe.client.close()


async def test_a_taken_port_fails_the_start_and_leaves_nothing_open() -> None:
    base = _free_base(3)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 2))
        blocker.listen()
        sim = Simulator(building_config(flats=3, base_port=base))
        with pytest.raises(OSError, match="cannot listen"):
            await sim.start()
    for port in (base, base + 1):  # closed again: they can be bound
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))


async def test_a_vanished_flat_is_silent_until_it_returns() -> None:
    async with running_building(building_config(flats=3)) as (sim, probes, _):
        vanishing, staying = "102", "103"
        port = sim.ports[vanishing]
        # Its battery follows a setpoint (704) with a 60 s revert timer.
        controls, _ = (await probes[vanishing].models(BATTERY))[704]
        await probes[vanishing].write(BATTERY, controls + 31, [0, 60])  # WSetRvrtTms
        await probes[vanishing].write(BATTERY, controls + 24, [0, 300])  # WSet
        await probes[vanishing].write(BATTERY, controls + 22, [1])  # WSetEna
        await sim.vanish(vanishing)
        assert sim.state.vanished == (vanishing,)
        assert sim.listening(vanishing) is False
        with pytest.raises(ModbusException):
            await probes[vanishing].read(BATTERY, BASE, 2)
        # A new client gets a connection and no answer at all.
        silent = await connect(port, wait_s=0.3)
        try:
            with pytest.raises(ModbusException):
                await silent.read(BATTERY, BASE, 2)
        finally:
            silent.client.close()
        assert await probes[staying].read(BATTERY, BASE, 2) == SUNS
        # The flat itself lives on: it follows its setpoint until the timer ends it.
        sim.advance(30)
        assert sim.flat_state(vanishing).setpoint.enabled is True
        assert sim.flat_state(vanishing).battery.w == pytest.approx(300)
        sim.advance(31)
        assert sim.flat_state(vanishing).setpoint.enabled is False
        with pytest.raises(ValueError, match="vanished"):
            await sim.disconnect(1, flat_id=vanishing)

        await sim.return_flat(vanishing)
        assert sim.state.vanished == ()
        assert sim.ports[vanishing] == port
        back = await connect(port)
        try:
            assert await back.read(BATTERY, BASE, 2) == SUNS
        finally:
            back.client.close()


async def test_vanish_and_return_twice_and_a_disconnect_per_flat() -> None:
    async with running_building(building_config(flats=2)) as (sim, _, __):
        await sim.vanish("101")
        await sim.vanish("101")  # already gone: nothing changes
        await sim.return_flat("101")
        await sim.return_flat("101")
        assert sim.listening("101")
        await sim.disconnect(0.2, flat_id="102")
        assert not sim.listening("102")
        again = await connect(sim.ports["101"])  # the old connection was dropped
        try:
            assert await again.read(BATTERY, BASE, 2) == SUNS
        finally:
            again.client.close()
        # It listens again by itself (after 0.2 s; a busy machine may take longer).
        await _eventually(lambda: sim.listening("102"), within_s=10)
        # A building's flat counters can be glitched like a lone flat's.
        sim.glitch_counter("meter", "TotWhAbs", "zero", flat_id="101")
        with pytest.raises(ValueError, match="no counter"):
            sim.glitch_counter("pv", "TotWhAbs", "zero", flat_id="101")


async def test_a_running_clock_carries_out_the_scenario_on_the_network() -> None:
    scenario = SCENARIOS["flat_vanishes"]
    # At 300x flat 103 vanishes 2 s after the start and returns 4 s later: a stall
    # of the event loop would have to last 4 s to hide the gap from the test.
    config = scenario.config(
        flats=3, base_port=0, speed=300.0, tick_s=0.02, start=EVENING
    )
    async with Simulator(config) as sim:
        apply_scenario(scenario, sim.model)

        async def until(condition: Callable[[], bool]) -> None:
            await _eventually(condition, within_s=30)
            await sim.network_settled()

        await until(lambda: sim.state.vanished == ("103",))
        assert not sim.listening("103")
        assert 600 <= sim.state.elapsed_s < 1800
        await until(lambda: sim.state.vanished == ())
        assert sim.listening("103")
        assert sim.state.elapsed_s >= 1800


async def test_settling_right_after_a_flat_followed_its_vanish_returns() -> None:
    async with Simulator(building_config(flats=1)) as sim:
        # A follow that has just finished: done, but its done callback, which takes
        # it out of the pending set, has not run yet. Only a wait that yields lets
        # it run; one that does not would spin here for ever.
        finished = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        await finished
        sim._network_tasks.add(finished)  # the moment cannot be timed from outside
        async with asyncio.timeout(5):
            await sim.network_settled()
        await sim.vanish("101")
        assert sim.state.vanished == ("101",)
