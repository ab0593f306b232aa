"""An ECHONET Lite flat in Home Assistant, against the simulator's node over UDP.

The config flow finds the node (or takes a typed address), the same entities show
the same physics, a failed read is unavailable (never 0), and a hold that a stopped
Home Assistant left on the battery (ECHONET has no revert timer) is handed back at
the next start. The power cut, watched on a backup output that switches by itself,
is tested with every family in test_backup.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp import coordinator as coordinator_module
from custom_components.local_vpp import echonet_flow, families
from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.device.echonet import properties as p
from custom_components.local_vpp.families import (
    CONF_ECHONET_LOCAL_PORT,
    CONF_HOST,
    CONF_LIVING_ROOM_CHANNEL,
    CONF_PORT,
)
from devkit.ports import free_port, free_udp_port
from tests.integration.ha.echonet_flat import EchonetFlat
from tests.integration.ha.support import BATTERY_SERIAL, entity_id, numeric_state


def _search_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Send the search to one address on 127.0.0.1 instead of the multicast group."""
    monkeypatch.setattr(echonet_flow, "SEARCH_TARGET", ("127.0.0.1", port))
    monkeypatch.setattr(echonet_flow, "LOCAL_PORT", 0)
    monkeypatch.setattr(echonet_flow, "SEARCH_WAIT_S", 0.3)


