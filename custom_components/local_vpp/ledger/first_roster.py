"""A flat whose sidecar runs alone is asked, in Repairs, to join its building.

A sidecar set up without a roster is a building of one. While it is, the flat gets a
fixable repair issue; its fix flow takes the building's first roster (pasted, as
another flat's *Create the building's first roster* gave it) and the digest the
neighbours read out, and the sidecar adopts it (:mod:`..repairs`). The issue is
refreshed at start, every 30 s, and when the link reports news of the mesh (at most
every 5 s); it goes once the sidecar has a roster.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from ..const import DOMAIN
from .roster_vote import SidecarIssueWatcher, SidecarRoster

ISSUE_PREFIX: Final = "first_roster_"


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


class FirstRosterWatcher(SidecarIssueWatcher[dict[str, Any]]):
    """Keep the flat's 'not in a building yet' issue while its sidecar runs alone."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, title: str, roster: SidecarRoster
    ) -> None:
        """Watch the sidecar at ``roster`` for the entry ``entry_id`` (``title``)."""
        super().__init__(hass, entry_id, roster)
        self._title = title
        self._raised = False

    async def _fetch(self) -> dict[str, Any]:
        return await self._roster.first_state()

    @callback
    def _show(self, found: dict[str, Any]) -> None:
        if found.get("alone") is True:
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
                    "building": str(found.get("building", "?")),
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
