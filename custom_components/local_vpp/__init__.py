"""Local VPP: a flat's PV, battery, meter and living-room circuit in Home Assistant."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType
from homeassistant.loader import async_get_integration

from .backup import BackupController
from .battery_control import BatteryControl
from .bus_support import BusSupport
from .const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
    MODBUS_TIMEOUT_S,
)
from .coordinator import LocalVppConfigEntry, LocalVppCoordinator, LocalVppData
from .device import ROLE_BATTERY, FlatDevice, UnitIds
from .entity import device_info
from .group_discharge import GroupDischarge
from .ledger_mesh import MeshIssueReporter
from .ledger_sample import sample_from_reading
from .services import async_setup_services
from .sidecar_link import SidecarLink

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions, once for every flat."""
    async_setup_services(hass)
    return True


def device_from_entry_data(data: Mapping[str, Any]) -> FlatDevice:
    """Build the flat's device object from config entry data."""
    return FlatDevice.tcp(
        data[CONF_HOST],
        data[CONF_PORT],
        UnitIds(
            pv=data[CONF_UNIT_PV],
            battery=data[CONF_UNIT_BATTERY],
            meter=data[CONF_UNIT_METER],
        ),
        timeout=MODBUS_TIMEOUT_S,
    )


async def async_setup_entry(hass: HomeAssistant, entry: LocalVppConfigEntry) -> bool:
    """Connect to the flat, poll once, then set up the platforms."""
    device = device_from_entry_data(entry.data)
    control = BatteryControl(device)
    coordinator = LocalVppCoordinator(
        hass, entry, device, after_poll=control.async_keep_alive
    )
    try:
        await coordinator.async_config_entry_first_refresh()
    except Exception:
        await device.async_close()
        raise
    backup = BackupController(hass, entry, coordinator, control)
    await backup.async_start()
    link = await _async_start_sidecar_link(hass, entry, coordinator)
    entry.runtime_data = LocalVppData(
        device=device,
        control=control,
        coordinator=coordinator,
        backup=backup,
        sidecar=link,
    )
    if link is not None:
        group = GroupDischarge(
            hass, entry, coordinator, control=control, backup=backup, link=link
        )
        group.async_start()
        mesh_issues = MeshIssueReporter(hass, entry.entry_id, link)
        entry.async_on_unload(mesh_issues.async_start())
        entry.runtime_data.group = group
        entry.runtime_data.mesh_issues = mesh_issues
        if device.has_bus:
            bus = BusSupport(
                hass, entry, coordinator, control=control, backup=backup, link=link
            )
            bus.async_start()
            entry.runtime_data.bus = bus
    # The PV inverter and meter hang off the hybrid inverter: it must exist first.
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **device_info(coordinator, ROLE_BATTERY)
    )
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if not entry.pref_disable_polling:
        entry.async_create_background_task(
            hass, coordinator.async_poll_forever(), f"{DOMAIN} polling"
        )
    return True


async def _async_start_sidecar_link(
    hass: HomeAssistant, entry: LocalVppConfigEntry, coordinator: LocalVppCoordinator
) -> SidecarLink | None:
    """Stream every good poll to the flat's ledger sidecar, if one is configured."""
    url = entry.options.get(CONF_SIDECAR_URL)
    token = entry.options.get(CONF_SIDECAR_TOKEN)
    if not url or not token:
        return None
    link = SidecarLink(
        async_get_clientsession(hass),
        url,
        token,
        client=f"{DOMAIN} {(await async_get_integration(hass, DOMAIN)).version}",
        serial=coordinator.device.serial,
    )

    @callback
    def send_sample() -> None:
        if coordinator.last_update_success:
            link.submit(sample_from_reading(coordinator.data, int(time.time() * 1000)))

    entry.async_on_unload(coordinator.async_add_listener(send_sample))
    entry.async_create_background_task(hass, link.run(), f"{DOMAIN} sidecar link")
    return link


async def _async_options_updated(
    hass: HomeAssistant, entry: LocalVppConfigEntry
) -> None:
    """Apply a new poll interval by reloading the entry."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: LocalVppConfigEntry) -> bool:
    """Unload the platforms and close the Modbus connection."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        if (group := entry.runtime_data.group) is not None:
            await group.async_stop()
        if (bus := entry.runtime_data.bus) is not None:
            await bus.async_stop()
        if (mesh_issues := entry.runtime_data.mesh_issues) is not None:
            mesh_issues.async_clear()
        await entry.runtime_data.backup.async_stop()
        await entry.runtime_data.device.async_close()
        ir.async_delete_issue(hass, DOMAIN, entry.runtime_data.coordinator.issue_id)
    return unloaded
