"""Writes from Home Assistant reach the simulated devices and read back."""

from __future__ import annotations

import pytest
from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import SETPOINT_REVERT_S
from simulator.threaded import FlatThread
from tests.integration.ha.support import entity_id, numeric_state


async def _set_number(hass: HomeAssistant, key: str, value: float) -> None:
    await hass.services.async_call(
        Platform.NUMBER,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id(hass, Platform.NUMBER, key), ATTR_VALUE: value},
        blocking=True,
    )


async def test_living_room_switch_moves_the_circuit(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    switch = entity_id(hass, Platform.SWITCH, "living_room_on_battery")
    await hass.services.async_call(
        Platform.SWITCH, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await hass.async_block_till_done()
    assert flat.state.living_room.source == 1
    assert flat.state.living_room.on_battery
    state = hass.states.get(switch)
    assert state is not None
    assert state.state == STATE_ON

    await hass.services.async_call(
        Platform.SWITCH, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await hass.async_block_till_done()
    assert flat.state.living_room.source == 0
    state = hass.states.get(switch)
    assert state is not None
    assert state.state == STATE_OFF


async def test_backup_reserve_is_written(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    await _set_number(hass, "backup_reserve", 35)
    await hass.async_block_till_done()
    assert flat.state.battery.reserve_pct == pytest.approx(35)
    assert numeric_state(hass, Platform.NUMBER, "backup_reserve") == pytest.approx(35)


async def test_backup_reserve_out_of_range_is_refused(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    before = flat.state.battery.reserve_pct
    with pytest.raises(ServiceValidationError):
        await _set_number(hass, "backup_reserve", 101)
    assert flat.state.battery.reserve_pct == before


async def test_setpoint_is_held_with_a_revert_timer(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    await _set_number(hass, "battery_setpoint", 400)
    await hass.async_block_till_done()
    setpoint = flat.state.setpoint
    assert setpoint.enabled
    assert setpoint.setpoint_w == 400
    assert setpoint.revert_s == SETPOINT_REVERT_S
    assert not setpoint.revert_enabled
    assert numeric_state(hass, Platform.NUMBER, "battery_setpoint") == 400

    # Time passes on the device; the next poll re-arms the dead-man timer.
    flat.advance(40)
    assert flat.state.setpoint.revert_remaining_s <= 20
    await loaded_entry.runtime_data.coordinator.async_refresh()
    assert flat.state.setpoint.revert_remaining_s > 50
    assert flat.state.setpoint.enabled

    await _set_number(hass, "battery_setpoint", 0)
    await hass.async_block_till_done()
    assert not flat.state.setpoint.enabled
    assert numeric_state(hass, Platform.NUMBER, "battery_setpoint") == 0


async def test_setpoint_reverts_when_nobody_re_arms_it(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    await _set_number(hass, "battery_setpoint", -300)
    await hass.async_block_till_done()
    assert flat.state.setpoint.enabled
    # Home Assistant stops polling (here: the entry is unloaded); the device reverts.
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    flat.advance(SETPOINT_REVERT_S + 1)
    assert not flat.state.setpoint.enabled


async def test_setpoint_limits_come_from_the_battery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    state = hass.states.get(entity_id(hass, Platform.NUMBER, "battery_setpoint"))
    assert state is not None
    assert state.attributes["min"] == -flat.state.battery.max_charge_w
    assert state.attributes["max"] == flat.state.battery.max_discharge_w


async def test_write_while_unreachable_says_so(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    flat.disconnect(5)
    with pytest.raises(HomeAssistantError) as raised:
        await _set_number(hass, "backup_reserve", 40)
    assert raised.value.translation_key == "write_failed"
