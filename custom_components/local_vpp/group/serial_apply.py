"""Bring a device in line with the newest wanted state, one write sequence at a time.

The group and bus setpoint followers both react to many triggers (messages, polls,
link changes). Writes must not overlap, and a change during a write must not be lost:
the write runs again until nothing changed while it ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback


class SerialApply:
    """Runs ``apply`` in the background until the state stops changing under it."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        name: str,
        apply: Callable[[], Awaitable[None]],
        settled: Callable[[], None] | None = None,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._name = name
        self._apply = apply
        self._settled = settled
        self._dirty = False
        self._worker: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a write sequence is running."""
        return self._worker is not None and not self._worker.done()

    @callback
    def request(self) -> None:
        """Apply again soon: now, or right after the write under way."""
        self._dirty = True
        if not self.busy:
            self._worker = self._entry.async_create_background_task(
                self._hass, self._until_settled(), self._name
            )

    async def async_cancel(self) -> None:
        """Stop the write under way, if any."""
        if self._worker is not None:
            self._worker.cancel()
            # asyncio.wait: a cancellation of the caller itself must not be swallowed.
            await asyncio.wait([self._worker])
            self._worker = None

    async def _until_settled(self) -> None:
        while self._dirty:
            self._dirty = False
            await self._apply()
        if self._settled is not None:
            self._settled()
