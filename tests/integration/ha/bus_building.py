"""The building's flats on the bus, for the bus-support tests: entries and look-ups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.backup.grid_watch import GridState
from custom_components.local_vpp.battery_facts import CONF_BATTERY_CAPACITY_WH
from custom_components.local_vpp.const import (
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from custom_components.local_vpp.families import CONF_FAMILY, FAMILY_SUNSPEC_1XX
from custom_components.local_vpp.group.bus_controller_options import (
    CONF_BUS_CONTROLLER_HOST,
    CONF_BUS_CONTROLLER_PORT,
    CONF_BUS_CONTROLLER_UNIT,
)
from custom_components.local_vpp.living_room.options import (
    CONF_LIVING_ROOM_SWITCH,
    SWITCH_SELF,
)
from devkit.waiting import until
from simulator.echonet_nodes import EchonetNodes
from simulator.model.config import BuildingConfig
from simulator.simulator import Simulator
from simulator.threaded import BuildingThread
from tests.integration.ha.echonet_flat import echonet_entry_data
from tests.integration.ha.families import ECHONET, SUNSPEC_1XX, SUNSPEC_7XX
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import set_up_linked

# The bus entities of a flat on the bus, by description key.
BUS_KEYS = (
    "bus_state",
    "bus_power",
    "bus_energy_exported",
    "bus_energy_imported",
    "bus_setpoint",
)


class BusBuilding(BuildingThread):
    """A building whose flat 101 is of family ``family``, the others SunSpec 7xx.

    An ECHONET Lite or SunSpec 1xx flat 101 reaches the bus through its changeover
    controller, which the simulator serves on a Modbus endpoint of its own; an
    ECHONET Lite flat 101 also answers as a node on UDP (``nodes``).
    """

    def __init__(self, config: BuildingConfig, family: str) -> None:
        """Prepare; ``run_bus_building`` starts it."""
        super().__init__(config)
        self.family = family
        self.nodes: EchonetNodes | None = None


def run_bus_building(config: BuildingConfig, family: str) -> BusBuilding:
    """Start ``config`` with flat 101 of ``family``; returns once everything listens."""
    config = replace(
        config,
        echonet_flats=(1,) if family == ECHONET else (),
        sunspec_1xx_flats=(1,) if family == SUNSPEC_1XX else (),
    )
    handle = BusBuilding(config, family)
    handle.start()
    if family != ECHONET:
        return handle

    async def start(sim: Simulator) -> EchonetNodes:
        nodes = EchonetNodes(sim, flat_ids=["101"])
        await nodes.start()
        return nodes

    try:
        handle.nodes = handle.call_async(start)
    except BaseException:
        handle.close()
        raise
    return handle


def close_bus_building(handle: BuildingThread) -> None:
    """Stop the ECHONET Lite node, if any, and the building."""
    nodes = getattr(handle, "nodes", None)
    if nodes is not None:
        handle.call_async(lambda _: nodes.stop())
    handle.close()


def flat_family(building: BuildingThread, flat: str) -> str:
    """The device family of ``flat`` in ``building``."""
    if flat == "101" and isinstance(building, BusBuilding):
        return building.family
    return SUNSPEC_7XX


def flat_entry(building: BuildingThread, flat: str) -> MockConfigEntry:
    """An entry for one of the building's flats, not yet set up.

    A flat of another family than 7xx has its family's data, and its bus
    changeover controller named in the options.
    """
    family = flat_family(building, flat)
    data: dict[str, Any] = {
        CONF_HOST: building.host,
        CONF_PORT: building.ports[flat],
        CONF_UNIT_PV: 1,
        CONF_UNIT_BATTERY: 2,
        CONF_UNIT_METER: 3,
    }
    options: dict[str, Any] = {"poll_interval": 1.0}
    if family != SUNSPEC_7XX:
        options |= {
            CONF_BUS_CONTROLLER_HOST: building.host,
            CONF_BUS_CONTROLLER_PORT: building.bus_controller_ports[flat],
            CONF_BUS_CONTROLLER_UNIT: 1,
        }
    if family == SUNSPEC_1XX:
        data[CONF_FAMILY] = FAMILY_SUNSPEC_1XX
        # No living-room model: the backup output takes the room by itself, and
        # model 124 has no capacity, so the installer types the nameplate.
        options |= {
            CONF_LIVING_ROOM_SWITCH: SWITCH_SELF,
            CONF_BATTERY_CAPACITY_WH: round(building.flat_state(flat).battery.rated_wh),
        }
    if family == ECHONET:
        assert isinstance(building, BusBuilding)
        assert building.nodes is not None
        data = echonet_entry_data(building.nodes)
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Flat {flat}",
        unique_id=f"LVPP-{flat}-BAT",
        data=data,
        options=options,
    )


def measures_room(building: BuildingThread, flat: str) -> bool:
    """Whether the flat's devices measure its living room (a 1xx flat's do not)."""
    return flat_family(building, flat) != SUNSPEC_1XX


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
