"""A flat of SunSpec 1xx devices: the simulator's variant and the integration's family.

Inverter 103, storage 124 and meter 203 over real Modbus TCP on 127.0.0.1: the
readings match the physics with the integration's signs, model 124's rates drive
the battery and its revert timer ends the hold, and the 7xx family names exactly
which models are missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from custom_components.local_vpp.device import FlatDevice, MissingModelsError, UnitIds
from custom_components.local_vpp.device.sunspec1xx.flat import Sunspec1xxFlatDevice
from simulator.model.config import BuildingConfig, FlatConfig
from simulator.simulator import Simulator
from tests.simulator.building_probe import EVENING


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = FlatConfig(port=0, manual_clock=True, start=EVENING, sunspec="1xx")
    async with Simulator(BuildingConfig.of_flat(config)) as simulator:
        yield simulator


@pytest.fixture
async def device(sim: Simulator) -> AsyncIterator[Sunspec1xxFlatDevice]:
    flat = Sunspec1xxFlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
    try:
        yield flat
    finally:
        await flat.async_close()


async def test_the_7xx_family_names_what_a_1xx_flat_lacks(sim: Simulator) -> None:
    flat = FlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
    try:
        with pytest.raises(MissingModelsError) as raised:
            await flat.async_discover()
    finally:
        await flat.async_close()
    assert raised.value.missing["battery"] == [701, 713, 802, 704, 64900]


async def test_readings_match_the_physics(
    sim: Simulator, device: Sunspec1xxFlatDevice
) -> None:
    identities = await device.async_discover()
    assert device.serial == "LVPP-101-BAT"
    assert identities["meter"].serial == "LVPP-101-MTR"
    sim.advance(600)
    reading = await device.async_poll()
    state = sim.flat_state()
    assert reading.battery is not None
    assert reading.battery.power_w == pytest.approx(state.battery.w, abs=1)
    assert reading.battery.soc_pct == pytest.approx(state.battery.soc_pct, abs=0.1)
    assert reading.battery.discharged_wh == state.battery.tot_wh_inj
    assert reading.battery.soh_pct is None  # 124 does not say: unknown, not 0
    assert reading.meter is not None
    assert reading.meter.power_w == pytest.approx(state.meter.w, abs=1)
    assert reading.meter.imported_wh == state.meter.tot_wh_abs
    assert reading.meter.voltage_v == pytest.approx(state.grid.voltage_v, abs=0.1)
    assert reading.meter.frequency_hz == pytest.approx(
        state.grid.frequency_hz, abs=0.01
    )
    assert reading.living_room is None
    assert device.capabilities.switch_living_room is False


async def test_model_124_drives_the_battery_and_its_timer_reverts(
    sim: Simulator, device: Sunspec1xxFlatDevice
) -> None:
    await device.async_discover()
    await device.async_set_power_setpoint(600, 10)
    setpoint = sim.flat_state().setpoint
    assert (setpoint.enabled, setpoint.setpoint_w, setpoint.revert_s) == (True, 600, 10)
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is True
    assert reading.battery.setpoint_w == 600
    await device.async_set_power_setpoint(-300, 10)
    assert sim.flat_state().setpoint.setpoint_w == -300
    sim.advance(11)
    assert not sim.flat_state().setpoint.enabled
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is False
    await device.async_set_power_setpoint(500, 30)
    await device.async_clear_power_setpoint()
    assert not sim.flat_state().setpoint.enabled
    await device.async_set_reserve_soc(35)
    assert sim.flat_state().battery.reserve_pct == 35
