"""A flat whose sidecar runs alone is asked, in Repairs, to join its building.

A sidecar set up without a roster is a building of one. While it is, the flat gets a
fixable repair issue; its fix flow takes the building's first roster (pasted, as
another flat's *Create the building's first roster* gave it) and the digest the
neighbours read out, and the sidecar adopts it (:mod:`..repairs`). The issue is
refreshed at start, every 30 s, and when the link reports news of the mesh (at most
every 5 s); it goes once the sidecar has a roster.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval

from ..const import DOMAIN
from ..signals import LINK_CHANGED
from .roster_vote import RosterVoteError, SidecarRoster

ISSUE_PREFIX: Final = "first_roster_"
REFRESH: Final = timedelta(seconds=30)
MIN_GAP_S: Final = 5.0

_LOGGER = logging.getLogger(__name__)


def issue_id(entry_id: str) -> str:
    """The repair issue asking this flat to join its building."""
    return f"{ISSUE_PREFIX}{entry_id}"


def describe_roster(said: dict[str, Any]) -> dict[str, str]:
    """Placeholders for a roster the sidecar checked: building, flats, how many."""
    members = said.get("members", [])
    return {
        "building": str(said.get("building", "?")),
        "count": str(len(members)),
        "flats": ", ".join(
            f"{item['flat']} ({item['address']})"
            for item in members
            if isinstance(item, dict)
        )
        or "-",
    }


class FirstRosterWatcher:
    """Keep the flat's 'not in a building yet' issue while its sidecar runs alone."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, title: str, roster: SidecarRoster
    ) -> None:
        """Watch the sidecar at ``roster`` for the entry ``entry_id`` (``title``)."""
        self._hass = hass
        self._entry_id = entry_id
        self._title = title
        self._roster = roster
        self._raised = False
        self._last = -MIN_GAP_S  # loop time of the last refresh started
        self._running = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start watching; returns the function that stops it and drops the issue."""
        stop_timer = async_track_time_interval(self._hass, self._tick, REFRESH)
        stop_link = async_dispatcher_connect(
            self._hass, LINK_CHANGED.format(self._entry_id), self._link_changed
        )
        self._link_changed()

        @callback
        def stop() -> None:
            stop_timer()
            stop_link()
            self.async_clear()

        return stop

    async def async_refresh(self) -> None:
        """Ask the sidecar whether it still runs alone; raise or drop the issue."""
        if self._running:
            return
        self._running = True
        self._last = self._hass.loop.time()
        try:
            state = await self._roster.first_state()
        except RosterVoteError as err:
            _LOGGER.debug("Whether the sidecar runs alone not read: %s", err)
            return  # the link's own issues say why; the issue stands as it was
        finally:
            self._running = False
        if state.get("alone") is True:
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                issue_id(self._entry_id),
                is_fixable=True,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="first_roster",
                translation_placeholders={
                    "flat": self._title,
                    "building": str(state.get("building", "?")),
                },
                data={"entry_id": self._entry_id},
            )
            self._raised = True
        else:
            self.async_clear()

    @callback
    def async_clear(self) -> None:
        """Remove the issue (the sidecar has a roster, or the entry unloads)."""
        if self._raised:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id(self._entry_id))
        self._raised = False

    async def _tick(self, _now: object) -> None:
        await self.async_refresh()

    @callback
    def _link_changed(self) -> None:
        if self._hass.loop.time() - self._last >= MIN_GAP_S:
            self._hass.async_create_task(self.async_refresh(), eager_start=False)
