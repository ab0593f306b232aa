"""A simulated building linked to Home Assistant and sidecars, for ledger checks.

The flats, their sidecars (in one roster) and their config entries, and what to
compare the ledger with: the registers Home Assistant reads, by the flow total each
becomes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

import devkit.building
from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from devkit.sidecar_node import ConfigValue, SidecarNode
from sidecar.ledger.identity import Identity
from simulator.model.state import FlatState
from simulator.threaded import BuildingThread
from tests.sidecar.flow_checks import own_flows


@dataclass
class Flat:
    """One simulated flat with its sidecar and its config entry."""

    name: str
    port: int
    sidecar: SidecarNode
    author: bytes
    entry: MockConfigEntry | None = None


def counters(state: FlatState) -> dict[str, int]:
    """The registers Home Assistant reads, by the flow total they become (Wh)."""
    return {
        "pv": state.pv.tot_wh_inj,
        "grid_in": state.meter.tot_wh_abs,
        "grid_out": state.meter.tot_wh_inj,
        "bat_in": state.battery.tot_wh_abs,
        "bat_out": state.battery.tot_wh_inj,
        "living": state.living_room.tot_wh,
    }


@asynccontextmanager
async def linked_flats(
    hass: HomeAssistant,
    building: BuildingThread,
    directory: Path,
    building_id: str,
    settings: Mapping[str, ConfigValue],
) -> AsyncIterator[list[Flat]]:
    """Each flat's sidecar running and its Home Assistant entry set up."""
    ports = dict(sorted(building.ports.items()))
    sidecars = await hass.async_add_executor_job(
        partial(
            devkit.building.Building,
            directory,
            list(ports),
            building=building_id,
            settings=settings,
        )
    )
    made = [
        Flat(node.name, ports[node.name], node, Identity.load(node.key_file).author)
        for node in sidecars.flats
    ]
    try:
        await sidecars.start()
        await set_up_entries(hass, made, "ledger")
        yield made
    finally:
        await unload(hass, made)
        failures = await sidecars.close()
        if failures:
            raise failures[0]


async def unload(hass: HomeAssistant, flats: list[Flat]) -> None:
    """Unload every flat's entry that is still loaded."""
    for flat in flats:
        if flat.entry is not None and flat.entry.state.recoverable:
            await hass.config_entries.async_unload(flat.entry.entry_id)
    await hass.async_block_till_done()


class LinkedFlat(Protocol):
    """A simulated flat the end-to-end tests add to Home Assistant with its sidecar."""

    name: str
    port: int
    sidecar: SidecarNode
    entry: MockConfigEntry | None


async def set_up_entries(
    hass: HomeAssistant, flats: Sequence[LinkedFlat], unique_prefix: str
) -> None:
    """Add every flat to Home Assistant, linked to its own sidecar."""
    for flat in flats:
        flat.entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Flat {flat.name}",
            unique_id=f"{unique_prefix}-{flat.name}",
            data={
                CONF_HOST: "127.0.0.1",
                CONF_PORT: flat.port,
                CONF_UNIT_PV: 1,
                CONF_UNIT_BATTERY: 2,
                CONF_UNIT_METER: 3,
            },
            options={
                "poll_interval": 1.0,
                CONF_SIDECAR_URL: flat.sidecar.ws_url,
                CONF_SIDECAR_TOKEN: flat.sidecar.token,
            },
        )
        flat.entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(flat.entry.entry_id)
    await hass.async_block_till_done()


def last_end(flat: Flat) -> int:
    """The end of the flat's newest flow in its own database (0 before the first)."""
    flows = own_flows(flat.sidecar.db, flat.author)
    return int(flows[-1]["end"]) if flows else 0
