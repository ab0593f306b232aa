"""A group discharge as residents meet it: a notification in their language, times
on the home's clock, and a setpoint box that takes any watt."""

from __future__ import annotations

from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.local_vpp.const import DOMAIN, SERVICE_REQUEST_GROUP_DISCHARGE
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import (
    EVENT,
    ScriptedSidecar,
    setpoint_message,
)
from tests.integration.ha.support import entity_id, set_up_linked


async def _notifications(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> list[dict[str, Any]]:
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    response = await client.receive_json()
    assert response["success"]
    return list(response["result"])


async def _in_japan(hass: HomeAssistant, language: str) -> None:
    await hass.config.async_update(language=language, time_zone="Asia/Tokyo")
    assert await async_setup_component(hass, "persistent_notification", {})


async def test_residents_are_told_in_japanese_and_on_their_clock(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    hass_ws_client: WebSocketGenerator,
) -> None:
    await _in_japan(hass, "ja")
    await set_up_linked(hass, config_entry, scripted_sidecar)
    # The vector's event runs until 2026-06-20 09:05:01 JST.
    await scripted_sidecar.push(setpoint_message(w=700))
    await until(lambda: flat.state.setpoint.enabled)
    await hass.async_block_till_done()
    (shown,) = await _notifications(hass, hass_ws_client)
    assert shown["title"] == "一斉放電: evening peak"
    assert "09:05 まで" in shown["message"]
    assert "現在 700 W を供給" in shown["message"]
    assert config_entry.title in shown["message"]

    await scripted_sidecar.push(
        {"type": "setpoint", "active": False, "event": EVENT, "w": 0, "reason": "done"}
    )
    await until(lambda: not flat.state.setpoint.enabled)
    await hass.async_block_till_done()
    assert await _notifications(hass, hass_ws_client) == []


async def test_a_flat_left_out_is_told_so(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    hass_ws_client: WebSocketGenerator,
) -> None:
    await _in_japan(hass, "en")
    await set_up_linked(hass, config_entry, scripted_sidecar)
    group = config_entry.runtime_data.group
    assert group is not None
    group.async_set_participation(False)
    await scripted_sidecar.push(setpoint_message(w=700))
    await until(lambda: group.active)
    await hass.async_block_till_done()
    (shown,) = await _notifications(hass, hass_ws_client)
    assert shown["title"] == "Group discharge: evening peak"
    assert "until 09:05" in shown["message"]
    assert "does not take part" in shown["message"]


async def test_action_answers_on_the_home_clock(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await _in_japan(hass, "ja")
    await set_up_linked(hass, config_entry, scripted_sidecar)
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_REQUEST_GROUP_DISCHARGE,
        {
            "config_entry_id": config_entry.entry_id,
            "power_kw": 2,
            "duration": {"minutes": 15},
            "reason": "peak",
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert str(response["until"]).endswith("+09:00")


async def test_the_setpoint_takes_any_watt(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    setpoint = entity_id(hass, Platform.NUMBER, "battery_setpoint")
    state = hass.states.get(setpoint)
    assert state is not None
    assert state.attributes["step"] == 1
    await hass.services.async_call(
        "number", "set_value", {"entity_id": setpoint, "value": 743}, blocking=True
    )
    await until(lambda: flat.state.setpoint.setpoint_w == 743)
