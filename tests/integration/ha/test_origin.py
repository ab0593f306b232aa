"""Renewable origin in Home Assistant, read from a real ledger sidecar process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    DOMAIN,
)
from devkit.ports import free_port
from devkit.sidecar_node import SidecarNode as Sidecar
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.support import entity_id, set_up_with_sidecar

KEYS = (
    "renewable_share_today",
    "building_renewable_share_today",
    "renewable_energy_today",
    "neighbour_energy_today",
)


async def _set_up(
    hass: HomeAssistant, config_entry: MockConfigEntry, url: str, token: str
) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    await set_up_with_sidecar(hass, config_entry, url, token)


async def _update(hass: HomeAssistant, key: str) -> str:
    found = entity_id(hass, Platform.SENSOR, key)
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": found}, blocking=True
    )
    await hass.async_block_till_done()
    state = hass.states.get(found)
    assert state is not None
    return state.state


async def test_todays_renewable_energy_comes_from_the_sidecar(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    """The midday flat's PV shows as renewable energy and a share; statistics fit."""
    await _set_up(hass, config_entry, sidecar.ws_url, sidecar.token)
    link = config_entry.runtime_data.sidecar
    assert link is not None
    await until(
        lambda: (link.last_seq or 0) >= 5, 30, lambda: flat.advance(1), interval=0.1
    )
    energy = await _update(hass, "renewable_energy_today")
    assert energy != STATE_UNAVAILABLE
    assert float(energy) >= 0
    share = await _update(hass, "renewable_share_today")
    assert share != STATE_UNAVAILABLE
    classes = {
        key: hass.states.get(entity_id(hass, Platform.SENSOR, key)).attributes.get(  # type: ignore[union-attr]
            ATTR_STATE_CLASS
        )
        for key in KEYS
    }
    assert classes == {
        "renewable_share_today": SensorStateClass.MEASUREMENT,
        "building_renewable_share_today": SensorStateClass.MEASUREMENT,
        "renewable_energy_today": SensorStateClass.TOTAL_INCREASING,
        "neighbour_energy_today": SensorStateClass.TOTAL_INCREASING,
    }

    now = dt_util.now()
    reply = await hass.services.async_call(
        DOMAIN,
        "get_certificates",
        {"start": now - timedelta(days=1), "end": now},
        blocking=True,
        return_response=True,
    )
    assert reply is not None
    assert reply["header"]["type"] == "certificates"  # type: ignore[index]
    assert reply["tz"] == "Asia/Tokyo"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "get_certificates",
            {"start": now, "end": now - timedelta(hours=1)},
            blocking=True,
            return_response=True,
        )
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_origin_sensors_are_unavailable_without_the_sidecar(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    socket_enabled: None,
) -> None:
    """A sidecar that does not answer makes them unavailable, never 0.

    The server speaks Japanese: the ids are still ASCII and name the flat.
    """
    await hass.config.async_update(language="ja")
    url = f"ws://127.0.0.1:{free_port()}/api/v1/ws"
    await _set_up(hass, config_entry, url, "x" * 32)
    for key in KEYS:
        assert await _update(hass, key) == STATE_UNAVAILABLE
        found = entity_id(hass, Platform.SENSOR, key)
        assert found.isascii(), found
        assert found.startswith("sensor.flat_lvpp_101_bat_battery_"), found
    assert await hass.config_entries.async_unload(config_entry.entry_id)
