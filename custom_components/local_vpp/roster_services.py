"""Actions for the building's roster: this flat's member line, propose, approve.

Each goes to the flat's own ledger sidecar, which signs with the flat's key
(:mod:`.ledger.roster_vote`); the command line offers the same. Proposing and
approving speak for the flat, so only administrators may call them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Final

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import Unauthorized, UnknownUser
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .ledger.roster_vote import RosterVoteError, SidecarRoster
from .runtime import LocalVppConfigEntry
from .services import _TARGET, _failed, _invalid, entry_of

SERVICE_ROSTER_MEMBER: Final = "roster_member"
SERVICE_PROPOSE: Final = "propose_roster_change"
SERVICE_APPROVE: Final = "approve_roster_change"
ATTR_ADDRESS: Final = "address"
ATTR_ADD: Final = "add"
ATTR_REMOVE: Final = "remove"
ATTR_EFFECTIVE_IN: Final = "effective_in"
ATTR_DIGEST: Final = "digest"
DEFAULT_EFFECTIVE_IN: Final = timedelta(days=1)
MIN_EFFECTIVE_IN: Final = timedelta(seconds=10)
MAX_EFFECTIVE_IN: Final = timedelta(days=30)

MEMBER_SCHEMA: Final = vol.Schema({**_TARGET, vol.Optional(ATTR_ADDRESS): cv.string})
PROPOSE_SCHEMA: Final = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_ADD, default=""): cv.string,
        vol.Optional(ATTR_REMOVE, default=[]): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_EFFECTIVE_IN, default=DEFAULT_EFFECTIVE_IN): cv.time_period,
    }
)
_DIGEST: dict[Any, Any] = {vol.Required(ATTR_DIGEST): vol.Match(r"^[0-9a-f]{64}$")}
APPROVE_SCHEMA: Final = vol.Schema({**_TARGET, **_DIGEST})


def member_lines(text: str) -> list[dict[str, Any]]:
    """The member objects in ``text``, one JSON line each (as ``roster member``)."""
    members = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            member = json.loads(line)
        except ValueError as err:
            raise _invalid("roster_member_line", line=str(number)) from err
        if not isinstance(member, dict):
            raise _invalid("roster_member_line", line=str(number))
        members.append(member)
    return members


def _roster_of(entry: LocalVppConfigEntry) -> SidecarRoster:
    roster = SidecarRoster.of_options(
        entry.runtime_data.coordinator.hass, entry.options
    )
    if roster is None:
        raise _invalid("sidecar_not_configured", flat=entry.title)
    return roster


def _refused(err: RosterVoteError, entry: LocalVppConfigEntry) -> Exception:
    if err.reason == "unreachable":
        return _failed("sidecar_not_connected", flat=entry.title)
    return _failed("roster_refused", reason=err.reason, detail=err.detail or "-")


async def _async_member(call: ServiceCall) -> ServiceResponse:
    entry = entry_of(call.hass, call)
    try:
        member = await _roster_of(entry).member(call.data.get(ATTR_ADDRESS))
    except RosterVoteError as err:
        raise _refused(err, entry) from err
    return {"member": json.dumps(member), **member}


async def _require_admin(call: ServiceCall) -> None:
    """Refuse a call by a user who is not an administrator (automations may call)."""
    if call.context.user_id is None:
        return
    user = await call.hass.auth.async_get_user(call.context.user_id)
    if user is None:
        raise UnknownUser(context=call.context)
    if not user.is_admin:
        raise Unauthorized(context=call.context)


async def _async_propose(call: ServiceCall) -> ServiceResponse:
    await _require_admin(call)
    add = member_lines(call.data[ATTR_ADD])
    remove: list[str] = call.data[ATTR_REMOVE]
    effective_in: timedelta = call.data[ATTR_EFFECTIVE_IN]
    if not MIN_EFFECTIVE_IN <= effective_in <= MAX_EFFECTIVE_IN:
        raise _invalid("roster_effective_in")
    entry = entry_of(call.hass, call)
    try:
        said = await _roster_of(entry).propose(
            add, remove, int(effective_in.total_seconds())
        )
    except RosterVoteError as err:
        raise _refused(err, entry) from err
    effective = dt_util.as_local(dt_util.utc_from_timestamp(said["effective"] / 1000))
    return {
        "digest": said["digest"],
        "version": said["version"],
        "effective": effective.isoformat(),
    }


async def _async_approve(call: ServiceCall) -> ServiceResponse:
    await _require_admin(call)
    entry = entry_of(call.hass, call)
    try:
        said = await _roster_of(entry).approve(call.data[ATTR_DIGEST])
    except RosterVoteError as err:
        raise _refused(err, entry) from err
    return {"approvals": said["approvals"], "needed": said["needed"]}


@callback
def async_setup_roster_services(hass: HomeAssistant) -> None:
    """Register the roster actions."""
    for name, handler, schema, response in (
        (SERVICE_ROSTER_MEMBER, _async_member, MEMBER_SCHEMA, SupportsResponse.ONLY),
        (SERVICE_PROPOSE, _async_propose, PROPOSE_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_APPROVE, _async_approve, APPROVE_SCHEMA, SupportsResponse.OPTIONAL),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=response
        )
