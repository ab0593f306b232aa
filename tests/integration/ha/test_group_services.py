"""The group discharge actions go to the flat's sidecar and return its answer."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    DOMAIN,
    SERVICE_CANCEL_GROUP_DISCHARGE,
    SERVICE_REQUEST_GROUP_DISCHARGE,
)
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import EVENT, ScriptedSidecar
from tests.integration.ha.support import BATTERY_SERIAL, set_up_linked


async def _request(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_REQUEST_GROUP_DISCHARGE,
        data,
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


async def test_power_request_is_published(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    response = await _request(
        hass,
        config_entry_id=config_entry.entry_id,
        power_kw=5,
        duration={"minutes": 15},
        reason="evening peak",
    )
    assert response["event"] == EVENT
    assert response["until"].startswith("2026-")
    (sent,) = scripted_sidecar.of_type("dispatch_request")
    assert sent == {
        "type": "dispatch_request",
        "id": sent["id"],
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "duration_s": 900,
        "reason": "evening peak",
    }


async def test_meter_limit_request_by_device(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    device = dr.async_get(hass).async_get_device({(DOMAIN, BATTERY_SERIAL)})
    assert device is not None
    await _request(
        hass,
        device=device.id,
        meter_limit_kw=20,
        building_demand_kw=23.5,
        duration=30,
        direction="charge",
    )
    (sent,) = scripted_sidecar.of_type("dispatch_request")
    assert sent["mode"] == "meter_limit"
    assert sent["limit_w"] == 20000
    assert sent["meter_w"] == 23500
    assert sent["duration_s"] == 1800
    assert sent["direction"] == "charge"
    assert sent["reason"] == "Home Assistant"
    assert "target_w" not in sent


async def test_cancel(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    # The only flat: it need not be named.
    response = await hass.services.async_call(
        DOMAIN, SERVICE_CANCEL_GROUP_DISCHARGE, {}, blocking=True, return_response=True
    )
    assert response == {"event": EVENT}
    (sent,) = scripted_sidecar.of_type("dispatch_cancel")
    assert sent["event"] is None
    await hass.services.async_call(
        DOMAIN,
        SERVICE_CANCEL_GROUP_DISCHARGE,
        {"config_entry_id": config_entry.entry_id, "event": "aa" * 32},
        blocking=True,
    )
    assert scripted_sidecar.of_type("dispatch_cancel")[-1]["event"] == "aa" * 32


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "power_or_meter_limit"),
        ({"power_kw": 5, "meter_limit_kw": 20}, "power_or_meter_limit"),
        ({"meter_limit_kw": 20}, "demand_required"),
        ({"power_kw": 5, "building_demand_kw": 20}, "demand_only_with_meter_limit"),
        ({"power_kw": 0}, "power_positive"),
        ({"power_kw": 5, "duration": {"seconds": 30}}, "duration_out_of_range"),
        ({"power_kw": 5, "duration": 24 * 60 + 1}, "duration_out_of_range"),
        ({"power_kw": 5, "reason": "x" * 65}, "reason_length"),
        ({"power_kw": 5, "reason": "   "}, "reason_length"),
        ({"power_kw": 5, "device": "no-such-device"}, "unknown_device"),
        ({"power_kw": 5, "config_entry_id": "no-such-entry"}, "unknown_flat"),
    ],
)
async def test_bad_requests_are_refused_with_reasons(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
    data: dict[str, Any],
    key: str,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    with pytest.raises(ServiceValidationError) as raised:
        await _request(hass, **data)
    assert raised.value.translation_key == key
    assert scripted_sidecar.of_type("dispatch_request") == []


async def test_device_and_entry_must_agree(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    other = MockConfigEntry(domain=DOMAIN, title="Flat 102", unique_id="LVPP-102-BAT")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_device({(DOMAIN, BATTERY_SERIAL)})
    assert device is not None
    with pytest.raises(ServiceValidationError) as raised:
        await _request(
            hass, power_kw=5, config_entry_id=other.entry_id, device=device.id
        )
    assert raised.value.translation_key == "flat_ambiguous"
    with pytest.raises(ServiceValidationError) as raised:
        await _request(hass, power_kw=5, config_entry_id=other.entry_id)
    assert raised.value.translation_key == "flat_not_loaded"
    # Someone else's device is not a flat.
    foreign_entry = MockConfigEntry(domain="demo")
    foreign_entry.add_to_hass(hass)
    foreign = dr.async_get(hass).async_get_or_create(
        config_entry_id=foreign_entry.entry_id, identifiers={("demo", "x")}
    )
    with pytest.raises(ServiceValidationError) as raised:
        await _request(hass, power_kw=5, device=foreign.id)
    assert raised.value.translation_key == "unknown_device"


async def test_refusal_is_reported(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    scripted_sidecar.reply = lambda request: {
        "type": "error",
        "id": request["id"],
        "reason": "no_mesh",
        "detail": "no peer online",
    }
    with pytest.raises(HomeAssistantError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "dispatch_refused"
    assert raised.value.translation_placeholders == {
        "reason": "no_mesh",
        "detail": "no peer online",
    }


async def test_silence_is_a_timeout(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    scripted_sidecar.reply = lambda request: None
    original = link.async_request

    async def quick(message: dict[str, Any], wait_s: float = 0.2) -> dict[str, Any]:
        return await original(message, wait_s)

    monkeypatch.setattr(link, "async_request", quick)
    with pytest.raises(HomeAssistantError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "sidecar_timeout"


async def test_link_dropping_before_the_answer(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)

    def drop(request: dict[str, Any]) -> None:
        hass.async_create_task(scripted_sidecar.stop())

    scripted_sidecar.reply = drop
    with pytest.raises(HomeAssistantError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "sidecar_not_connected"
    # Down: refused at once.
    with pytest.raises(HomeAssistantError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "sidecar_not_connected"
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_without_a_sidecar(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "sidecar_not_configured"


async def test_no_flat_at_all(hass: HomeAssistant, flat: FlatThread) -> None:
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as raised:
        await _request(hass, power_kw=5)
    assert raised.value.translation_key == "flat_required"
    await until(lambda: True)


async def test_actions_are_described_for_the_ui(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    from homeassistant.helpers.selector import validate_selector
    from homeassistant.helpers.service import async_get_all_descriptions

    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == {
        SERVICE_REQUEST_GROUP_DISCHARGE,
        SERVICE_CANCEL_GROUP_DISCHARGE,
        "get_certificates",
        "battery_passport",
        "roster_member",
        "propose_roster_change",
        "approve_roster_change",
        "create_first_roster",
        "adopt_first_roster",
        "wat_statement",
    }
    for description in descriptions.values():
        for field in description["fields"].values():
            validate_selector(field["selector"])
    assert descriptions[SERVICE_REQUEST_GROUP_DISCHARGE]["response"] == {
        "optional": True
    }
    assert descriptions["battery_passport"]["response"] == {"optional": False}
