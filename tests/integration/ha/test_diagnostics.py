"""Diagnostics carry the registers an installer needs, without serial numbers."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.local_vpp.diagnostics import (
    REDACTED,
    async_get_config_entry_diagnostics,
)
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import (
    TOKEN,
    ScriptedSidecar,
    setpoint_message,
)
from tests.integration.ha.support import BATTERY_SERIAL, set_up_linked


async def test_diagnostics_redact_serials(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    text = json.dumps(diagnostics)
    for serial in (BATTERY_SERIAL, "LVPP-101-PV", "LVPP-101-MTR"):
        assert serial not in text
    assert diagnostics["entry"]["unique_id"] == REDACTED
    assert diagnostics["requests_per_poll"] == 5
    battery = diagnostics["units"]["battery"]
    assert [m["id"] for m in battery["models"]] == [1, 701, 713, 802, 704, 64900]
    registers = diagnostics["registers"]["battery"]
    # Model 1 sits at 40002; its serial occupies offsets 50–65.
    assert registers["40052"] == REDACTED
    assert registers["40067"] == REDACTED
    assert registers["40068"] != REDACTED
    # The reserve register (802 SoCRsvMin, SoC_SF −1) reads as the simulator says.
    reserve_address = 40234 + 10
    assert registers[str(reserve_address)] == round(flat.state.battery.reserve_pct * 10)
    assert diagnostics["reading"]["meter"]["connected"] is True


async def test_diagnostics_when_unreachable(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    flat.disconnect(5)
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    assert "error" in diagnostics["registers"]


async def test_diagnostics_over_http(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    from pytest_homeassistant_custom_component.components.diagnostics import (
        get_diagnostics_for_config_entry,
    )

    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert result["units"]["pv"]["identity"]["serial"] == REDACTED


async def test_diagnostics_show_the_mesh_and_the_group_without_the_token(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await scripted_sidecar.push(setpoint_message(w=300))
    await until(lambda: flat.state.setpoint.enabled)
    await hass.async_block_till_done()
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert TOKEN not in json.dumps(diagnostics)
    assert diagnostics["entry"]["options"]["sidecar_token"] == REDACTED
    sidecar = diagnostics["sidecar"]
    assert sidecar["connected"] is True
    assert sidecar["mesh"]["roster_size"] == 5
    assert sidecar["welcome"]["flat"] == "101"
    group = sidecar["group"]
    assert group["active"] is True
    assert group["participate"] is True
    assert group["current"]["w"] == 300
    assert group["current"]["reason"] == "evening peak"
    assert await hass.config_entries.async_unload(config_entry.entry_id)
