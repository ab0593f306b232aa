"""Reads the sidecar's ``/api/v1/wat`` now and then, and tells when an interval closed.

A failed read leaves no figures (the sensors go unavailable, never 0). When the
sidecar's settled time moves on, the event ``local_vpp_wat_interval_closed`` is fired
with the flat's new figures, for automations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval

from ..ledger.sidecar_link import (
    SidecarLink,
    SidecarNotConnectedError,
    SidecarRequestError,
)

_LOGGER = logging.getLogger(__name__)
EVENT_INTERVAL_CLOSED: Final = "local_vpp_wat_interval_closed"
POLL_EVERY: Final = timedelta(seconds=30)
PATH: Final = "/api/v1/wat"


class WatPoller:
    """The newest WAT figures of one flat, or None while they cannot be read."""

    def __init__(self, hass: HomeAssistant, link: SidecarLink, entry_id: str) -> None:
        """Poll ``link``'s sidecar for the config entry ``entry_id``."""
        self.hass = hass
        self.link = link
        self.entry_id = entry_id
        self.state: dict[str, Any] | None = None
        self.listeners: list[Callable[[], None]] = []
        self._stop: CALLBACK_TYPE | None = None

    @callback
    def async_start(self) -> None:
        """Poll now and every :data:`POLL_EVERY`."""
        self._stop = async_track_time_interval(self.hass, self._tick, POLL_EVERY)
        self.hass.async_create_task(self.async_refresh())

    @callback
    def async_stop(self) -> None:
        """Stop polling."""
        if self._stop is not None:
            self._stop()
            self._stop = None

    async def _tick(self, _now: datetime) -> None:
        await self.async_refresh()

    async def async_refresh(self) -> None:
        """Read the figures once; fire the event if an interval closed since."""
        before = self.state
        try:
            state = await self.link.async_get_json(PATH)
        except (SidecarNotConnectedError, SidecarRequestError, TimeoutError) as err:
            _LOGGER.debug("WAT figures unavailable: %s", err)
            state = None
        if state is not None and state.get("currency") is None:
            state = None  # no currency adopted yet: nothing to show
        self.state = state
        if (
            before is not None
            and state is not None
            and (state.get("settled_until") or 0) > (before.get("settled_until") or 0)
        ):
            self.hass.bus.async_fire(
                EVENT_INTERVAL_CLOSED,
                {
                    "config_entry_id": self.entry_id,
                    "settled_until": state["settled_until"],
                    "balance": state.get("balance"),
                    "value_now": state.get("value_now"),
                },
            )
        for listener in self.listeners:
            listener()
