"""The integration's ECHONET Lite family reading a multi-input PCS (0x02A5).

Against the simulator's node over real UDP on 127.0.0.1: where the node has a PCS
its AC-side power and energy are read in the integration's sign, and its
grid-connection state decides whether the grid is there (the battery's only where
the PCS does not say); a property it refuses is unknown, never 0; properties its
map leaves out are asked for all the same; a node without one reads as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from custom_components.local_vpp.device.echonet import properties as p
from custom_components.local_vpp.device.echonet.flat import EchonetFlatDevice
from simulator.echonet.frame import property_map
from simulator.echonet_nodes import EchonetNodes
from simulator.model.config import BuildingConfig, FlatConfig
from simulator.simulator import Simulator

MIDDAY = datetime(2026, 6, 21, 12, 0)

type Running = tuple[Simulator, EchonetNodes, EchonetFlatDevice]


async def _running(*, pcs: bool) -> AsyncIterator[Running]:
    config = BuildingConfig.of_flat(
        FlatConfig(
            port=0,
            manual_clock=True,
            start=MIDDAY,
            echonet_pcs=pcs,
            backup_output_auto=True,
        )
    )
    async with Simulator(config) as sim, EchonetNodes(sim) as nodes:
        device = EchonetFlatDevice.udp("127.0.0.1", nodes.port(), timeout=0.5)
        try:
            yield sim, nodes, device
        finally:
            await device.async_close()


@pytest.fixture
async def with_pcs() -> AsyncIterator[Running]:
    async for running in _running(pcs=True):
        yield running


@pytest.fixture
async def without_pcs() -> AsyncIterator[Running]:
    async for running in _running(pcs=False):
        yield running


def _drop(nodes: EchonetNodes, class_code: int, *epcs: int) -> None:
    """The object stops serving ``epcs`` (answers *_SNA) and leaves them off its map."""
    obj = nodes.node().object(class_code)
    for epc in epcs:
        obj.getters.pop(epc)
    obj.finish()


async def test_the_pcs_is_found_and_its_ac_side_read(with_pcs: Running) -> None:
    sim, _, device = with_pcs
    await device.async_discover()
    assert p.MULTI_INPUT_PCS in device.objects
    sim.advance(1800)
    reading = await device.async_poll()
    flat = sim.model.flats["101"]
    pcs = reading.conditioner
    assert pcs is not None
    # + giving power out: midday PV (and the battery) through the converter.
    assert pcs.power_w == round(flat.pv_w + flat.battery.power_w)
    assert pcs.power_w > 0
    assert pcs.output_wh == flat.conditioner_out.register_wh > 0
    assert pcs.input_wh == flat.conditioner_in.register_wh
    assert pcs.independent is False
    # Still one node: everything else reads as without a PCS.
    assert reading.battery is not None
    assert reading.meter is not None
    assert reading.meter.connected is True


async def test_the_pcs_says_whether_the_grid_is_there(with_pcs: Running) -> None:
    """A battery object that leaves 0xD0 to its PCS: the PCS's state is used."""
    sim, nodes, device = with_pcs
    _drop(nodes, 0x027D, p.INTERCONNECTION)
    reading = await device.async_poll()
    assert reading.meter is not None
    assert reading.meter.connected is True
    sim.set_outage(True)
    sim.advance(2)
    reading = await device.async_poll()
    assert reading.meter is not None
    assert reading.meter.connected is False
    assert reading.living_room is not None
    assert reading.living_room.on_battery is True
    assert reading.battery is not None
    assert reading.battery.inverter_connected is False
    assert reading.conditioner is not None
    assert reading.conditioner.independent is True


async def test_without_a_pcs_such_a_battery_leaves_the_grid_unknown(
    without_pcs: Running,
) -> None:
    """The same battery without a PCS: unknown (never "lost"), as before."""
    sim, nodes, device = without_pcs
    _drop(nodes, 0x027D, p.INTERCONNECTION)
    sim.set_outage(True)
    sim.advance(2)
    reading = await device.async_poll()
    assert reading.conditioner is None
    assert reading.meter is not None
    assert reading.meter.connected is None
    assert reading.living_room is not None
    assert reading.living_room.on_battery is None


async def test_a_refused_pcs_property_is_unknown_never_0(with_pcs: Running) -> None:
    sim, nodes, device = with_pcs
    _drop(nodes, 0x02A5, p.PCS_POWER)
    sim.advance(600)
    reading = await device.async_poll()
    assert reading.conditioner is not None
    assert reading.conditioner.power_w is None
    assert reading.conditioner.output_wh is not None
    assert reading.conditioner.output_wh > 0


async def test_properties_the_pcs_map_leaves_out_are_read(with_pcs: Running) -> None:
    """Some units list fewer properties than they serve; the four are mandatory."""
    sim, nodes, device = with_pcs
    obj = nodes.node().object(0x02A5)
    short = property_map({0x80, 0x83, 0x88, 0xD0, 0xE0, 0xE8, 0x9D, 0x9E, 0x9F})
    obj.getters[0x9F] = lambda: short
    await device.async_discover()
    assert p.PCS_POWER not in device.objects[p.MULTI_INPUT_PCS]
    sim.advance(600)
    reading = await device.async_poll()
    assert reading.conditioner is not None
    assert reading.conditioner.power_w is not None
    assert reading.conditioner.output_wh is not None


async def test_a_node_without_a_pcs_reads_as_before(without_pcs: Running) -> None:
    sim, _, device = without_pcs
    await device.async_discover()
    assert p.MULTI_INPUT_PCS not in device.objects
    sim.advance(600)
    reading = await device.async_poll()
    assert reading.conditioner is None
    assert reading.meter is not None
    assert reading.meter.connected is True
    # No request more: battery (two, 12 properties), solar, meter and panel.
    assert device.last_poll_requests == 5
