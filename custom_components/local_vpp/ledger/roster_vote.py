"""The building's roster changed from Home Assistant: propose, approve, be asked.

The flat's sidecar signs with the flat's key; Home Assistant only asks it to, over the
sidecar's plain HTTP endpoints (PROTOCOL.md section 12.13) with the same token as the
link. Every open proposal this flat has not approved becomes a fixable repair issue;
fixing it approves the proposal. The issues are refreshed at start, every 30 s, and
when the link reports news of the mesh (at most every 5 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from ..const import CONF_SIDECAR_TOKEN, CONF_SIDECAR_URL, DOMAIN
from ..signals import LINK_CHANGED

ISSUE_PREFIX: Final = "roster_vote_"
REFRESH: Final = timedelta(seconds=30)
MIN_GAP_S: Final = 5.0
REQUEST_TIMEOUT_S: Final = 15
ROSTER_PATH: Final = "/api/v1/roster"

_LOGGER = logging.getLogger(__name__)


class RosterVoteError(Exception):
    """The sidecar refused or could not be reached; ``reason`` says which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SidecarRoster:
    """The roster endpoints of one flat's sidecar."""

    session: aiohttp.ClientSession
    base_url: str  # http://host:port
    token: str

    @classmethod
    def of_options(cls, hass: HomeAssistant, options: Any) -> SidecarRoster | None:
        """The endpoints of the sidecar an entry's options name, if any."""
        url, token = options.get(CONF_SIDECAR_URL), options.get(CONF_SIDECAR_TOKEN)
        if not url or not token:
            return None
        parts = urlsplit(url)
        scheme = "https" if parts.scheme == "wss" else "http"
        base = urlunsplit((scheme, parts.netloc, "", "", ""))
        return cls(async_get_clientsession(hass), base, token)

    async def overview(self) -> dict[str, Any]:
        """The roster the sidecar builds on and the open proposals."""
        return await self._call("GET", "")

    async def member(self, address: str | None) -> dict[str, Any]:
        """The member line of the flat whose sidecar this is."""
        query = "" if not address else f"?address={address}"
        return await self._call("GET", f"/member{query}")

    async def propose(
        self, add: list[dict[str, Any]], remove: list[str], effective_in_s: int
    ) -> dict[str, Any]:
        """Propose the next roster version, approved with this flat's key."""
        return await self._call(
            "POST",
            "/propose",
            {"add": add, "remove": remove, "effective_in_s": effective_in_s},
        )

    async def approve(self, digest: str) -> dict[str, Any]:
        """Approve an open proposal with this flat's key."""
        return await self._call("POST", "/approve", {"digest": digest})

    async def first_state(self) -> dict[str, Any]:
        """Whether the flat's sidecar still runs alone, and the roster it builds on."""
        return await self._call("GET", "/first")

    async def first(self, body: dict[str, Any]) -> dict[str, Any]:
        """Hand the sidecar the building's first roster (PROTOCOL.md section 12.14)."""
        return await self._call("POST", "/first", body)

    async def _call(
        self, method: str, path: str, body: object = None
    ) -> dict[str, Any]:
        try:
            async with self.session.request(
                method,
                f"{self.base_url}{ROSTER_PATH}{path}",
                headers={"Authorization": f"Bearer {self.token}"},
                json=body,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            ) as response:
                said = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise RosterVoteError(
                "unreachable", str(err) or type(err).__name__
            ) from err
        if not isinstance(said, dict):
            raise RosterVoteError("bad_reply", "the sidecar did not answer an object")
        if status != 200:
            raise RosterVoteError(
                str(said.get("error", status)), str(said.get("detail", ""))
            )
        return said


def issue_id(entry_id: str, digest: str) -> str:
    """The repair issue asking this flat to approve one proposal."""
    return f"{ISSUE_PREFIX}{entry_id}_{digest[:16]}"


