"""Set-up, unload, devices, and every entity against the simulator's state."""

from __future__ import annotations

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from simulator.threaded import FlatThread
from tests.integration.ha.support import (
    BATTERY_SERIAL,
    assert_starts_disabled,
    entity_id,
    numeric_state,
)


async def test_setup_and_unload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED


async def test_setup_retries_when_flat_unreachable(
    hass: HomeAssistant, config_entry: MockConfigEntry, flat: FlatThread
) -> None:
    flat.close()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_devices_link_to_the_hybrid_inverter(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert "via_device" not in caplog.text
    registry = dr.async_get(hass)
    battery = registry.async_get_device(identifiers={(DOMAIN, BATTERY_SERIAL)})
    assert battery is not None
    assert battery.serial_number == BATTERY_SERIAL
    assert battery.manufacturer == "Local VPP"
    for serial in ("LVPP-101-PV", "LVPP-101-MTR"):
        device = registry.async_get_device(identifiers={(DOMAIN, serial)})
        assert device is not None
        assert device.via_device_id == battery.id


async def test_rarely_wanted_diagnostics_start_disabled(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    assert_starts_disabled(hass, Platform.SENSOR, "battery_cycles")
    # The state of health, its diagnostic neighbour, stays on.
    assert numeric_state(hass, Platform.SENSOR, "battery_soh") > 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_every_entity_matches_the_simulator(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    sim = flat.state
    approx = pytest.approx
    assert numeric_state(hass, Platform.SENSOR, "pv_power") == approx(sim.pv.w, abs=1)
    assert numeric_state(hass, Platform.SENSOR, "pv_energy") == sim.pv.tot_wh_inj
    assert numeric_state(hass, Platform.SENSOR, "battery_power") == approx(
        sim.battery.w, abs=1
    )
    assert numeric_state(hass, Platform.SENSOR, "battery_soc") == approx(
        sim.battery.soc_pct, abs=0.1
    )
    assert numeric_state(hass, Platform.SENSOR, "battery_soh") == approx(
        sim.battery.soh_pct, abs=0.1
    )
    assert numeric_state(hass, Platform.SENSOR, "battery_cycles") == sim.battery.cycles
    assert numeric_state(hass, Platform.SENSOR, "battery_stored_energy") == approx(
        sim.battery.available_wh, abs=1
    )
    assert numeric_state(hass, Platform.SENSOR, "battery_charge_energy") == (
        sim.battery.tot_wh_abs
    )
    assert numeric_state(hass, Platform.SENSOR, "battery_discharge_energy") == (
        sim.battery.tot_wh_inj
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_import_power") == approx(
        max(0.0, -sim.meter.w), abs=1
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_export_power") == approx(
        max(0.0, sim.meter.w), abs=1
    )
    assert (
        numeric_state(hass, Platform.SENSOR, "grid_import_energy")
        == sim.meter.tot_wh_abs
    )
    assert (
        numeric_state(hass, Platform.SENSOR, "grid_export_energy")
        == sim.meter.tot_wh_inj
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_voltage") == approx(
        sim.meter.voltage_v, abs=0.1
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_frequency") == approx(
        sim.meter.frequency_hz, abs=0.001
    )
    assert numeric_state(hass, Platform.SENSOR, "living_room_power") == approx(
        sim.living_room.w, abs=1
    )
    assert numeric_state(hass, Platform.SENSOR, "living_room_energy") == (
        sim.living_room.tot_wh
    )
    assert numeric_state(hass, Platform.NUMBER, "backup_reserve") == approx(
        sim.battery.reserve_pct, abs=0.1
    )
    assert numeric_state(hass, Platform.NUMBER, "battery_setpoint") == 0

    def _state(platform: Platform, key: str) -> str:
        state = hass.states.get(entity_id(hass, platform, key))
        assert state is not None
        return state.state

    assert _state(Platform.BINARY_SENSOR, "grid_connected") == STATE_ON
    assert _state(Platform.BINARY_SENSOR, "living_room_powered") == STATE_ON
    assert _state(Platform.BINARY_SENSOR, "battery_problem") == STATE_OFF
    assert _state(Platform.SWITCH, "living_room_on_battery") == STATE_OFF


async def test_energy_sensors_are_fit_for_the_energy_dashboard(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    for key in (
        "pv_energy",
        "battery_charge_energy",
        "battery_discharge_energy",
        "grid_import_energy",
        "grid_export_energy",
    ):
        state = hass.states.get(entity_id(hass, Platform.SENSOR, key))
        assert state is not None
        assert state.attributes["device_class"] == "energy"
        assert state.attributes["state_class"] == "total_increasing"
        assert state.attributes["unit_of_measurement"] == "kWh"
