"""A ledger sidecar announced over zeroconf is linked to its flat's entry."""

from __future__ import annotations

import socket
from ipaddress import ip_address
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_IGNORE, SOURCE_ZEROCONF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    DOMAIN,
)
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import AUTHOR, TOKEN, ScriptedSidecar
from tests.integration.ha.support import BATTERY_SERIAL


def _info(port: int, **txt: str) -> ZeroconfServiceInfo:
    properties = {
        "v": "1",
        "building": "bldg-test",
        "floor": "1",
        "flat": "101",
        "author": AUTHOR,
        "serial": BATTERY_SERIAL,
        "path": "/api/v1/ws",
    } | txt
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=port,
        hostname="flat-101.local.",
        type="_lvpp-ledger._tcp.local.",
        name="flat-101._lvpp-ledger._tcp.local.",
        properties=properties,
    )


async def _discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> Any:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )


async def test_discovered_sidecar_is_linked_after_the_token(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    result = await _discover(hass, _info(scripted_sidecar.port))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    placeholders = result["description_placeholders"]
    assert placeholders["url"] == scripted_sidecar.url
    assert placeholders["flat"] == "101"
    assert placeholders["building"] == "bldg-test"
    assert placeholders["entry"] == loaded_entry.title

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SIDECAR_TOKEN: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "sidecar_invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SIDECAR_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "sidecar_linked"
    await hass.async_block_till_done()
    assert loaded_entry.options[CONF_SIDECAR_URL] == scripted_sidecar.url
    assert loaded_entry.options[CONF_SIDECAR_TOKEN] == TOKEN
    # Earlier options are kept.
    assert loaded_entry.options["poll_interval"] == 1.0
    # Reloaded with the link, which says hello with the flat's serial.
    link = loaded_entry.runtime_data.sidecar
    assert link is not None
    await until(lambda: link.connected)
    assert scripted_sidecar.of_type("hello")[-1]["serial"] == BATTERY_SERIAL

    # Announced again at the same address: nothing to do.
    again = await _discover(hass, _info(scripted_sidecar.port))
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)


async def test_sidecar_of_a_flat_not_set_up(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await _discover(hass, _info(8765, serial="LVPP-999-BAT"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_set_up"


async def test_without_a_serial_the_only_unlinked_flat(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    linked = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 102",
        unique_id="LVPP-102-BAT",
        options={CONF_SIDECAR_URL: "ws://127.0.0.2:8765/api/v1/ws"},
    )
    linked.add_to_hass(hass)
    ignored = MockConfigEntry(domain=DOMAIN, source=SOURCE_IGNORE, unique_id="x")
    ignored.add_to_hass(hass)
    result = await _discover(hass, _info(scripted_sidecar.port, serial="", path=""))
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"]["entry"] == loaded_entry.title
    assert result["description_placeholders"]["url"] == scripted_sidecar.url


async def test_without_a_serial_and_several_candidates(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    MockConfigEntry(domain=DOMAIN, title="Flat 102", unique_id="LVPP-102").add_to_hass(
        hass
    )
    result = await _discover(hass, _info(8765, serial=""))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_set_up"


async def test_unreachable_sidecar_and_ipv6(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    info = _info(9, path="api/v1/ws")
    info.ip_address = ip_address("::1")
    result = await _discover(hass, info)
    assert result["description_placeholders"]["url"] == "ws://[::1]:9/api/v1/ws"
    hass.config_entries.flow.async_abort(result["flow_id"])

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = int(sock.getsockname()[1])
    result = await _discover(hass, _info(closed_port))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SIDECAR_TOKEN: TOKEN}
    )
    assert result["errors"] == {"base": "sidecar_cannot_connect"}


@pytest.mark.parametrize(
    "answer",
    [{"type": "error", "reason": "unsupported_protocol"}, ["not", "a", "dict"]],
)
async def test_sidecar_that_refuses_the_hello(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
    monkeypatch: pytest.MonkeyPatch,
    answer: object,
) -> None:
    async def refuse(request: Any) -> Any:
        from aiohttp import web

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive_json()
        await ws.send_json(answer)
        await ws.close()
        return ws

    monkeypatch.setattr(scripted_sidecar, "_handle", refuse)
    await scripted_sidecar.stop()
    await scripted_sidecar.start(scripted_sidecar.port)
    result = await _discover(hass, _info(scripted_sidecar.port))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SIDECAR_TOKEN: TOKEN}
    )
    assert result["errors"] == {"base": "sidecar_refused"}


async def test_options_check_the_sidecar(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SIDECAR_URL: scripted_sidecar.url, CONF_SIDECAR_TOKEN: "wrong"},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "sidecar_invalid_auth"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SIDECAR_URL: scripted_sidecar.url, CONF_SIDECAR_TOKEN: TOKEN},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options[CONF_SIDECAR_TOKEN] == TOKEN
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)


async def test_a_linked_sidecar_that_moved_is_followed(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {
            CONF_SIDECAR_URL: "ws://127.0.0.1:1/api/v1/ws",
            CONF_SIDECAR_TOKEN: TOKEN,
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    result = await _discover(hass, _info(scripted_sidecar.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "sidecar_moved"
    await hass.async_block_till_done()
    assert config_entry.options[CONF_SIDECAR_URL] == scripted_sidecar.url
    assert config_entry.options[CONF_SIDECAR_TOKEN] == TOKEN
    assert await hass.config_entries.async_unload(config_entry.entry_id)
