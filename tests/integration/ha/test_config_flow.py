"""The config, options and reconfigure flows against real Modbus endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    CONF_FAST_POLL_INTERVAL,
    CONF_FLAT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_DELAY,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from devkit.ports import free_port
from simulator.model.config import FlatConfig
from simulator.threaded import FlatThread, run_flat_in_thread
from tests.integration.ha.plain_modbus import plain_modbus_server
from tests.integration.ha.support import BATTERY_SERIAL, entry_data


@pytest.fixture
def other_flat(socket_enabled: None) -> Iterator[FlatThread]:
    """A second installation (flat 102) on its own port."""
    handle = run_flat_in_thread(
        FlatConfig(flat="102", port=0, manual_clock=True, start=datetime(2026, 6, 21))
    )
    try:
        yield handle
    finally:
        handle.close()


def user_input(flat: FlatThread, name: str = "101") -> dict[str, Any]:
    """What an installer types for ``flat``: its number and where it is."""
    return {CONF_FLAT: name} | entry_data(flat)


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sunspec"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sunspec"
    assert result["errors"] == {}
    return str(result["flow_id"])


async def test_user_flow_creates_entry(hass: HomeAssistant, flat: FlatThread) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(flat))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Flat 101"
    assert result["data"] == user_input(flat)
    assert result["result"].unique_id == BATTERY_SERIAL
    assert result["result"].minor_version == 2
    # The installer is told which SunSpec models each unit answered with.
    assert result["description"] == "models_found"
    assert result["description_placeholders"] == {
        "models": "- pv (unit 1): 1, 701\n"
        "- battery (unit 2): 1, 701, 713, 802, 704, 64900\n"
        "- meter (unit 3): 1, 701"
    }
    await hass.async_block_till_done()


async def test_title_follows_the_server_language(
    hass: HomeAssistant, flat: FlatThread
) -> None:
    await hass.config.async_update(language="ja")
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(flat))
    assert result["title"] == "101号室"
    await hass.async_block_till_done()


async def test_a_named_flat_keeps_its_name(
    hass: HomeAssistant, flat: FlatThread
) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(flat, "  Sato  ")
    )
    assert result["title"] == "Sato"
    assert result["data"][CONF_FLAT] == "Sato"
    await hass.async_block_till_done()


async def test_flat_name_is_required(hass: HomeAssistant, flat: FlatThread) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(flat, " ")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_FLAT: "flat_length"}


async def test_unit_ids_are_number_boxes(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    schema = result["data_schema"].schema
    for key in schema:
        if key in (CONF_UNIT_PV, CONF_UNIT_BATTERY, CONF_UNIT_METER):
            config = schema[key].config
            assert config["mode"] == "box"
            assert (config["min"], config["max"], config["step"]) == (1, 247, 1)


async def test_cannot_connect_then_recover(
    hass: HomeAssistant, flat: FlatThread
) -> None:
    flow_id = await _start(hass)
    bad = user_input(flat) | {CONF_PORT: free_port()}
    result = await hass.config_entries.flow.async_configure(flow_id, bad)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    # Nothing typed is lost: the form comes back with the user's values.
    assert result["data_schema"]({})[CONF_PORT] == bad[CONF_PORT]
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(flat))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_not_sunspec(hass: HomeAssistant, socket_enabled: None) -> None:
    with plain_modbus_server([1, 2, 3]) as port:
        flow_id = await _start(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                CONF_FLAT: "101",
                CONF_HOST: "127.0.0.1",
                CONF_PORT: port,
                CONF_UNIT_PV: 1,
                CONF_UNIT_BATTERY: 2,
                CONF_UNIT_METER: 3,
            },
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "not_sunspec"}
    assert result["description_placeholders"] == {"unit": "pv (1)"}


async def test_missing_models_names_them(hass: HomeAssistant, flat: FlatThread) -> None:
    flow_id = await _start(hass)
    # The PV inverter's unit id given as the battery's: it lacks the battery models.
    swapped = user_input(flat) | {CONF_UNIT_PV: 2, CONF_UNIT_BATTERY: 1}
    result = await hass.config_entries.flow.async_configure(flow_id, swapped)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "missing_models"}
    assert result["description_placeholders"] == {
        "models": "battery unit 1: 713, 802, 704, 64900"
    }


async def test_duplicate_unit_ids(hass: HomeAssistant, flat: FlatThread) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(flat) | {CONF_UNIT_METER: 1}
    )
    assert result["errors"] == {"base": "duplicate_unit_ids"}


async def test_unexpected_error(hass: HomeAssistant, flat: FlatThread) -> None:
    flow_id = await _start(hass)
    with patch(
        "custom_components.local_vpp.device.FlatDevice.async_discover",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            flow_id, user_input(flat)
        )
    assert result["errors"] == {"base": "unknown"}


async def test_already_configured(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(flat))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow_sets_poll_intervals(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_POLL_INTERVAL: 5.0, CONF_FAST_POLL_INTERVAL: 0.25},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options[CONF_POLL_INTERVAL] == 5.0
    assert loaded_entry.options[CONF_RECONNECT_DELAY] == 300
    data = loaded_entry.runtime_data
    # Backup armed (auto by default): the fast cadence; off: the normal one.
    assert data.coordinator.poll_interval_s == 0.25
    await data.backup.async_set_mode("off")
    assert data.coordinator.poll_interval_s == 5.0


async def test_options_flow_rejects_out_of_range(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    with pytest.raises(InvalidData, match="poll_interval"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_POLL_INTERVAL: 0.1}
        )
    assert loaded_entry.options == {CONF_POLL_INTERVAL: 1.0}


async def test_reconfigure_moves_to_new_address(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    moved = run_flat_in_thread(
        FlatConfig(port=0, manual_clock=True, start=datetime(2026, 6, 21))
    )
    try:
        result = await loaded_entry.start_reconfigure_flow(hass)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(moved)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert loaded_entry.data[CONF_PORT] == moved.port
        assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    finally:
        moved.close()


async def test_reconfigure_refuses_another_installation(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, other_flat: FlatThread
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], entry_data(other_flat)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"


async def test_reconfigure_shows_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], entry_data(flat) | {CONF_PORT: free_port()}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_options_flow_takes_the_batterys_capacity_and_reserve(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """For a battery that does not report them; a capacity under 100 Wh is refused."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    with pytest.raises(InvalidData, match="battery_capacity_wh"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"battery_capacity_wh": 50}
        )
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"battery_capacity_wh": 9800, "battery_reserve_pct": 25}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options["battery_capacity_wh"] == 9800
    assert loaded_entry.options["battery_reserve_pct"] == 25
