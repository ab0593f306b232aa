"""The integration's ECHONET Lite family against the simulator's node over real UDP.

Readings map to the same ``FlatReading`` as SunSpec (ECHONET signs turned round,
units and coefficients applied, a counter that wraps keeps growing); writes put the
power and amount before the mode and are not repeated while nothing changed; a node
that is silent, late, refuses or answers the wrong request leaves parts unknown,
never 0, and the next poll recovers without a new device object.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from custom_components.local_vpp.device.echonet import properties as p
from custom_components.local_vpp.device.echonet.flat import (
    MIN_HOLD_S,
    EchonetFlatDevice,
)
from custom_components.local_vpp.device.errors import CannotConnectError
from simulator.echonet.objects import SmartMeter
from simulator.echonet_nodes import EchonetNodes
from simulator.simulator import Simulator
from tests.simulator.building_probe import building_config

FLAT = "101"

type Running = tuple[Simulator, EchonetNodes, EchonetFlatDevice]


class _Clock:
    """A monotonic clock the test moves by hand (for the write cadence)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
async def running(clock: _Clock) -> AsyncIterator[Running]:
    async with Simulator(building_config(flats=1)) as sim, EchonetNodes(sim) as nodes:
        device = EchonetFlatDevice.udp("127.0.0.1", nodes.port(FLAT), timeout=0.5)
        device._clock = clock
        try:
            yield sim, nodes, device
        finally:
            await device.async_close()


async def test_discovery_finds_the_four_objects_and_the_battery_serial(
    running: Running,
) -> None:
    _, _, device = running
    identities = await device.async_discover()
    assert set(device.objects) == {
        p.STORAGE_BATTERY,
        p.HOME_SOLAR,
        p.SMART_METER,
        p.PANEL_METER,
    }
    assert device.serial == "LVPP-101-BAT"
    assert identities["meter"].serial == "LVPP-101-MTR"
    assert device.capabilities.revert_timer is False
    assert device.capabilities.control_power is True


async def test_a_poll_reads_what_the_physics_says_in_the_integrations_signs(
    running: Running,
) -> None:
    sim, _, device = running
    sim.advance(600)
    reading = await device.async_poll()
    state = sim.flat_state(FLAT)
    assert reading.battery is not None
    assert reading.battery.power_w == pytest.approx(state.battery.w, abs=1)
    assert reading.battery.soc_pct == round(state.battery.soc_pct)
    assert reading.battery.discharged_wh == state.battery.tot_wh_inj
    assert reading.meter is not None
    # + export in the integration, + import (normal direction) in ECHONET.
    assert reading.meter.power_w == pytest.approx(state.meter.w, abs=1)
    # 0.01 kWh per count: within one count of the truth, never above it.
    assert 0 <= state.meter.imported_wh - reading.meter.imported_wh < 10
    assert reading.meter.voltage_v is None  # the meter does not say; not 0
    assert reading.meter.connected is True
    assert reading.living_room is not None
    assert reading.living_room.power_w == pytest.approx(state.living_room.w, abs=1)
    assert reading.living_room.on_battery is False
    assert reading.pv is not None
    # Battery in two requests of at most eight properties, one per other object.
    assert device.last_poll_requests == 5


async def test_an_outage_shows_as_islanded_operation(running: Running) -> None:
    sim, _, device = running
    sim.set_outage(True)
    sim.advance(1)
    reading = await device.async_poll()
    assert reading.meter is not None
    assert reading.meter.connected is False
    assert reading.living_room is not None
    assert reading.living_room.on_battery is True
    assert reading.battery is not None
    assert reading.battery.inverter_connected is False


