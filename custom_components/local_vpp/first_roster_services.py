"""Actions that set up the building's first roster from Home Assistant.

One flat makes the roster from every flat's member line (*Show this flat's roster
member line* gives each) and its sidecar adopts it; each other flat adopts the same
roster, checked against the digest the first flat reads out (or fixes the repair that
asks it to join). The sidecar checks and keeps the roster exactly as ``roster init``
makes it, so the command line stays an equal way. Adopting speaks for the flat, so
only administrators may call them.
"""

from __future__ import annotations

import json
from typing import Any, Final

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .ledger.first_roster import issue_id
from .ledger.roster_vote import RosterVoteError
from .roster_services import _refused, _require_admin, _roster_of, member_lines
from .services import _TARGET, _invalid, entry_of

SERVICE_CREATE: Final = "create_first_roster"
SERVICE_ADOPT: Final = "adopt_first_roster"
ATTR_MEMBERS: Final = "members"
ATTR_ROSTER: Final = "roster"
ATTR_DIGEST: Final = "digest"
# The whole digest, or at least its first 16 hex characters as read out.
DIGEST: Final = vol.All(cv.string, vol.Lower, vol.Match(r"^[0-9a-f]{16,64}$"))

_MEMBERS: dict[Any, Any] = {vol.Required(ATTR_MEMBERS): cv.string}
_ADOPT: dict[Any, Any] = {
    vol.Required(ATTR_ROSTER): cv.string,
    vol.Required(ATTR_DIGEST): DIGEST,
}
CREATE_SCHEMA: Final = vol.Schema({**_TARGET, **_MEMBERS})
ADOPT_SCHEMA: Final = vol.Schema({**_TARGET, **_ADOPT})


def roster_document(text: str) -> dict[str, Any]:
    """The roster in ``text`` (as *Create the building's first roster* gives it)."""
    try:
        document = json.loads(text)
    except ValueError as err:
        raise _invalid("first_roster_json") from err
    if not isinstance(document, dict):
        raise _invalid("first_roster_json")
    return document


def answer(said: dict[str, Any]) -> dict[str, Any]:
    """The action's response: the roster to hand on, its digest, who is in it."""
    return {
        "roster": json.dumps(said["roster"], ensure_ascii=False),
        "digest": said["digest"],
        "digest_short": str(said["digest"])[:16],
        "building": said["building"],
        "flats": [item["flat"] for item in said["members"]],
        "adopted": said["adopted"],
    }


async def _async_create(call: ServiceCall) -> ServiceResponse:
    await _require_admin(call)
    members = member_lines(call.data[ATTR_MEMBERS])
    if not members:
        raise _invalid("first_roster_no_members")
    entry = entry_of(call.hass, call)
    try:
        said = await _roster_of(entry).first({"members": members})
    except RosterVoteError as err:
        raise _refused(err, entry) from err
    ir.async_delete_issue(call.hass, DOMAIN, issue_id(entry.entry_id))
    return answer(said)


async def _async_adopt(call: ServiceCall) -> ServiceResponse:
    await _require_admin(call)
    document = roster_document(call.data[ATTR_ROSTER])
    entry = entry_of(call.hass, call)
    try:
        said = await _roster_of(entry).first(
            {"roster": document, "digest": call.data[ATTR_DIGEST]}
        )
    except RosterVoteError as err:
        raise _refused(err, entry) from err
    ir.async_delete_issue(call.hass, DOMAIN, issue_id(entry.entry_id))
    return answer(said)


@callback
def async_setup_first_roster_services(hass: HomeAssistant) -> None:
    """Register the first-roster actions."""
    for name, handler, schema in (
        (SERVICE_CREATE, _async_create, CREATE_SCHEMA),
        (SERVICE_ADOPT, _async_adopt, ADOPT_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN,
            name,
            handler,
            schema=schema,
            supports_response=SupportsResponse.OPTIONAL,
        )
