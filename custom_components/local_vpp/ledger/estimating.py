"""A repair issue while a flat's ledger has been estimating for too long.

The sidecar books energy from the meters' counters; while it refuses or misses them
it estimates from power (docs/PROTOCOL.md 12.5), and the next accepted reading
reconciles. A ledger that keeps estimating has a meter or link problem to look at.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval

from ..const import DOMAIN
from ..signals import LINK_CHANGED
from .sidecar_link import SidecarLink

ISSUE_LEDGER_ESTIMATING: Final = "ledger_estimating"
# Longer than a reconnect or a restart of either side; short enough to act the same day.
ESTIMATING_REPAIR_AFTER: Final = timedelta(minutes=15)
_RECHECK: Final = timedelta(minutes=1)


def _wall_clock_ms() -> int:
    """Unix time in ms (a function so tests can move it)."""
    return time.time_ns() // 1_000_000


class EstimatingIssueReporter:
    """Raise the issue while the sidecar has estimated the flows for too long."""

    def __init__(self, hass: HomeAssistant, entry_id: str, link: SidecarLink) -> None:
        """Follow ``link`` for the entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        self._link = link
        self.issue_id = f"{ISSUE_LEDGER_ESTIMATING}_{entry_id}"
        self.raised = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow the link and the clock; the returned function stops and clears."""
        stops = [
            async_dispatcher_connect(
                self._hass, LINK_CHANGED.format(self._entry_id), self.async_update
            ),
            async_track_time_interval(self._hass, self._tick, _RECHECK),
        ]

        @callback
        def stop() -> None:
            for unsubscribe in stops:
                unsubscribe()
            self._clear()

        return stop

    @callback
    def _tick(self, _now: object) -> None:
        self.async_update()

    @callback
    def async_update(self) -> None:
        """Raise or clear the issue from the newest acknowledged flow."""
        entry = self._link.last_entry
        since = None if entry is None else entry.estimating_since
        limit_ms = ESTIMATING_REPAIR_AFTER.total_seconds() * 1000
        if since is None or _wall_clock_ms() - since < limit_ms:
            self._clear()
            return
        if self.raised:
            return
        self.raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_LEDGER_ESTIMATING,
            translation_placeholders={
                "minutes": str(int(ESTIMATING_REPAIR_AFTER.total_seconds() // 60))
            },
        )

    def _clear(self) -> None:
        if self.raised:
            self.raised = False
            ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)