async def test_a_meter_counter_that_wraps_keeps_growing(running: Running) -> None:
    sim, nodes, device = running
    meter = nodes.node().objects[(0x02, 0x88, 0x01)]
    assert isinstance(meter, SmartMeter)
    # Four digits of 0.01 kWh: the count wraps every 100 kWh; start 10 Wh short.
    meter.digits = 4
    meter.offset_wh = 99_990.0 - sim.flat_state(FLAT).meter.imported_wh
    before = await device.async_poll()
    sim.advance(1800)
    after = await device.async_poll()
    assert before.meter is not None
    assert after.meter is not None
    assert before.meter.imported_wh is not None
    assert after.meter.imported_wh is not None
    grown = after.meter.imported_wh - before.meter.imported_wh
    truth = sim.flat_state(FLAT).meter.imported_wh
    assert grown > 0
    assert grown == pytest.approx(truth - (99_990.0 - meter.offset_wh), abs=20)


async def test_power_and_amount_go_before_the_mode_and_bound_the_hold(
    running: Running,
) -> None:
    sim, nodes, device = running
    await device.async_discover()
    await device.async_set_power_setpoint(600, 120)
    node = nodes.node()
    assert [epc for _, epc in node.written] == [
        p.DISCHARGE_POWER,
        p.DISCHARGE_AMOUNT,
        p.OPERATION_MODE,
    ]
    setpoint = sim.flat_state(FLAT).setpoint
    assert (setpoint.enabled, setpoint.setpoint_w) == (True, 600)
    # 20 Wh at 600 W: the battery stops by itself after 120 s.
    assert setpoint.revert_s == 120
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is True
    assert reading.battery.setpoint_w == 600
    sim.advance(121)
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is False
    assert sim.flat_state(FLAT).setpoint.enabled is False


async def test_an_unchanged_hold_is_not_written_again_until_half_its_time(
    running: Running, clock: _Clock
) -> None:
    sim, nodes, device = running
    await device.async_discover()
    # A group round asks for 5 s; the hold is sized for MIN_HOLD_S all the same.
    await device.async_set_power_setpoint(-800, 5)
    node = nodes.node()
    assert len(node.written) == 3
    # Whole Wh, rounded up: a little longer, never shorter.
    assert MIN_HOLD_S <= sim.flat_state(FLAT).setpoint.revert_s < MIN_HOLD_S + 5
    for _ in range(MIN_HOLD_S // 2 - 1):  # a round a second, nothing changed
        clock.now += 1
        await device.async_set_power_setpoint(-810, 5)
    assert len(node.written) == 3
    clock.now += 2  # past half the hold: written again, re-arming the amount
    await device.async_set_power_setpoint(-800, 5)
    assert len(node.written) == 6
    await device.async_set_power_setpoint(-1200, 5)  # a real change: at once
    assert len(node.written) == 9
    # Clipped to the battery's own maximum (0xC8), which it would refuse to exceed.
    assert sim.flat_state(FLAT).setpoint.setpoint_w == -1000
    await device.async_clear_power_setpoint()
    assert node.written[-1] == (p.STORAGE_BATTERY, p.OPERATION_MODE)
    assert node.objects[p.STORAGE_BATTERY].get(p.OPERATION_MODE) == bytes(
        (p.MODE_AUTO,)
    )


async def test_a_refusing_object_leaves_its_part_unknown(running: Running) -> None:
    sim, _, device = running
    await device.async_discover()
    sim.set_fault("device_failure", True, "meter")
    reading = await device.async_poll()
    assert reading.meter is not None
    assert reading.meter.power_w is None
    assert reading.meter.imported_wh is None
    assert reading.battery is not None
    assert reading.battery.soc_pct is not None


@pytest.mark.parametrize("fault", ["silent", "wrong_tid", "wrong_eoj", "late"])
async def test_a_node_that_does_not_answer_right_fails_the_poll_then_recovers(
    running: Running, fault: str
) -> None:
    _, nodes, device = running
    await device.async_discover()
    node = nodes.node()
    if fault == "late":
        node.late_s = 1.0  # twice the device's timeout
    else:
        setattr(node, fault, True)
    with pytest.raises(CannotConnectError):
        await device.async_poll()
    setattr(
        node, fault if fault != "late" else "late_s", False if fault != "late" else 0.0
    )
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.soc_pct is not None
    assert device._link.counters.timeouts > 0
