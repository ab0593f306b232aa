"""A loaded entry's runtime data: every part of one flat, built whole and wired.

The parts tell each other about changes through dispatcher signals (``signals``),
so none of them needs to know who listens: the link's news go out as signals here,
and the backup and the group send their own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.loader import async_get_integration

from .backup.controller import BackupController
from .battery_control import BatteryControl
from .battery_facts import BatteryFacts
from .battery_health.health import BatteryHealth
from .const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    DOMAIN,
)
from .coordinator import LocalVppCoordinator
from .device import DeviceError
from .device.interface import AnyFlatDevice
from .families import device_from_entry_data
from .group.bus_controller_options import with_bus_controller
from .group.bus_support import BusSupport
from .group.discharge import GroupDischarge
from .ledger.estimating import EstimatingIssueReporter
from .ledger.first_roster import FirstRosterWatcher
from .ledger.mesh import MeshIssueReporter
from .ledger.messages import BusSetpoint, GroupSetpoint
from .ledger.roster_vote import RosterVoteWatcher, SidecarRoster
from .ledger.sample import sample_from_reading
from .ledger.sidecar_link import SidecarLink
from .living_room.sources import LivingRoomSetup
from .signals import BUS_SETPOINT_RECEIVED, LINK_CHANGED, SETPOINT_RECEIVED

_LOGGER = logging.getLogger(__name__)

type LocalVppConfigEntry = ConfigEntry[LocalVppData]


@dataclass(frozen=True, slots=True)
class LocalVppData:
    """What a loaded entry keeps at runtime.

    The sidecar's parts exist only with a sidecar configured; the bus follower only
    for a flat on a building bus.
    """

    device: AnyFlatDevice
    control: BatteryControl
    coordinator: LocalVppCoordinator
    backup: BackupController
    sidecar: SidecarLink | None = None
    group: GroupDischarge | None = None
    mesh_issues: MeshIssueReporter | None = None
    bus: BusSupport | None = None
    battery_health: BatteryHealth | None = None


async def async_build_runtime(
    hass: HomeAssistant, entry: LocalVppConfigEntry
) -> LocalVppData:
    """Connect, poll once, start the backup and, with a sidecar, its followers."""
    device = with_bus_controller(device_from_entry_data(entry.data), entry.options)
    living_room = LivingRoomSetup(hass, entry.options)
    facts = BatteryFacts(entry.options, default_reserve=not device.has_reserve_setting)
    control = BatteryControl(device, living_room.changeover)
    coordinator = LocalVppCoordinator(
        hass,
        entry,
        device,
        after_poll=control.async_keep_alive,
        adjust=lambda reading: facts.complete(living_room.adjust(reading)),
    )
    try:
        await coordinator.async_config_entry_first_refresh()
    except Exception:
        await device.async_close()
        raise
    if not device.capabilities.revert_timer:
        try:
            await control.async_hand_back_left_hold(coordinator.data)
        except DeviceError as err:
            _LOGGER.warning("Could not hand the battery back to its own logic: %s", err)
    backup = BackupController(hass, entry, coordinator, control)
    await backup.async_start()
    link = await _async_start_sidecar_link(hass, entry, coordinator)
    if link is None:
        return LocalVppData(device, control, coordinator, backup)
    group = GroupDischarge(
        hass, entry, coordinator, control=control, backup=backup, link=link
    )
    group.async_start()
    mesh_issues = MeshIssueReporter(hass, entry.entry_id, link)
    entry.async_on_unload(mesh_issues.async_start())
    entry.async_on_unload(
        EstimatingIssueReporter(hass, entry.entry_id, link).async_start()
    )
    if (roster := SidecarRoster.of_options(hass, entry.options)) is not None:
        watcher = RosterVoteWatcher(hass, entry.entry_id, roster)
        entry.async_on_unload(watcher.async_start())
        alone = FirstRosterWatcher(hass, entry.entry_id, entry.title, roster)
        entry.async_on_unload(alone.async_start())
    bus = None
    if device.has_bus:
        bus = BusSupport(
            hass, entry, coordinator, control=control, backup=backup, link=link
        )
        bus.async_start()
    health = BatteryHealth(hass, entry, link)
    entry.async_create_background_task(
        hass, health.async_refresh(), f"{DOMAIN} battery health"
    )
    return LocalVppData(
        device, control, coordinator, backup, link, group, mesh_issues, bus, health
    )


async def async_stop_runtime(hass: HomeAssistant, entry: LocalVppConfigEntry) -> None:
    """Stop the followers and the backup, close the connection, drop the repair."""
    data = entry.runtime_data
    if data.group is not None:
        await data.group.async_stop()
    if data.bus is not None:
        await data.bus.async_stop()
    if data.mesh_issues is not None:
        data.mesh_issues.async_clear()
    if data.battery_health is not None:
        data.battery_health.async_clear()
    await data.backup.async_stop()
    await data.device.async_close()
    ir.async_delete_issue(hass, DOMAIN, data.coordinator.issue_id)


async def _async_start_sidecar_link(
    hass: HomeAssistant, entry: ConfigEntry, coordinator: LocalVppCoordinator
) -> SidecarLink | None:
    """Stream every good poll to the flat's ledger sidecar, if one is configured."""
    url = entry.options.get(CONF_SIDECAR_URL)
    token = entry.options.get(CONF_SIDECAR_TOKEN)
    if not url or not token:
        return None
    entry_id = entry.entry_id

    @callback
    def changed() -> None:
        async_dispatcher_send(hass, LINK_CHANGED.format(entry_id))

    @callback
    def setpoint(setpoint: GroupSetpoint) -> None:
        async_dispatcher_send(hass, SETPOINT_RECEIVED.format(entry_id), setpoint)

    @callback
    def bus_setpoint(setpoint: BusSetpoint) -> None:
        async_dispatcher_send(hass, BUS_SETPOINT_RECEIVED.format(entry_id), setpoint)

    link = SidecarLink(
        async_get_clientsession(hass),
        url,
        token,
        client=f"{DOMAIN} {(await async_get_integration(hass, DOMAIN)).version}",
        serial=coordinator.device.serial,
        on_change=changed,
        on_setpoint=setpoint,
        on_bus_setpoint=bus_setpoint,
    )

    @callback
    def send_sample() -> None:
        if coordinator.last_update_success:
            link.submit(sample_from_reading(coordinator.data, int(time.time() * 1000)))

    entry.async_on_unload(coordinator.async_add_listener(send_sample))
    entry.async_create_background_task(hass, link.run(), f"{DOMAIN} sidecar link")
    return link
