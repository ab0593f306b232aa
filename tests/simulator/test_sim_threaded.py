"""A flat in its own thread serves a client in another thread or event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pymodbus.client import ModbusTcpClient

from simulator.simulator import Simulator
from simulator.threaded import run_flat_in_thread
from tests.simulator.sim_probe import UNIT_KEYWORD, lone, manual_config


def test_threaded_flat_serves_modbus_and_closes_cleanly() -> None:
    threads_before = set(threading.enumerate())
    flat = run_flat_in_thread(manual_config())
    try:
        assert flat.port > 0
        flat.advance(60)
        assert flat.state.elapsed_s == 60
        client = ModbusTcpClient(flat.host, port=flat.port, timeout=2, retries=0)
        assert client.connect()
        try:
            reply = client.read_holding_registers(40000, count=2, **{UNIT_KEYWORD: 2})
            assert reply.registers == [0x5375, 0x6E53]
            flat.set_fault("device_failure", True, "battery")
            reply = client.read_holding_registers(40000, count=2, **{UNIT_KEYWORD: 2})
            assert reply.isError()
            assert reply.exception_code == 4
        finally:
            client.close()
        flat.set_outage(True)
        flat.inject_sag(0.5, 1.0)
        flat.inject_frequency(0.5, 1.0)
        flat.set_flapping(1.0, 1.0, 0)
        flat.set_clouds(0.2)
        flat.glitch_counter("meter", "TotWhAbs", "zero")
        flat.disconnect(0.1)
        assert not flat.state.grid.up
        with pytest.raises(ValueError, match="cloud"):
            flat.set_clouds(2.0)
    finally:
        flat.close()
    flat.close()  # twice is harmless
    assert set(threading.enumerate()) <= threads_before


async def test_threaded_flat_works_beside_a_running_event_loop() -> None:
    with run_flat_in_thread(manual_config()) as flat:
        flat.advance(1)
        assert flat.state.grid.up
    with pytest.raises(RuntimeError, match="not running"):
        flat.advance(1)


def test_a_port_in_use_fails_at_start() -> None:
    with (
        run_flat_in_thread(manual_config()) as flat,
        pytest.raises(OSError, match="cannot listen"),
    ):
        run_flat_in_thread(manual_config(port=flat.port))


async def _next_tick(sim: Simulator) -> tuple[float, float, float]:
    """Wait for the clock's next tick.

    Returns the real (loop) time before and after the tick and the simulated
    elapsed seconds it reached: the tick itself happened between the two times.
    """
    loop = asyncio.get_running_loop()
    before, elapsed = loop.time(), sim.flat_state().elapsed_s
    deadline = before + 10
    while sim.flat_state().elapsed_s == elapsed:
        assert loop.time() < deadline, "the clock does not run"
        await asyncio.sleep(0.001)
    return before, loop.time(), sim.flat_state().elapsed_s


async def test_the_clock_runs_by_itself_at_the_chosen_speed() -> None:
    speed = 600.0
    config = manual_config(manual_clock=False, speed=speed, tick_s=0.02)
    async with lone(config) as sim:
        first_before, first_after, first = await _next_tick(sim)
        await asyncio.sleep(0.5)
        last_before, last_after, last = await _next_tick(sim)
    # The last tick came at least last_before - first_after and at most
    # last_after - first_before seconds of real time after the first, however long
    # the sleep or a stall took; the simulated time between them is that times the
    # speed.
    simulated = last - first
    assert simulated >= speed * (last_before - first_after) - 1e-6
    assert simulated <= speed * (last_after - first_before) + 1e-6