async def _echonet_form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert set(result["menu_options"]) == {"sunspec", "echonet"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "echonet"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "echonet"
    return dict(result)


async def test_the_flow_finds_the_node_and_adds_the_flat(
    hass: HomeAssistant, echonet_flat: EchonetFlat, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, nodes = echonet_flat
    _search_at(monkeypatch, nodes.port())
    form = await _echonet_form(hass)
    assert form["description_placeholders"] == {"found": "127.0.0.1"}
    # The node found is offered as the default.
    assert form["data_schema"]({CONF_PORT: nodes.port()})[CONF_HOST] == "127.0.0.1"
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"],
        {
            "flat": "101",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: nodes.port(),
            CONF_LIVING_ROOM_CHANNEL: 1,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == BATTERY_SERIAL
    assert result["data"]["device_family"] == "echonet"
    assert result["data"]["flat"] == "101"
    assert result["title"] == "Flat 101"
    await hass.async_block_till_done()


async def test_without_multicast_the_address_is_typed(
    hass: HomeAssistant, echonet_flat: EchonetFlat, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, nodes = echonet_flat
    _search_at(monkeypatch, free_port())  # nobody answers the search
    form = await _echonet_form(hass)
    assert form["description_placeholders"] == {"found": "—"}
    wrong = {
        "flat": "101",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: free_port(),
        CONF_LIVING_ROOM_CHANNEL: 1,
    }
    result = await hass.config_entries.flow.async_configure(form["flow_id"], wrong)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "echonet_cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], wrong | {CONF_PORT: nodes.port()}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_entities_show_the_flat_and_a_silent_node_is_unavailable(
    hass: HomeAssistant, echonet_flat: EchonetFlat, echonet_entry: MockConfigEntry
) -> None:
    handle, nodes = echonet_flat
    echonet_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    state = handle.state
    assert numeric_state(hass, Platform.SENSOR, "battery_soc") == round(
        state.battery.soc_pct
    )
    # The smart meter does not measure voltage: unavailable, never 0.
    voltage = hass.states.get(entity_id(hass, Platform.SENSOR, "grid_voltage"))
    assert voltage is not None
    assert voltage.state == STATE_UNAVAILABLE
    grid = hass.states.get(entity_id(hass, Platform.BINARY_SENSOR, "grid_connected"))
    assert grid is not None
    assert grid.state == STATE_ON
    imported_key = "grid_import_energy"
    before = numeric_state(hass, Platform.SENSOR, imported_key)
    assert before > 0

    coordinator = echonet_entry.runtime_data.coordinator
    handle.call(lambda _: setattr(nodes.node(), "silent", True))
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    soc = hass.states.get(entity_id(hass, Platform.SENSOR, "battery_soc"))
    assert soc is not None
    assert soc.state == STATE_UNAVAILABLE

    # Back without a reload; the energy total goes on from where it was.
    handle.call(lambda _: setattr(nodes.node(), "silent", False))
    handle.advance(600)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    after = numeric_state(hass, Platform.SENSOR, imported_key)
    truth = handle.state.meter.imported_wh
    assert before <= after <= truth
    assert truth - after < 10  # one 0.01 kWh count


async def test_a_hold_left_by_a_stopped_home_assistant_is_handed_back_at_start(
    hass: HomeAssistant, echonet_flat: EchonetFlat, echonet_entry: MockConfigEntry
) -> None:
    handle, nodes = echonet_flat
    echonet_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    control = echonet_entry.runtime_data.control
    await control.async_set_resident_setpoint(500)
    assert handle.state.setpoint.enabled
    assert handle.state.setpoint.setpoint_w == 500
    # Home Assistant stops in the middle of the hold: nothing releases it, and an
    # ECHONET battery has no revert timer of its own.
    assert await hass.config_entries.async_unload(echonet_entry.entry_id)
    await hass.async_block_till_done()
    mode = handle.call(
        lambda _: nodes.node().objects[p.STORAGE_BATTERY].get(p.OPERATION_MODE)
    )
    assert mode == bytes((p.MODE_DISCHARGING,))

    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    mode = handle.call(
        lambda _: nodes.node().objects[p.STORAGE_BATTERY].get(p.OPERATION_MODE)
    )
    assert mode == bytes((p.MODE_AUTO,))
    assert not handle.state.setpoint.enabled


async def test_reconfigure_keeps_an_echonet_flat_on_echonet(
    hass: HomeAssistant,
    echonet_flat: EchonetFlat,
    echonet_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The running entry listens where the check must listen: it steps aside."""
    _, nodes = echonet_flat
    # Both listen on one fixed port, as both do on 3610 in a home.
    port = free_udp_port()
    monkeypatch.setattr(echonet_flow, "LOCAL_PORT", port)
    echonet_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        echonet_entry,
        data=dict(echonet_entry.data) | {CONF_ECHONET_LOCAL_PORT: port},
    )
    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    result = await echonet_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "echonet_reconfigure"
    # Nothing answers at the new address: an error, and the flat runs on as it was.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: free_udp_port(),
            CONF_LIVING_ROOM_CHANNEL: 2,
        },
    )
    assert result["errors"] == {"base": "echonet_cannot_connect"}
    assert echonet_entry.state is ConfigEntryState.LOADED
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: nodes.port(), CONF_LIVING_ROOM_CHANNEL: 2},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert echonet_entry.data["device_family"] == "echonet"
    assert echonet_entry.data[CONF_LIVING_ROOM_CHANNEL] == 2


@pytest.mark.parametrize("fault", ["silent", "late_s", "wrong_tid", "wrong_eoj"])
async def test_a_bad_node_is_unavailable_repaired_and_recovers_without_reload(
    hass: HomeAssistant,
    echonet_flat: EchonetFlat,
    echonet_entry: MockConfigEntry,
    *,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    handle, nodes = echonet_flat
    # Short request timeouts keep the failing polls quick; the repair comes after
    # REPAIR_AFTER_FAILURES polls with no wait in between.
    monkeypatch.setattr(families, "ECHONET_TIMEOUT_S", 0.2)
    monkeypatch.setattr(coordinator_module, "REPAIR_AFTER_S", 0.0)
    echonet_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = echonet_entry.runtime_data.coordinator
    registry = ir.async_get(hass)
    bad_value: object = 1.0 if fault == "late_s" else True
    handle.call(lambda _: setattr(nodes.node(), fault, bad_value))
    caplog.clear()
    for _ in range(coordinator_module.REPAIR_AFTER_FAILURES):
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, coordinator.issue_id) is not None
    soc = hass.states.get(entity_id(hass, Platform.SENSOR, "battery_soc"))
    assert soc is not None
    assert soc.state == STATE_UNAVAILABLE
    # One line for the whole run of failures, not one per poll.
    failing = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failing) == 1, [r.getMessage() for r in failing]

    good_value: object = 0.0 if fault == "late_s" else False
    handle.call(lambda _: setattr(nodes.node(), fault, good_value))
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, coordinator.issue_id) is None
    soc = hass.states.get(entity_id(hass, Platform.SENSOR, "battery_soc"))
    assert soc is not None
    assert soc.state != STATE_UNAVAILABLE
