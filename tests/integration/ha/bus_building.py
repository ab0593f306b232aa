"""The building's flats on the bus, for the bus-support tests: entries and look-ups."""

from __future__ import annotations

from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.backup.grid_watch import GridState
from custom_components.local_vpp.const import (
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from devkit.waiting import until
from simulator.threaded import BuildingThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import set_up_linked


def flat_entry(building: BuildingThread, flat: str) -> MockConfigEntry:
    """An entry for one of the building's flats, not yet set up."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Flat {flat}",
        unique_id=f"LVPP-{flat}-BAT",
        data={
            CONF_HOST: building.host,
            CONF_PORT: building.ports[flat],
            CONF_UNIT_PV: 1,
            CONF_UNIT_BATTERY: 2,
            CONF_UNIT_METER: 3,
        },
        options={"poll_interval": 1.0},
    )


def bus_entity(hass: HomeAssistant, flat: str, key: str) -> str | None:
    """The entity id of a flat's sensor, ``None`` when it does not exist."""
    return er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"LVPP-{flat}-BAT_{key}"
    )


def state(hass: HomeAssistant, flat: str, key: str) -> str:
    """A flat's sensor state."""
    found = bus_entity(hass, flat, key)
    assert found is not None, f"no sensor {key} for flat {flat}"
    current = hass.states.get(found)
    assert current is not None
    return current.state


def number(hass: HomeAssistant, flat: str, key: str) -> float:
    """A flat's sensor as a number in the device's unit (W, Wh)."""
    found = bus_entity(hass, flat, key)
    assert found is not None
    current = hass.states.get(found)
    assert current is not None
    value = float(current.state)
    if current.attributes.get("unit_of_measurement") == "kWh":
        value *= 1000
    return value


async def link_flats(
    hass: HomeAssistant,
    building: BuildingThread,
    sidecars: dict[str, ScriptedSidecar],
) -> dict[str, MockConfigEntry]:
    """Flats 101 and 102 set up, each linked to its scripted sidecar."""
    entries: dict[str, MockConfigEntry] = {}
    for flat, sidecar in sidecars.items():
        entries[flat] = flat_entry(building, flat)
        await set_up_linked(hass, entries[flat], sidecar)
    return entries


async def grid_out(
    hass: HomeAssistant, building: BuildingThread, entries: dict[str, MockConfigEntry]
) -> None:
    """The building's grid fails; wait until every flat has confirmed it."""
    building.set_outage(True)
    await until(
        lambda: all(
            e.runtime_data.backup.watch.state is GridState.OUTAGE
            for e in entries.values()
        ),
        seconds=15,
    )
    await hass.async_block_till_done()


def newest(sidecar: ScriptedSidecar, kind: str) -> dict[str, Any]:
    """The newest message of ``kind`` Home Assistant sent."""
    sent = sidecar.of_type(kind)
    assert sent, f"no {kind} sent"
    return sent[-1]


def bus_w(building: BuildingThread, flat: str) -> float:
    """What flat ``flat`` exchanges with the bus now (+ export)."""
    bus = building.flat_state(flat).bus
    assert bus is not None
    return bus.w


def bus_setpoint_w(building: BuildingThread, flat: str) -> int:
    """The bus setpoint the simulated flat holds."""
    bus = building.flat_state(flat).bus
    assert bus is not None
    return bus.setpoint_w


async def set_up_lone_and_bus_flat(
    hass: HomeAssistant, building: BuildingThread, lone: MockConfigEntry
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Set up a lone flat (no model 64901) and building flat 102 side by side."""
    on_bus = flat_entry(building, "102")
    for entry in (lone, on_bus):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return lone, on_bus
