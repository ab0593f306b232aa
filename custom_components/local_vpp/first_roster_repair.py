"""The fix of 'this flat is not in a building yet': adopt the building's first roster.

Two steps: paste the roster another flat's *Create the building's first roster* gave
(the sidecar checks it without adopting it, and the flow shows the building and its
flats), then type the digest that flat reads out. The sidecar adopts the roster only
if the digest matches, so a roster altered on its way is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import selector

from .const import DOMAIN
from .ledger.first_roster import describe_roster, issue_id
from .ledger.roster_vote import RosterVoteError, SidecarRoster

ROSTER: Final = "roster"
DIGEST: Final = "digest"
_DIGEST: Final = re.compile(r"[0-9a-f]{16,64}\Z")
_TEXT: Final = selector.TextSelector(selector.TextSelectorConfig(multiline=True))
# Refusals of a pasted roster that the form explains; anything else ends the flow.
_FORM_ERRORS: Final = {
    "bad_request": "not_a_roster",
    "bad_roster": "not_a_roster",
    "bad_key": "not_a_roster",
    "too_large": "not_a_roster",
    "not_listed": "not_listed",
    "wrong_building": "wrong_building",
    "digest_mismatch": "digest_mismatch",
    "unreachable": "unreachable",
}


class FirstRosterFlow(RepairsFlow):
    """Paste the building's first roster, confirm its digest, let the sidecar adopt."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Remember which flat the issue is about."""
        self._entry_id = str(data["entry_id"])
        self._document: dict[str, Any] | None = None
        self._checked: dict[str, str] = {}

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Start with the roster."""
        return await self.async_step_roster()

    async def async_step_roster(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Take the pasted roster; the sidecar checks it without adopting it."""
        errors: dict[str, str] = {}
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = {
            "building": "?",
            **((issue and issue.translation_placeholders) or {}),
            "reason": "-",
            "detail": "-",
        }
        if user_input is not None:
            roster = self._roster()
            if roster is None:
                return self.async_abort(reason="sidecar_not_configured")
            try:
                document = json.loads(user_input[ROSTER])
                if not isinstance(document, dict):
                    raise ValueError("not an object")
                said = await roster.first({"roster": document, "dry_run": True})
            except ValueError:
                errors[ROSTER] = "not_json"
            except RosterVoteError as err:
                if err.reason == "has_roster":
                    return self.async_abort(reason="already_in_building")
                errors["base"] = _FORM_ERRORS.get(err.reason, "refused")
                placeholders |= {"reason": err.reason, "detail": err.detail or "-"}
            else:
                self._document = document
                self._checked = describe_roster(said)
                return await self.async_step_confirm()
        return self.async_show_form(
            step_id="roster",
            data_schema=vol.Schema({vol.Required(ROSTER): _TEXT}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Ask for the digest read out; on a match the sidecar adopts the roster."""
        errors: dict[str, str] = {}
        placeholders = {**self._checked, "reason": "-", "detail": "-"}
        if user_input is not None:
            digest = user_input[DIGEST].strip().lower()
            roster = self._roster()
            if roster is None or self._document is None:
                return self.async_abort(reason="sidecar_not_configured")
            if not _DIGEST.match(digest):
                errors[DIGEST] = "digest_format"
            else:
                try:
                    await roster.first({"roster": self._document, "digest": digest})
                except RosterVoteError as err:
                    if err.reason == "has_roster":
                        return self.async_abort(reason="already_in_building")
                    errors["base"] = _FORM_ERRORS.get(err.reason, "refused")
                    placeholders |= {"reason": err.reason, "detail": err.detail}
                else:
                    ir.async_delete_issue(self.hass, DOMAIN, issue_id(self._entry_id))
                    return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({vol.Required(DIGEST): str}),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _roster(self) -> SidecarRoster | None:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        return (
            None
            if entry is None
            else SidecarRoster.of_options(self.hass, entry.options)
        )