def describe(proposal: dict[str, Any]) -> dict[str, str]:
    """The issue's placeholders: what changes, who asks, when, how many approved."""
    changes = [
        *(f"+ {item['flat']} ({item['address']})" for item in proposal.get("add", [])),
        *(f"− {flat}" for flat in proposal.get("remove", [])),
        *(
            f"↻ {item['flat']} ({item['address']})"
            for item in proposal.get("replace", [])
        ),
    ]
    effective = dt_util.as_local(
        dt_util.utc_from_timestamp(int(proposal["effective"]) / 1000)
    )
    return {
        "version": str(proposal["version"]),
        "proposer": str(proposal.get("proposer") or "?"),
        "changes": ", ".join(changes) or "-",
        "effective": effective.strftime("%Y-%m-%d %H:%M"),
        "approvals": str(len(proposal.get("approved_by", []))),
        "needed": str(proposal.get("needed", "?")),
    }


class SidecarIssueWatcher[Found]:
    """Repair issues kept from what the flat's sidecar says about its roster.

    Refreshed at start, every 30 s, and when the link reports news of the mesh (at
    most every 5 s). A subclass fetches (:meth:`_fetch`) and shows (:meth:`_show`).
    """

    def __init__(
        self, hass: HomeAssistant, entry_id: str, roster: SidecarRoster
    ) -> None:
        """Watch the sidecar at ``roster`` for the entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        self._roster = roster
        self._last = -MIN_GAP_S  # loop time of the last refresh started
        self._running = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start watching; returns the function that stops it and drops the issues."""
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
        """Ask the sidecar and update the issues; one question at a time."""
        if self._running:
            return
        self._running = True
        self._last = self._hass.loop.time()
        try:
            found = await self._fetch()
        except RosterVoteError as err:
            _LOGGER.debug("%s: the sidecar's roster not read: %s", self._entry_id, err)
            return  # the link's own issues say why; the last issues stand
        finally:
            self._running = False
        self._show(found)

    async def _fetch(self) -> Found:
        """What the sidecar says (raises RosterVoteError)."""
        raise NotImplementedError

    @callback
    def _show(self, found: Found) -> None:
        """Raise and drop issues for what the sidecar said."""
        raise NotImplementedError

    @callback
    def async_clear(self) -> None:
        """Remove this entry's issues (the entry unloads)."""
        raise NotImplementedError

    async def _tick(self, _now: object) -> None:
        await self.async_refresh()

    @callback
    def _link_changed(self) -> None:
        if self._hass.loop.time() - self._last >= MIN_GAP_S:
            self._hass.async_create_task(self.async_refresh(), eager_start=False)


class RosterVoteWatcher(SidecarIssueWatcher[dict[str, Any]]):
    """Keep one repair issue per open proposal this flat has not approved."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, roster: SidecarRoster
    ) -> None:
        """Watch the open proposals at ``roster`` for the entry ``entry_id``."""
        super().__init__(hass, entry_id, roster)
        self._raised: set[str] = set()

    async def _fetch(self) -> dict[str, Any]:
        return await self._roster.overview()

    @callback
    def _show(self, found: dict[str, Any]) -> None:
        wanted: dict[str, dict[str, Any]] = {}
        for proposal in found.get("proposals", []):
            if not proposal.get("approved_by_me"):
                wanted[issue_id(self._entry_id, proposal["digest"])] = proposal
        for gone in self._raised - set(wanted):
            ir.async_delete_issue(self._hass, DOMAIN, gone)
        for found_id, proposal in wanted.items():
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                found_id,
                is_fixable=True,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="roster_vote",
                translation_placeholders=describe(proposal),
                data={"entry_id": self._entry_id, "digest": proposal["digest"]},
            )
        self._raised = set(wanted)

    @callback
    def async_clear(self) -> None:
        """Remove this entry's issues (the entry unloads)."""
        for raised in self._raised:
            ir.async_delete_issue(self._hass, DOMAIN, raised)
        self._raised = set()
