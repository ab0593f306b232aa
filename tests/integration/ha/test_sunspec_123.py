"""Model 123 (immediate controls) on a 1xx flat's PV inverter, in Home Assistant.

Against the simulator over real Modbus TCP on 127.0.0.1: the flow lists model 123
among what it found; the PV device gets the grid-connection command and the output
limit in force as diagnostic entities, unavailable when the inverter does not say;
diagnostics count immediate controls as a capability; a flat without 123 gets none
of this and reads as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.diagnostics import (
    async_get_config_entry_diagnostics,
)
from simulator.modbus.units_1xx import FlatUnit1xx
from simulator.model.config import UnitRole
from simulator.simulator import Simulator
from simulator.threaded import FlatThread
from tests.integration.ha.support import (
    BATTERY_SERIAL,
    entity_id,
    entry_data,
    morning_flat,
    new_flat_entry,
    numeric_state,
)

KEYS = (
    (Platform.SENSOR, "pv_output_limit"),
    (Platform.BINARY_SENSOR, "pv_grid_connection"),
)


@pytest.fixture
def flat_123(socket_enabled: None) -> Iterator[FlatThread]:
    with morning_flat(sunspec="1xx") as handle:
        yield handle


@pytest.fixture
def flat_without_123(socket_enabled: None) -> Iterator[FlatThread]:
    with morning_flat(sunspec="1xx", sunspec_controls=False) as handle:
        yield handle


async def _set_up(hass: HomeAssistant, flat: FlatThread) -> MockConfigEntry:
    entry = new_flat_entry(entry_data(flat) | {"device_family": "sunspec1xx"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, platform: Platform, key: str) -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state.state


def _limit_and_disconnect(sim: Simulator) -> None:
    """A grid operator's controller caps the inverter at 40 % and disconnects it."""
    controls = sim.model.flats["101"].pv_controls
    controls.limit_pct, controls.limit_enabled, controls.connect = 40.0, 1, 0
    sim.model.flats["101"].revision += 1


def _stop_reporting(sim: Simulator) -> None:
    unit = sim.units["101"][UnitRole.PV]
    assert isinstance(unit, FlatUnit1xx)
    unit.leave_unimplemented("Conn", "WMaxLim_Ena")


async def test_the_flow_lists_model_123(
    hass: HomeAssistant, flat_123: FlatThread
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sunspec"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"flat": "101"} | entry_data(flat_123)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The installer is told what each unit serves: the PV inverter's line has 123.
    lines = result["description_placeholders"]["models"].splitlines()
    assert "- pv (unit 1): 1, 103, 123" in lines
    await hass.async_block_till_done()


async def test_the_pv_device_shows_connection_and_limit(
    hass: HomeAssistant, flat_123: FlatThread
) -> None:
    entry = await _set_up(hass, flat_123)
    assert _state(hass, Platform.BINARY_SENSOR, "pv_grid_connection") == STATE_ON
    assert numeric_state(hass, Platform.SENSOR, "pv_output_limit") == 100
    registry = er.async_get(hass)
    for platform, key in KEYS:
        found = registry.async_get(entity_id(hass, platform, key))
        assert found is not None
        assert found.entity_category is not None  # diagnostic

    flat_123.call(_limit_and_disconnect)
    await _refresh(hass, entry)
    assert _state(hass, Platform.BINARY_SENSOR, "pv_grid_connection") == STATE_OFF
    assert numeric_state(hass, Platform.SENSOR, "pv_output_limit") == 40
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["capabilities"]["immediate_controls"] is True
    controls = diagnostics["reading"]["pv_controls"]
    assert (controls["connected"], controls["limit_enabled"]) == (False, True)

    flat_123.call(_stop_reporting)
    await _refresh(hass, entry)
    for platform, key in KEYS:
        assert _state(hass, platform, key) == STATE_UNAVAILABLE, key


async def test_a_flat_without_123_gets_none_of_it(
    hass: HomeAssistant, flat_without_123: FlatThread
) -> None:
    entry = await _set_up(hass, flat_without_123)
    registry = er.async_get(hass)
    for platform, key in KEYS:
        unique_id = f"{BATTERY_SERIAL}_{key}"
        assert registry.async_get_entity_id(platform, DOMAIN, unique_id) is None
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["capabilities"]["immediate_controls"] is False
    assert diagnostics["reading"]["pv_controls"] is None
    assert numeric_state(hass, Platform.SENSOR, "pv_power") > 0
