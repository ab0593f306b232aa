"""Poll the flat and hold the latest reading for every entity."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL_S,
    DOMAIN,
    ISSUE_CONNECTION_FAILING,
    REPAIR_AFTER_FAILURES,
    REPAIR_AFTER_S,
    SETPOINT_REARM_BELOW_S,
    SETPOINT_REVERT_S,
)
from .device import (
    CannotConnectError,
    DeviceError,
    DeviceRejectedError,
    FlatDevice,
    FlatReading,
)

if TYPE_CHECKING:
    from .backup import BackupController
    from .bus_support import BusSupport
    from .group_discharge import GroupDischarge
    from .ledger_mesh import MeshIssueReporter
    from .sidecar_link import SidecarLink

_LOGGER = logging.getLogger(__name__)

type LocalVppConfigEntry = ConfigEntry[LocalVppData]


@dataclass(slots=True)
class LocalVppData:
    """What a loaded entry keeps at runtime."""

    device: FlatDevice
    coordinator: LocalVppCoordinator
    backup: BackupController
    sidecar: SidecarLink | None
    group: GroupDischarge | None = None
    mesh_issues: MeshIssueReporter | None = None
    bus: BusSupport | None = None


class LocalVppCoordinator(DataUpdateCoordinator[FlatReading]):
    """Poll the flat at the configured cadence; one poll feeds every entity."""

    config_entry: LocalVppConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: LocalVppConfigEntry, device: FlatDevice
    ) -> None:
        """Set up polling for ``device`` at the entry's poll interval."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.data[CONF_HOST]}:{entry.data[CONF_PORT]}",
            # Polling is ours (see async_poll_forever): the base class rounds its
            # schedule to whole seconds, which sub-second polling cannot live with.
            update_interval=None,
            always_update=True,
        )
        self.poll_interval_s: float = entry.options.get(
            CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL_S
        )
        self.device = device
        self.requested_setpoint_w: float | None = None
        # A group discharge's setpoint, re-written by its own cadence: while it is
        # held, the requested setpoint above waits.
        self.group_setpoint_w: float | None = None
        self._failures = 0
        self._failing_since: float | None = None

    async def async_poll_forever(self) -> None:
        """Poll every ``poll_interval_s``, measured start to start, until cancelled.

        A poll that overruns its slot is followed by the next one at once, without
        a burst of catch-up polls.
        """
        loop = self.hass.loop
        next_at = loop.time()
        while True:
            next_at += self.poll_interval_s
            now = loop.time()
            next_at = max(next_at, now)
            await asyncio.sleep(next_at - now)
            await self.async_refresh()

    @property
    def issue_id(self) -> str:
        """The repair issue raised for this entry's connection."""
        return f"{ISSUE_CONNECTION_FAILING}_{self.config_entry.entry_id}"

    async def _async_update_data(self) -> FlatReading:
        try:
            reading = await self.device.async_poll()
        except DeviceError as err:
            self._record_failure()
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="poll_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        self._record_success()
        await self._keep_setpoint_alive(reading)
        return reading

    def _record_failure(self) -> None:
        now = time.monotonic()
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if (
            self._failures >= REPAIR_AFTER_FAILURES
            and now - self._failing_since >= REPAIR_AFTER_S
        ):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_CONNECTION_FAILING,
                translation_placeholders={
                    "host": str(self.config_entry.data[CONF_HOST]),
                    "port": str(self.config_entry.data[CONF_PORT]),
                    "failures": str(self._failures),
                },
            )

    def _record_success(self) -> None:
        if self._failures:
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        self._failures = 0
        self._failing_since = None

    async def _keep_setpoint_alive(self, reading: FlatReading) -> None:
        """Re-arm the revert timer of a setpoint the user still wants."""
        wanted = self.requested_setpoint_w
        battery = reading.battery
        if wanted is None or battery is None or self.group_setpoint_w is not None:
            return
        remaining = battery.setpoint_revert_remaining_s
        if (
            battery.setpoint_enabled
            and remaining is not None
            and remaining >= SETPOINT_REARM_BELOW_S
        ):
            return
        try:
            await self.device.async_set_power_setpoint(wanted, SETPOINT_REVERT_S)
        except DeviceError as err:
            _LOGGER.warning("Could not re-arm the battery setpoint: %s", err)

    async def async_set_setpoint(self, power_w: float) -> None:
        """Hold ``power_w`` (+ discharge, − charge); 0 hands control back."""
        if power_w == 0:
            self.requested_setpoint_w = None
            await self._write(self.device.async_clear_power_setpoint())
        else:
            self.requested_setpoint_w = power_w
            await self._write(
                self.device.async_set_power_setpoint(power_w, SETPOINT_REVERT_S)
            )
        await self.async_refresh()

    async def async_hold_group_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` for a group discharge; it reverts after ``revert_s``.

        Raises ``DeviceError``: the caller writes again on the next round.
        """
        # Marked first: a write that fails half-way is still cleared at the end.
        self.group_setpoint_w = power_w
        await self.device.async_set_power_setpoint(power_w, revert_s)

    async def async_release_group_setpoint(self) -> None:
        """End the group's hold: back to the requested setpoint, or to the battery."""
        self.group_setpoint_w = None
        if (wanted := self.requested_setpoint_w) is not None:
            await self.device.async_set_power_setpoint(wanted, SETPOINT_REVERT_S)
        else:
            await self.device.async_clear_power_setpoint()

    async def async_set_reserve(self, pct: float) -> None:
        """Set the backup reserve SoC."""
        await self._write(self.device.async_set_reserve_soc(pct))
        await self.async_refresh()

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """Feed the living-room circuit from the battery (True) or the grid."""
        await self._write(self.device.async_set_living_room_on_battery(on_battery))
        await self.async_refresh()

    async def _write(self, write: Awaitable[None]) -> None:
        """Await a device write, turning device errors into translated HA errors."""
        try:
            await write
        except DeviceRejectedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="write_rejected",
                translation_placeholders={"error": str(err)},
            ) from err
        except CannotConnectError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="write_failed",
                translation_placeholders={"error": str(err)},
            ) from err
