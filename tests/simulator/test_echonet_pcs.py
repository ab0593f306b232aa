"""The simulator's multi-input PCS (ECHONET Lite class 0x02A5) over real UDP.

Served only when the flat says so: listed in the node profile, with property maps,
the AC-side power and the energy each way from the same physics as the battery and
solar objects, the grid-connection state, and the objects it connects.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from simulator.echonet import frame as f
from simulator.echonet_nodes import EchonetNodes
from simulator.model.config import BuildingConfig, FlatConfig
from simulator.simulator import Simulator
from tests.simulator.echonet_probe import EchonetProbe

PCS = (0x02, 0xA5, 0x01)
BATTERY = (0x02, 0x7D, 0x01)
SOLAR = (0x02, 0x79, 0x01)
NODE = (0x0E, 0xF0, 0x01)
MIDDAY = datetime(2026, 6, 21, 12, 0)
ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"ECHONET Lite on UDP [\d.]+:(\d+); control API on http")

type Running = tuple[Simulator, EchonetProbe]


def _flat(*, pcs: bool) -> BuildingConfig:
    return BuildingConfig.of_flat(
        FlatConfig(port=0, manual_clock=True, start=MIDDAY, echonet_pcs=pcs)
    )


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with (
        Simulator(_flat(pcs=True)) as sim,
        EchonetNodes(sim) as nodes,
        EchonetProbe(nodes.port()) as probe,
    ):
        yield sim, probe


async def _get(probe: EchonetProbe, eoj: f.Eoj, *epcs: int) -> dict[int, bytes]:
    answer = await probe.ask(eoj, f.GET, [(epc, b"") for epc in epcs])
    assert answer is not None
    assert answer.esv == f.GET_RES, answer
    return dict(answer.props)


def _map(edt: bytes) -> set[int]:
    if edt[0] < 16:
        return set(edt[1:])
    return {
        0x80 + i + 0x10 * b for i in range(16) for b in range(8) if edt[1 + i] >> b & 1
    }


async def test_the_node_lists_the_pcs_with_its_property_maps(running: Running) -> None:
    _, probe = running
    listed = (await _get(probe, NODE, 0xD6))[0xD6]
    assert listed[0] == 5
    assert bytes(PCS) in {listed[1 + 3 * i : 4 + 3 * i] for i in range(5)}
    maps = await _get(probe, PCS, 0x9D, 0x9E, 0x9F)
    assert _map(maps[0x9F]) >= {0x80, 0x83, 0x88, 0xD0, 0xE0, 0xE3, 0xE7, 0xE8}
    assert _map(maps[0x9E]) == set()
    # It names the objects behind it: the battery and the solar power.
    connected = (await _get(probe, PCS, 0xE8))[0xE8]
    assert connected == bytes((2, *BATTERY, *SOLAR))


async def test_power_and_energy_follow_the_physics(running: Running) -> None:
    sim, probe = running
    sim.advance(1800)
    state = sim.flat_state()
    values = await _get(probe, PCS, 0xE7, 0xE0, 0xE3, 0xD0)
    # + while converting AC to DC, so a PCS giving PV and battery power out is −.
    power = int.from_bytes(values[0xE7], "big", signed=True)
    assert power == -round(state.pv.w + state.battery.w)
    assert power < 0  # midsummer noon: the PCS gives power out
    flat = sim.model.flats["101"]
    assert int.from_bytes(values[0xE3], "big") == flat.conditioner_out.register_wh
    assert int.from_bytes(values[0xE3], "big") > 0
    assert int.from_bytes(values[0xE0], "big") == flat.conditioner_in.register_wh
    assert values[0xD0] == b"\x00"  # on the grid, reverse flow allowed


async def test_an_outage_shows_as_independent_operation(running: Running) -> None:
    sim, probe = running
    sim.set_outage(True)
    sim.advance(2)
    assert (await _get(probe, PCS, 0xD0))[0xD0] == b"\x01"
    sim.set_outage(False)
    sim.advance(2)
    assert (await _get(probe, PCS, 0xD0))[0xD0] == b"\x00"


async def test_a_flat_without_the_flag_serves_no_pcs() -> None:
    async with (
        Simulator(_flat(pcs=False)) as sim,
        EchonetNodes(sim) as nodes,
        EchonetProbe(nodes.port()) as probe,
    ):
        listed = (await _get(probe, NODE, 0xD6))[0xD6]
        assert listed[0] == 4
        assert bytes(PCS) not in {listed[1 + 3 * i : 4 + 3 * i] for i in range(4)}
        # A request to an object the node does not have gets no answer at all.
        assert await probe.ask(PCS, f.GET, [(0xE7, b"")], wait_s=0.3) is None


async def test_the_flat_command_serves_the_pcs_with_its_option() -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "simulator", "flat", "--manual"),
        *("--port", "0", "--control-port", "0", "--protocol", "echonet"),
        *("--echonet-port", "0", "--echonet-pcs"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        ready = _READY.search(line)
        assert ready, line
        async with EchonetProbe(int(ready[1])) as probe:
            listed = (await _get(probe, NODE, 0xD6))[0xD6]
            assert listed[0] == 5
            assert (await _get(probe, PCS, 0xD0))[0xD0] == b"\x00"
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert process.returncode == 0
