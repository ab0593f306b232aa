"""Repairs fixed from Home Assistant: approving a roster change, joining a building."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .first_roster_repair import FirstRosterFlow
from .ledger import first_roster
from .ledger.roster_vote import ISSUE_PREFIX, RosterVoteError, SidecarRoster


class RosterApprovalFlow(RepairsFlow):
    """Approve a proposed roster change with this flat's key, or leave it."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Remember which flat and which proposal the issue is about."""
        self._entry_id = str(data["entry_id"])
        self._digest = str(data["digest"])

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Show the change; on confirmation ask the flat's sidecar to approve it."""
        if user_input is None:
            issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
            return self.async_show_form(
                step_id="confirm",
                data_schema=vol.Schema({}),
                description_placeholders=(
                    None if issue is None else issue.translation_placeholders
                ),
            )
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        roster = (
            None
            if entry is None
            else SidecarRoster.of_options(self.hass, entry.options)
        )
        if roster is None:
            return self.async_abort(reason="sidecar_not_configured")
        try:
            await roster.approve(self._digest)
        except RosterVoteError as err:
            if err.reason == "unknown_proposal":
                return self.async_abort(reason="proposal_gone")
            return self.async_abort(
                reason="approval_failed",
                description_placeholders={"reason": err.reason, "detail": err.detail},
            )
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The flow that fixes ``issue_id``."""
    del hass
    if issue_id.startswith(ISSUE_PREFIX) and data is not None:
        return RosterApprovalFlow(data)
    if issue_id.startswith(first_roster.ISSUE_PREFIX) and data is not None:
        return FirstRosterFlow(data)
    return ConfirmRepairFlow()
