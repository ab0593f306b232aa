"""What residents and installers read: device names, entity ids and titles.

Four flats in one Home Assistant whose server speaks Japanese: every entity id is
ASCII, unique and names its flat; devices are called after the flat in Japanese.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import CONF_FLAT, DOMAIN
from simulator.model.config import FlatConfig
from simulator.threaded import FlatThread, run_flat_in_thread
from tests.integration.ha.support import BATTERY_SERIAL, entry_data

FLATS = ("101", "102", "201", "202")
_OBJECT_ID = re.compile(r"^[a-z0-9_]+$")


@pytest.fixture
def four_flats(socket_enabled: None) -> Iterator[dict[str, FlatThread]]:
    """Four simulated flats, each a real Modbus TCP server on 127.0.0.1."""
    handles: dict[str, FlatThread] = {}
    try:
        for flat in FLATS:
            handles[flat] = run_flat_in_thread(
                FlatConfig(
                    flat=flat, port=0, manual_clock=True, start=datetime(2026, 6, 21)
                )
            )
        yield handles
    finally:
        for handle in handles.values():
            handle.close()


async def _add_flat(hass: HomeAssistant, name: str, flat: FlatThread) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sunspec"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FLAT: name} | entry_data(flat)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return str(result["result"].entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_four_flats_in_japanese_have_readable_unique_ids(
    hass: HomeAssistant, four_flats: dict[str, FlatThread]
) -> None:
    await hass.config.async_update(language="ja")
    entries = {flat: await _add_flat(hass, flat, four_flats[flat]) for flat in FLATS}
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    seen: set[str] = set()
    for flat, entry_id in entries.items():
        entry = hass.config_entries.async_get_entry(entry_id)
        assert entry is not None
        assert entry.title == f"{flat}号室"
        assert entry.state is ConfigEntryState.LOADED
        names = {
            device.name
            for device in dr.async_entries_for_config_entry(devices, entry_id)
        }
        assert names == {
            f"{flat}号室 蓄電池",
            f"{flat}号室 太陽光",
            f"{flat}号室 電力メーター",
        }
        registered = er.async_entries_for_config_entry(entities, entry_id)
        assert len(registered) >= 25
        for item in registered:
            _domain, object_id = item.entity_id.split(".", 1)
            assert _OBJECT_ID.match(object_id), item.entity_id
            # No "_2" suffixes: each flat's ids are its own.
            assert object_id.startswith(f"flat_{flat}_"), item.entity_id
            assert not re.search(r"_\d$", object_id), item.entity_id
            assert item.entity_id not in seen
            seen.add(item.entity_id)
        ids = {item.entity_id for item in registered}
        for expected in (
            f"sensor.flat_{flat}_battery_state_of_charge",
            f"sensor.flat_{flat}_pv_power",
            f"sensor.flat_{flat}_meter_import_power",
            f"sensor.flat_{flat}_battery_grid_state",
            f"switch.flat_{flat}_battery_living_room_on_battery",
            f"binary_sensor.flat_{flat}_battery_backup_running",
        ):
            assert expected in ids
        state = hass.states.get(f"sensor.flat_{flat}_battery_state_of_charge")
        assert state is not None
        assert state.attributes["friendly_name"] == f"{flat}号室 蓄電池 充電率"
    assert len(seen) == len({entity_id.lower() for entity_id in seen})


async def test_renaming_the_entry_renames_its_devices(
    hass: HomeAssistant, flat: FlatThread
) -> None:
    entry_id = await _add_flat(hass, "101", flat)
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    soc = "sensor.flat_101_battery_state_of_charge"
    assert hass.states.get(soc) is not None
    hass.config_entries.async_update_entry(entry, title="Sato 101")
    await hass.async_block_till_done()
    names = {
        device.name
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)
    }
    assert names == {"Sato 101 battery", "Sato 101 PV", "Sato 101 grid meter"}
    # The ids stay: automations and statistics keep working.
    state = hass.states.get(soc)
    assert state is not None
    assert state.attributes["friendly_name"] == "Sato 101 battery State of charge"


async def test_an_old_entry_keeps_its_ids_and_statistics(
    hass: HomeAssistant, flat: FlatThread
) -> None:
    """An entry from before the flat was asked for (1.1) moves to 1.2 in place."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Flat {BATTERY_SERIAL}",
        unique_id=BATTERY_SERIAL,
        data=entry_data(flat),
        version=1,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    # The ids the previous release gave (statistics are kept under them).
    old = {
        "battery_soc": "sensor.battery_state_of_charge",
        "pv_energy": "sensor.pv_inverter_energy_produced",
    }
    for key, entity_id in old.items():
        registry.async_get_or_create(
            Platform.SENSOR,
            DOMAIN,
            f"{BATTERY_SERIAL}_{key}",
            config_entry=entry,
            suggested_object_id=entity_id.split(".", 1)[1],
        )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 2)
    assert entry.data[CONF_FLAT] == BATTERY_SERIAL
    assert entry.unique_id == BATTERY_SERIAL
    for key, entity_id in old.items():
        assert (
            registry.async_get_entity_id(
                Platform.SENSOR, DOMAIN, f"{BATTERY_SERIAL}_{key}"
            )
            == entity_id
        )
        assert hass.states.get(entity_id) is not None


async def test_a_newer_entry_is_refused(hass: HomeAssistant, flat: FlatThread) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=BATTERY_SERIAL, data=entry_data(flat), version=2
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
