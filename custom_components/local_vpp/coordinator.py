"""Poll the flat and hold the latest reading for every entity."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL_S,
    DOMAIN,
    ISSUE_CONNECTION_FAILING,
    REPAIR_AFTER_FAILURES,
    REPAIR_AFTER_S,
)
from .device import DeviceError, FlatReading
from .device.interface import AnyFlatDevice

_LOGGER = logging.getLogger(__name__)


class LocalVppCoordinator(DataUpdateCoordinator[FlatReading]):
    """Poll the flat at the configured cadence; one poll feeds every entity."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        device: AnyFlatDevice,
        after_poll: Callable[[FlatReading], Awaitable[None]] | None = None,
        adjust: Callable[[FlatReading], FlatReading] | None = None,
    ) -> None:
        """Set up polling for ``device`` at the entry's poll interval.

        ``adjust`` completes every good reading (the living room from the entities
        the installer chose); ``after_poll`` is then awaited with it before the
        entities see it.
        """
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
        self._after_poll = after_poll
        self._adjust = adjust
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
        if self._adjust is not None:
            reading = self._adjust(reading)
        if self._after_poll is not None:
            await self._after_poll(reading)
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
