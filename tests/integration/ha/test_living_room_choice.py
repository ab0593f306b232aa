"""The living room without a vendor register: a Home Assistant switch, or nothing.

On a real (simulated) SunSpec flat the installer picks a relay (here an input
boolean) and a power sensor; in a power cut the relay is switched, not the device's
register, and the living room's power is the sensor's. With "the inverter's backup
output switches by itself" nothing is switched and the power cut is still reported.
"""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.living_room.options import (
    CONF_LIVING_ROOM_POWER_ENTITY,
    CONF_LIVING_ROOM_SWITCH,
    CONF_LIVING_ROOM_SWITCH_ENTITY,
)
from simulator.threaded import FlatThread
from tests.integration.ha.outage_harness import (
    FakeClock,
    Harness,
    setup_backup_entry,
    setup_loads,
    use_fake_clock,
)
from tests.integration.ha.support import entity_id, numeric_state

RELAY = "input_boolean.living_room_relay"
ROOM_POWER = "sensor.living_room_circuit_power"


async def _relay(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"living_room_relay": {}}}
    )


async def _harness(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    flat: FlatThread,
    monkeypatch: pytest.MonkeyPatch,
    **options: str,
) -> Harness:
    clock: FakeClock = use_fake_clock(monkeypatch)
    chosen = MockConfigEntry(
        domain=entry.domain,
        title=entry.title,
        unique_id=entry.unique_id,
        data=entry.data,
        options=entry.options | options,
    )
    loads = await setup_loads(hass)
    return Harness(hass, await setup_backup_entry(hass, chosen, loads), flat, clock)


async def test_options_need_the_switch_when_a_switch_is_chosen(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    await _relay(hass)
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_LIVING_ROOM_SWITCH: "entity"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        CONF_LIVING_ROOM_SWITCH_ENTITY: "living_room_switch_needed"
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_LIVING_ROOM_SWITCH: "entity", CONF_LIVING_ROOM_SWITCH_ENTITY: RELAY},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options[CONF_LIVING_ROOM_SWITCH_ENTITY] == RELAY


async def test_a_power_cut_switches_the_relay_and_reads_the_sensor(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _relay(hass)
    hass.states.async_set(ROOM_POWER, "0.123", {"unit_of_measurement": "kW"})
    harness = await _harness(
        hass,
        config_entry,
        flat,
        monkeypatch,
        **{
            CONF_LIVING_ROOM_SWITCH: "entity",
            CONF_LIVING_ROOM_SWITCH_ENTITY: RELAY,
            CONF_LIVING_ROOM_POWER_ENTITY: ROOM_POWER,
        },
    )
    await harness.poll()
    assert numeric_state(hass, Platform.SENSOR, "living_room_power") == 123
    assert harness.load(RELAY) == STATE_OFF

    await harness.outage_confirmed()
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert harness.load(RELAY) == STATE_ON
    # The relay did it; the device's own register was not asked.
    assert flat.state.living_room.source == 0
    await harness.poll()
    assert harness.state(Platform.SWITCH, "living_room_on_battery") == STATE_ON

    hass.states.async_set(ROOM_POWER, "unavailable")
    await harness.poll()
    power = hass.states.get(entity_id(hass, Platform.SENSOR, "living_room_power"))
    assert power is not None
    assert power.state == STATE_UNAVAILABLE  # never 0

    await harness.grid_back_for(60)
    await harness.until_grid_ok(limit_s=600)
    assert harness.load(RELAY) == STATE_OFF


async def test_a_backup_output_that_switches_itself_is_only_watched(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = await _harness(
        hass, config_entry, flat, monkeypatch, **{CONF_LIVING_ROOM_SWITCH: "self"}
    )
    await harness.outage_confirmed()
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert flat.state.living_room.source == 0  # nothing was written
    await harness.grid_back_for(60)
    await harness.until_grid_ok(limit_s=600)
    assert flat.state.living_room.source == 0
