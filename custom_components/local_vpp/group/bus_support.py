"""Outage support over the building bus, as the flat's ledger sidecar directs it.

During a power cut the building bus (vendor model 64901) lets flats with energy to
spare carry the living rooms of neighbours that are running low. The sidecar decides
who gives and who takes and sends this flat a ``bus_setpoint`` every round; Home
Assistant writes it to the bus (through ``battery_control``) with the short revert
timer the sidecar asks for, so a sidecar or a Home Assistant that goes silent leaves
the bus to fall back to 0 by itself. When the sidecar ends the support, the link drops
or the grid returns, the setpoint is written back to 0. The living-room backup keeps
charge of the relay: the bus only adds power to the flat or takes it away.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from ..backup.controller import BackupController
from ..backup.grid_watch import GridState
from ..battery_control import BatteryControl
from ..const import (
    EVENT_BUS_SUPPORT_ENDED,
    EVENT_BUS_SUPPORT_STARTED,
)
from ..coordinator import LocalVppCoordinator
from ..device import DeviceError
from ..ledger.messages import BusSetpoint
from ..ledger.sidecar_link import SidecarLink
from ..signals import BUS_SETPOINT_RECEIVED, LINK_CHANGED
from .serial_apply import SerialApply

_LOGGER = logging.getLogger(__name__)

DIRECTION_EXPORT: Final = "export"
DIRECTION_IMPORT: Final = "import"

# Why this flat's support ended (``cause`` in the ended event).
CAUSE_ENDED: Final = "ended"
CAUSE_REPLACED: Final = "replaced"
CAUSE_LINK_LOST: Final = "link_lost"
CAUSE_GRID_BACK: Final = "grid_back"
CAUSE_BUS_OPEN: Final = "bus_open"
CAUSE_STOPPED: Final = "stopped"

# Grid states in which the grid is back: the bus is open and must carry nothing.
_GRID_BACK: Final = (GridState.GRID_OK, GridState.RESTORING)


def direction(power_w: float) -> str:
    """``export`` for power given to the bus, ``import`` for power taken from it."""
    return DIRECTION_EXPORT if power_w > 0 else DIRECTION_IMPORT


class BusSupport:
    """Follow the sidecar's bus setpoints for one flat on a building bus."""

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
        # The newest active bus setpoint from the sidecar.
        self.current: BusSetpoint | None = None
        # What we last wrote and the bus holds (non-zero), else ``None``.
        self.holding_w: float | None = None
        self.last_write_error: str | None = None
        self._stop_cause: str | None = None
        self._rearm = False
        self._writes = SerialApply(
            hass, entry, "local_vpp bus setpoint", self._apply_once
        )
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._link_was_up = link.connected

    # -- lifecycle -------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Follow bus setpoints, the link and every poll."""
        entry_id = self._entry.entry_id
        self._unsubscribers += [
            async_dispatcher_connect(
                self.hass,
                BUS_SETPOINT_RECEIVED.format(entry_id),
                self._handle_setpoint,
            ),
            async_dispatcher_connect(
                self.hass, LINK_CHANGED.format(entry_id), self._handle_link_change
            ),
            self._coordinator.async_add_listener(self._handle_poll),
        ]

    async def async_stop(self) -> None:
        """Stop following and leave the bus at 0."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        await self._writes.async_cancel()
        self.current = None
        self._stop_cause = CAUSE_STOPPED
        await self._apply_once()
        if self._control.claims.bus is not None:
            # A write cancelled above may already have reached the bus.
            try:
                await self._control.async_release_bus()
            except DeviceError as err:
                _LOGGER.warning("Could not leave the bus at 0: %s", err)

    # -- the decision ------------------------------------------------------------

    @property
    def writing(self) -> bool:
        """Whether a write to the bus is under way."""
        return self._writes.busy

    def wanted_w(self) -> float | None:
        """The bus power to hold now, or ``None`` to hold nothing."""
        current = self.current
        if current is None or not current.w or not self.link.connected:
            return None
        if self._backup.watch.state in _GRID_BACK:
            return None
        reading = self._coordinator.data
        if (
            not self._coordinator.last_update_success
            or reading is None
            or reading.bus is None
        ):
            # Nothing known of the bus this poll (a slow or failed read): keep what
            # is held, start nothing new. The revert timer ends a hold whose flat is
            # really gone; an unknown bus is not an open one.
            return self.holding_w
        if not reading.bus.active:
            return None
        return current.w

    def _why_not(self) -> str:
        if self._stop_cause is not None:
            return self._stop_cause
        if self._backup.watch.state in _GRID_BACK:
            return CAUSE_GRID_BACK
        if self.current is None or not self.current.w:
            return CAUSE_ENDED
        return CAUSE_BUS_OPEN

    # -- the sidecar and the polls ----------------------------------------------------

    @callback
    def _handle_setpoint(self, setpoint: BusSetpoint) -> None:
        if setpoint.active:
            self.current = setpoint
            self._stop_cause = None
            # Every round re-arms the revert timer.
            self._rearm = True
        else:
            self.current = None
            self._stop_cause = CAUSE_ENDED
        self._reconsider()

    @callback
    def _handle_link_change(self) -> None:
        if self.link.connected == self._link_was_up:
            return
        self._link_was_up = self.link.connected
        if not self.link.connected:
            self.current = None
            self._stop_cause = CAUSE_LINK_LOST
            self._reconsider()

    @callback
    def _handle_poll(self) -> None:
        # A poll matters only with a setpoint to start or to end.
        if self.current is not None or self.holding_w is not None:
            self._reconsider()

    @callback
    def _reconsider(self) -> None:
        """Bring the bus in line with the newest state, one write at a time."""
        self._writes.request()

    async def _apply_once(self) -> None:
        wanted = self.wanted_w()
        held = self.holding_w
        current = self.current
        try:
            if wanted is not None and current is not None:
                if self._rearm or held != wanted:
                    self._rearm = False
                    await self._control.async_hold_bus(wanted, current.revert_s)
                    self.holding_w = wanted
                    self._announce(held, wanted, current)
            elif held is not None:
                cause = self._why_not()
                await self._control.async_release_bus()
                self.holding_w = None
                self._fire_ended(held, cause)
        except DeviceError as err:
            self.last_write_error = str(err)
            _LOGGER.warning("Could not write the bus setpoint: %s", err)
        else:
            self.last_write_error = None

    # -- events ------------------------------------------------------------------------

    def _announce(
        self, held: float | None, wanted: float, current: BusSetpoint
    ) -> None:
        if held is not None and direction(held) == direction(wanted):
            return
        if held is not None:
            self._fire_ended(held, CAUSE_REPLACED)
        self.hass.bus.async_fire(
            EVENT_BUS_SUPPORT_STARTED,
            self._event_data(wanted)
            | {"event": current.event, "reason": current.reason},
        )

    def _fire_ended(self, held: float, cause: str) -> None:
        self.hass.bus.async_fire(
            EVENT_BUS_SUPPORT_ENDED, self._event_data(held) | {"cause": cause}
        )

    def _event_data(self, power_w: float) -> dict[str, Any]:
        return {
            "entry_id": self._entry.entry_id,
            "flat": self._entry.title,
            "direction": direction(power_w),
            "w": power_w,
        }

    def as_dict(self) -> dict[str, Any]:
        """State for diagnostics."""
        current = self.current
        return {
            "holding_w": self.holding_w,
            "writing": self.writing,
            "wanted_w": self.wanted_w(),
            "last_write_error": self.last_write_error,
            "current": None
            if current is None
            else {
                "w": current.w,
                "revert_s": current.revert_s,
                "reason": current.reason,
                "event": current.event,
            },
        }
