"""A flat's part in a building's group discharge, as its ledger sidecar directs it.

The sidecar works out every flat's share from the signed ``availability`` of all of
them and sends this flat a ``setpoint`` each coordination round. Home Assistant writes
it to the battery (model 704, through ``battery_control``) with the short revert timer
the sidecar asks for, so a sidecar or a Home Assistant that stops leaves the battery to
revert by itself. The living-room backup always wins (``battery_control.PRECEDENCE``):
no group setpoint is written while it is engaged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import (
    async_dispatcher_connect,
    async_dispatcher_send,
)

from ..backup.controller import BackupController
from ..backup.grid_watch import GridState
from ..battery_control import BatteryControl, Party
from ..battery_facts import report_unknown_energy
from ..const import (
    EVENT_GROUP_DISCHARGE_ENDED,
    EVENT_GROUP_DISCHARGE_STARTED,
)
from ..coordinator import LocalVppCoordinator
from ..device import DeviceError
from ..ledger.messages import GroupSetpoint
from ..ledger.sample import availability_from_reading
from ..ledger.sidecar_link import SidecarLink
from ..signals import BACKUP_CHANGED, GROUP_CHANGED, LINK_CHANGED, SETPOINT_RECEIVED
from .notice import async_notify_started, dismiss
from .serial_apply import SerialApply

_LOGGER = logging.getLogger(__name__)

MODE_GROUP: Final = "group"
MODE_LOCAL_FALLBACK: Final = "local_fallback"

# Why a group discharge ended for this flat (``cause`` in the ended event).
CAUSE_ENDED: Final = "ended"
CAUSE_REPLACED: Final = "replaced"
CAUSE_LINK_LOST: Final = "link_lost"


class GroupDischarge:
    """Follow the sidecar's setpoints for one flat and tell the sidecar what it has."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        coordinator: LocalVppCoordinator,
        *,
        control: BatteryControl,
        backup: BackupController,
        link: SidecarLink,
    ) -> None:
        """Prepare; ``async_start`` begins following the link and the polls."""
        self.hass = hass
        self._entry = entry
        self._coordinator = coordinator
        self._control = control
        self._backup = backup
        self.link = link
        self.participate = True
        self.max_share_pct = 100.0
        # The group event under way for this flat, from its newest setpoint message.
        self.current: GroupSetpoint | None = None
        self.last_write_error: str | None = None
        # Whether the battery's energy above its reserve could not be worked out;
        # None until the first offer, which also clears a repair left from before.
        self._energy_unknown: bool | None = None
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._writes = SerialApply(
            hass, entry, "local_vpp group setpoint", self._apply_once, self._notify
        )
        self._link_was_up = link.connected

    # -- lifecycle -------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Follow setpoints, the link and every poll."""
        entry_id = self._entry.entry_id
        self._unsubscribers += [
            async_dispatcher_connect(
                self.hass, SETPOINT_RECEIVED.format(entry_id), self._handle_setpoint
            ),
            async_dispatcher_connect(
                self.hass, LINK_CHANGED.format(entry_id), self._handle_link_change
            ),
            self._coordinator.async_add_listener(self._send_availability),
            async_dispatcher_connect(
                self.hass, BACKUP_CHANGED.format(entry_id), self._reconsider
            ),
        ]

    async def async_stop(self) -> None:
        """Stop following and hand the battery back to its own logic."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        await self._writes.async_cancel()
        self.current = None
        await self._apply_once()

    # -- what entities read ------------------------------------------------------

    @callback
    def _notify(self) -> None:
        """Tell the others (signal ``GROUP_CHANGED``) that the group state changed."""
        async_dispatcher_send(self.hass, GROUP_CHANGED.format(self._entry.entry_id))

    @property
    def active(self) -> bool:
        """Whether a group event concerns this flat now."""
        return self.current is not None

    @property
    def holding(self) -> bool:
        """Whether the battery holds a group setpoint written by us."""
        return self._control.claims.group is not None

    @property
    def busy(self) -> bool:
        """Whether a write to the battery is under way."""
        return self._writes.busy

    def wanted_w(self) -> float | None:
        """The power to hold now, or ``None`` to hold nothing."""
        current = self.current
        if (
            current is None
            or current.w is None
            or not self.participate
            or self.max_share_pct <= 0
            or self._control.outranked(Party.GROUP)
        ):
            return None
        power = current.w
        battery = self._coordinator.data.battery if self._coordinator.data else None
        if battery is not None:
            if battery.max_discharge_w is not None:
                power = min(power, battery.max_discharge_w)
            if battery.max_charge_w is not None:
                power = max(power, -battery.max_charge_w)
        return power

    # -- settings from the entities ------------------------------------------------

    @callback
    def async_set_participation(self, participate: bool) -> None:
        """Take part in group events (or not, which also drops one under way)."""
        self.participate = participate
        self._reconsider()

    @callback
    def async_set_max_share(self, pct: float) -> None:
        """The largest share of a building target this flat takes on."""
        self.max_share_pct = pct
        self._reconsider()

    # -- the sidecar --------------------------------------------------------------

    @callback
    def _handle_setpoint(self, setpoint: GroupSetpoint) -> None:
        previous = self.current
        if not setpoint.active:
            self.current = None
            if previous is not None:
                self._fire_ended(previous, CAUSE_ENDED, setpoint.reason)
        else:
            if previous is not None and previous.event != setpoint.event:
                self._fire_ended(previous, CAUSE_REPLACED)
                previous = None
            self.current = setpoint
            if previous is None:
                self._fire_started(setpoint)
        self._reconsider()

    @callback
    def _handle_link_change(self) -> None:
        # The link also reports entries and mesh news; only up and down matter here.
        if self.link.connected == self._link_was_up:
            return
        self._link_was_up = self.link.connected
        if self.link.connected or self.current is None:
            self._notify()
            return
        previous, self.current = self.current, None
        self._fire_ended(previous, CAUSE_LINK_LOST)
        self._reconsider()

    @callback
    def _send_availability(self) -> None:
        if not self._coordinator.last_update_success:
            return
        availability = availability_from_reading(
            self._coordinator.data,
            int(time.time() * 1000),
            # The resident's choice alone: in a power cut the sidecars leave the
            # flat out of group events (outage) but let it help its neighbours.
            # A battery that cannot be controlled is recorded, never a giver.
            participate=self.participate
            and self._coordinator.device.capabilities.control_power,
            max_share_pct=self.max_share_pct,
            outage=self._grid_out(),
            capabilities=self._coordinator.device.capabilities,
        )
        unknown = (
            self._coordinator.data.battery is not None
            and availability.energy_wh is None
        )
        if unknown != self._energy_unknown:
            self._energy_unknown = unknown
            report_unknown_energy(self.hass, self._entry, unknown=unknown)
        if unknown:
            # Without a capacity the flat offers nothing, but its outage and living
            # room still reach the neighbours.
            availability = replace(availability, energy_wh=0.0)
        self.link.offer_availability(availability)

    def _grid_out(self) -> bool | None:
        """Whether the grid state is outage; ``None`` while it is unknown."""
        state = self._backup.watch.state
        return None if state is GridState.UNKNOWN else state is GridState.OUTAGE

    # -- writing ---------------------------------------------------------------------

    @callback
    def _reconsider(self) -> None:
        """Bring the battery in line with the newest state, one write at a time."""
        self._writes.request()
        self._notify()

    async def _apply_once(self) -> None:
        wanted = self.wanted_w()
        current = self.current
        try:
            if wanted is not None and current is not None:
                await self._control.async_hold_group(wanted, current.revert_s)
            elif self.holding:
                await self._control.async_release_group()
        except DeviceError as err:
            self.last_write_error = str(err)
            _LOGGER.warning("Could not write the group setpoint: %s", err)
        else:
            self.last_write_error = None

    # -- events ------------------------------------------------------------------------

    def _event_data(self, setpoint: GroupSetpoint) -> dict[str, Any]:
        until = setpoint.until
        return {
            "entry_id": self._entry.entry_id,
            "flat": self._entry.title,
            "event": setpoint.event,
            "mode": setpoint.mode,
            "reason": setpoint.reason,
            "target_w": setpoint.target_w,
            "share_pct": setpoint.share_pct,
            "setpoint_w": setpoint.w,
            "participants": setpoint.participants,
            "until": None if until is None else until.isoformat(),
        }

    def _fire_started(self, setpoint: GroupSetpoint) -> None:
        participating = self.participate and not self._control.outranked(Party.GROUP)
        self.hass.bus.async_fire(
            EVENT_GROUP_DISCHARGE_STARTED,
            self._event_data(setpoint) | {"participating": participating},
        )
        self._entry.async_create_background_task(
            self.hass,
            async_notify_started(
                self.hass,
                self._entry,
                setpoint,
                self.wanted_w() if participating else None,
                lambda: (
                    self.current is not None and self.current.event == setpoint.event
                ),
            ),
            "local_vpp group discharge notification",
        )

    def _fire_ended(
        self, setpoint: GroupSetpoint, cause: str, end_reason: str | None = None
    ) -> None:
        self.hass.bus.async_fire(
            EVENT_GROUP_DISCHARGE_ENDED,
            self._event_data(setpoint) | {"cause": cause, "end_reason": end_reason},
        )
        dismiss(self.hass, self._entry)

    def as_dict(self) -> dict[str, Any]:
        """State for diagnostics."""
        current = self.current
        return {
            "participate": self.participate,
            "max_share_pct": self.max_share_pct,
            "active": self.active,
            "holding_w": None
            if (held := self._control.claims.group) is None
            else held.w,
            "wanted_w": self.wanted_w(),
            "last_write_error": self.last_write_error,
            "current": None
            if current is None
            else {
                "event": current.event,
                "mode": current.mode,
                "w": current.w,
                "revert_s": current.revert_s,
                "share_pct": current.share_pct,
                "target_w": current.target_w,
                "achieved_w": current.achieved_w,
                "participants": current.participants,
                "reason": current.reason,
                "until": None if current.until is None else current.until.isoformat(),
            },
        }
