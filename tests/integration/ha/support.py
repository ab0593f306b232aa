"""Helpers for the Home Assistant tests: entry data, entity look-ups, linked set-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from custom_components.local_vpp.ledger.sidecar_link import SidecarLink
from devkit.waiting import until
from simulator.model.config import FlatConfig
from simulator.threaded import FlatThread, run_flat_in_thread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar

BATTERY_SERIAL = "LVPP-101-BAT"


def entry_data(flat: FlatThread) -> dict[str, Any]:
    """Config entry data pointing at ``flat``."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: flat.port,
        CONF_UNIT_PV: 1,
        CONF_UNIT_BATTERY: 2,
        CONF_UNIT_METER: 3,
    }


def entity_id(hass: HomeAssistant, platform: Platform, key: str) -> str:
    """The entity id of one of the flat's entities, by description key."""
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{BATTERY_SERIAL}_{key}"
    )
    assert found is not None, f"no {platform} entity {key}"
    return found


def assert_starts_disabled(hass: HomeAssistant, platform: Platform, key: str) -> None:
    """The entity is registered, disabled by the integration, and has no state."""
    found = entity_id(hass, platform, key)
    entry = er.async_get(hass).async_get(found)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(found) is None


def numeric_state(hass: HomeAssistant, platform: Platform, key: str) -> float:
    """An entity's state as a number in the device's own unit (W, Wh, %, V, Hz)."""
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    value = float(state.state)
    # Energy is shown in kWh; the device counts Wh.
    if state.attributes.get("unit_of_measurement") == "kWh":
        value *= 1000
    return value


async def set_up_with_sidecar(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    url: str,
    token: str,
    **options: Any,
) -> None:
    """Add the flat's entry with its sidecar's address and token, and set it up."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: url, CONF_SIDECAR_TOKEN: token}
        | options,
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()


async def set_up_linked(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sidecar: ScriptedSidecar,
    **options: Any,
) -> SidecarLink:
    """Set the flat up with the scripted sidecar configured; wait for the link."""
    await set_up_with_sidecar(hass, config_entry, sidecar.url, sidecar.token, **options)
    link = config_entry.runtime_data.sidecar
    assert link is not None
    await until(lambda: link.connected and link.mesh is not None)
    await hass.async_block_till_done()
    return link


@contextmanager
def morning_flat(**config: Any) -> Iterator[FlatThread]:
    """A simulated flat at midday (``config`` changes its FlatConfig), test-stepped.

    The HA test plugin blocks sockets; the flat is a real server on 127.0.0.1.
    """
    handle = run_flat_in_thread(
        FlatConfig(
            port=0, manual_clock=True, start=datetime(2026, 6, 21, 4, 0), **config
        )
    )
    # A night on battery and a morning of sun: every counter has something in it.
    # Ten-second steps: a tenth of the work, the same morning within a few per cent.
    handle.advance(8 * 3600, max_step_s=10)
    try:
        yield handle
    finally:
        handle.close()


def loop_debug_noise(record: logging.LogRecord) -> bool:
    """A slow-step warning of the test loop's debug mode, not a line of the product.

    The HA test plugin runs the event loop in debug mode, which warns of every step
    over 0.1 s; on a loaded machine those lines are the machine's, and a Home
    Assistant in use does not run in debug mode.
    """
    return record.name == "asyncio" and str(record.msg).startswith("Executing ")


def new_flat_entry(data: dict[str, Any], **options: Any) -> MockConfigEntry:
    """An entry for the test's flat (``data``), polled every second, not yet added."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Flat {BATTERY_SERIAL}",
        unique_id=BATTERY_SERIAL,
        data=data,
        options={"poll_interval": 1.0, **options},
    )
