"""The bus changeover controller of ECHONET Lite and SunSpec 1xx flats, end to end.

Flat 101 of a simulated building is of the family under test; its controller is
the simulator's Modbus endpoint beside the flat's own devices (real sockets). The
installer names it in the options: the form checks it serves model 64901, and
only then is the flat on the bus. A controller that stops answering leaves the
bus entities unavailable, never 0, and the rest of the flat as it was.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.group.bus_controller_options import (
    CONF_BUS_CONTROLLER_HOST,
    CONF_BUS_CONTROLLER_PORT,
    CONF_BUS_CONTROLLER_UNIT,
)
from simulator.model.config import BuildingConfig
from tests.integration.ha.bus_building import (
    BUS_KEYS,
    BusBuilding,
    bus_entity,
    close_bus_building,
    flat_entry,
    run_bus_building,
    state,
)
from tests.integration.ha.families import ECHONET, SUNSPEC_1XX

CONTROLLER_KEYS = (
    CONF_BUS_CONTROLLER_HOST,
    CONF_BUS_CONTROLLER_PORT,
    CONF_BUS_CONTROLLER_UNIT,
)


@pytest.fixture(params=(ECHONET, SUNSPEC_1XX))
def building(
    request: pytest.FixtureRequest, socket_enabled: None
) -> Iterator[BusBuilding]:
    """Two flats on the bus; flat 101 of the family under test, 102 SunSpec 7xx."""
    config = BuildingConfig(
        flats=2,
        base_port=0,
        manual_clock=True,
        start=datetime(2026, 1, 15, 9, 0),
        soc_bands=((1.0, 60.0, 80.0),),
        bus_wired_share=1.0,
    )
    handle = run_bus_building(config, request.param)
    handle.advance(60)
    try:
        yield handle
    finally:
        close_bus_building(handle)


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _submit(
    hass: HomeAssistant, entry: MockConfigEntry, controller: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    fields = {str(key) for key in result["data_schema"].schema}
    assert set(CONTROLLER_KEYS) <= fields
    return dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**entry.options, **controller}
        )
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_the_installer_names_the_controller_and_the_flat_joins_the_bus(
    hass: HomeAssistant, building: BusBuilding
) -> None:
    wired = flat_entry(building, "101")
    # Without a controller the flat is exactly as before: not on the bus.
    entry = MockConfigEntry(
        domain=wired.domain,
        title=wired.title,
        unique_id=wired.unique_id,
        data=dict(wired.data),
        options={k: v for k, v in wired.options.items() if k not in CONTROLLER_KEYS},
    )
    await _set_up(hass, entry)
    assert not entry.runtime_data.device.has_bus
    assert entry.runtime_data.coordinator.data.bus is None
    assert bus_entity(hass, "101", "bus_state") is None

    # Nothing listens there: a clear error on the address.
    result = await _submit(
        hass,
        entry,
        {
            CONF_BUS_CONTROLLER_HOST: "127.0.0.1",
            CONF_BUS_CONTROLLER_PORT: _closed_port(),
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BUS_CONTROLLER_HOST: "bus_controller_unreachable"}
    # A SunSpec device without model 64901 (flat 102's PV inverter) is not one.
    result = await _submit(
        hass,
        entry,
        {
            CONF_BUS_CONTROLLER_HOST: "127.0.0.1",
            CONF_BUS_CONTROLLER_PORT: building.ports["102"],
            CONF_BUS_CONTROLLER_UNIT: 1,
        },
    )
    assert result["errors"] == {CONF_BUS_CONTROLLER_HOST: "bus_controller_no_bus_model"}
    assert not any(key in entry.options for key in CONTROLLER_KEYS)

    # The controller itself: saved, the entry reloads, the flat is on the bus.
    controller = {key: wired.options[key] for key in CONTROLLER_KEYS}
    result = await _submit(hass, entry, controller)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert {key: entry.options[key] for key in CONTROLLER_KEYS} == controller
    assert entry.runtime_data.device.has_bus
    assert entry.runtime_data.bus is None  # no sidecar, nothing to follow
    assert state(hass, "101", "bus_state") == "standby"

    # With the controller away, other options still save: it is not asked again.
    building.set_bus_controller_failing(True, "101")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "poll_interval": 2.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["poll_interval"] == 2.0
    assert entry.runtime_data.device.has_bus


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_failed_controller_leaves_only_the_bus_unknown(
    hass: HomeAssistant, building: BusBuilding
) -> None:
    entry = flat_entry(building, "101")
    await _set_up(hass, entry)
    coordinator = entry.runtime_data.coordinator
    assert coordinator.data.bus is not None
    soc = state(hass, "101", "battery_soc")

    building.set_bus_controller_failing(True, "101")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    assert coordinator.data.bus is None
    for key in BUS_KEYS:
        assert state(hass, "101", key) == STATE_UNAVAILABLE, key
    # The flat's own devices still read.
    assert coordinator.data.battery is not None
    assert state(hass, "101", "battery_soc") not in (STATE_UNAVAILABLE, "unknown")
    assert float(state(hass, "101", "battery_soc")) == pytest.approx(float(soc), abs=1)

    # The controller answers again: back without a reload.
    building.set_bus_controller_failing(False, "101")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state(hass, "101", "bus_state") == "standby"
    assert float(state(hass, "101", "bus_energy_exported")) == 0
