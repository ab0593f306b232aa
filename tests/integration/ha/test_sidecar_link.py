"""The integration streams its readings to a real ledger sidecar process."""

from __future__ import annotations

from functools import partial

import pytest
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import CONF_SIDECAR_TOKEN, CONF_SIDECAR_URL
from custom_components.local_vpp.ledger.sidecar_link import SidecarLink
from devkit.sidecar_node import SidecarNode as Sidecar
from devkit.sidecar_node import sidecar_cli
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.support import entity_id


async def _set_up_linked(
    hass: HomeAssistant, config_entry: MockConfigEntry, url: str, token: str
) -> SidecarLink:
    """Set the flat up with its sidecar configured; return the link."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: url, CONF_SIDECAR_TOKEN: token},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    link = config_entry.runtime_data.sidecar
    assert link is not None
    return link


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_readings_become_signed_entries(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    link = await _set_up_linked(hass, config_entry, sidecar.ws_url, sidecar.token)

    await until(
        lambda: (link.last_seq or 0) >= 3, 30, lambda: flat.advance(1), interval=0.1
    )
    await config_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert link.rejections == 0
    connected = hass.states.get(
        entity_id(hass, Platform.BINARY_SENSOR, "sidecar_connected")
    )
    assert connected is not None
    assert connected.state == STATE_ON
    entries = hass.states.get(entity_id(hass, Platform.SENSOR, "ledger_entries"))
    assert entries is not None
    assert int(entries.state) >= 3

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    # Anyone holding the database can check it, without trusting the node.
    verified = await hass.async_add_executor_job(
        partial(sidecar_cli, "verify", str(sidecar.db), timeout=60)
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_sidecar_options_are_checked(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SIDECAR_URL: "ws://127.0.0.1:1/api/v1/ws"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "sidecar_incomplete"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SIDECAR_URL: "http://127.0.0.1:1/", CONF_SIDECAR_TOKEN: "x" * 32},
    )
    assert result["errors"] == {CONF_SIDECAR_URL: "sidecar_url_scheme"}


async def test_link_survives_a_sidecar_restart(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    link = await _set_up_linked(hass, config_entry, sidecar.ws_url, sidecar.token)
    await until(
        lambda: (link.last_seq or 0) >= 2, 30, lambda: flat.advance(1), interval=0.1
    )

    await sidecar.stop()
    await until(lambda: not link.connected, 10, interval=0.1)
    # Readings keep coming while the sidecar is away; they wait in the buffer.
    await until(lambda: link.pending > 0, 10, interval=0.1)
    before = link.last_seq or 0

    await sidecar.start()
    await until(
        lambda: link.connected and not link.pending and (link.last_seq or 0) > before,
        30,
        lambda: flat.advance(1),
        interval=0.1,
    )
    assert link.rejections == 0
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_wrong_token_is_reported_not_retried_silently(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: sidecar.ws_url, CONF_SIDECAR_TOKEN: "not-the-token"},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    link = config_entry.runtime_data.sidecar
    assert link is not None
    await until(lambda: link.last_error is not None, 10, interval=0.1)
    assert not link.connected
    assert "401" in link.last_error
    assert await hass.config_entries.async_unload(config_entry.entry_id)
