"""Helpers for the building tests: a started building and plain Modbus clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from simulator.model.config import BuildingConfig
from simulator.model.state import BusState, FlatState
from simulator.simulator import Simulator
from tests.simulator.sim_probe import Probe

# A winter evening: no sun, living rooms at their evening draw.
EVENING = datetime(2025, 1, 15, 19, 0)
METER_UNIT = 1
BUS_MODEL = 64901
# Model 64901 offsets from its id register (docs/SIMULATOR.md).
AVAIL, ST, WSET, W, TOT_WH_EXP, TOT_WH_IMP, RVRT_TMS, RVRT_REM = (
    2,
    3,
    4,
    5,
    6,
    10,
    14,
    16,
)


def building_config(**changes: Any) -> BuildingConfig:
    settings: dict[str, Any] = {
        "flats": 4,
        "base_port": 0,
        "manual_clock": True,
        "start": EVENING,
    }
    settings.update(changes)
    return BuildingConfig(**settings)


async def connect(port: int, wait_s: float = 2.0) -> Probe:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=wait_s, retries=0)
    assert await client.connect()
    return Probe(client)


@asynccontextmanager
async def running_building(
    config: BuildingConfig,
) -> AsyncIterator[tuple[Simulator, dict[str, Probe], Probe]]:
    """A started building, a client per flat and one for the building meter."""
    async with Simulator(config) as sim, AsyncExitStack() as stack:
        probes: dict[str, Probe] = {}
        for flat_id, port in sim.ports.items():
            probe = await connect(port)
            stack.callback(probe.client.close)
            probes[flat_id] = probe
        meter = await connect(sim.meter_port)
        stack.callback(meter.client.close)
        yield sim, probes, meter


async def bus_address(probe: Probe, offset: int) -> int:
    start, _ = (await probe.models(2))[BUS_MODEL]
    return start + offset


def bus_of(flat: FlatState) -> BusState:
    """The flat's side of the bus (every building flat has one)."""
    assert flat.bus is not None
    return flat.bus
