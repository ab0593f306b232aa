"""Fixtures: a flat simulator on a free 127.0.0.1 port and a plain Modbus client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient

from simulator.simulator import Simulator
from tests.simulator.sim_probe import Probe, lone, manual_config


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The simulator is a real server on 127.0.0.1 (the test plugin blocks sockets)."""


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = lone(manual_config())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def probe(sim: Simulator) -> AsyncIterator[Probe]:
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=2, retries=0)
    assert await client.connect()
    try:
        yield Probe(client)
    finally:
        client.close()
