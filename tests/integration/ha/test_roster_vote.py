"""The building's roster changed from Home Assistant, with real sidecars.

Three flats' sidecars run as processes; Home Assistant is linked to the second. The
first proposes adding a fourth flat (as that flat's own Home Assistant would), this
Home Assistant shows a repair asking to approve it, and fixing the repair approves it
with the flat's key: the building reaches roster version 2.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from homeassistant.components.repairs import ConfirmRepairFlow
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.local_vpp import repairs
from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    DOMAIN,
)
from custom_components.local_vpp.ledger.roster_vote import ISSUE_PREFIX
from devkit.ports import free_port
from simulator.threaded import FlatThread
from tests.integration.ha.support import set_up_with_sidecar
from tests.sidecar.mesh_support import Building, Flat, make_flat, member_of


async def _roster(flat: Flat, path: str = "", body: object = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            "GET" if body is None else "POST",
            f"http://127.0.0.1:{flat.port}/api/v1/roster{path}",
            headers=flat.headers,
            json=body,
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


def _vote_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(ISSUE_PREFIX)
    ]


async def _until_issues(hass: HomeAssistant, done: Any, within: float = 60) -> None:
    """Wait until ``done()`` holds (the watcher looks on the sidecar's mesh news)."""
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, "the roster watcher did not catch up"
        await hass.async_add_executor_job(time.sleep, 0.2)
        await hass.async_block_till_done()


async def test_a_roster_change_is_approved_from_a_repair(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    socket_enabled: None,
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        await building.start()
        proposer, mine, third = building.flats
        await set_up_with_sidecar(hass, config_entry, mine.ws_url, mine.token)

        # The member line, as the flat that proposes would be given it.
        said = await hass.services.async_call(
            DOMAIN,
            "roster_member",
            {"config_entry_id": config_entry.entry_id},
            blocking=True,
            return_response=True,
        )
        assert said is not None
        assert said["key"] == member_of(mine).to_json()["key"]

        newcomer = make_flat(tmp_path / "newcomer", "401")
        proposal = await _roster(
            proposer,
            "/propose",
            {"add": [member_of(newcomer).to_json()], "effective_in_s": 600},
        )

        await _until_issues(hass, lambda: _vote_issues(hass))
        (issue,) = _vote_issues(hass)
        assert issue.is_fixable
        assert issue.translation_key == "roster_vote"
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["proposer"] == proposer.name
        assert issue.translation_placeholders["changes"].startswith("+ 401 (")
        assert issue.data == {
            "entry_id": config_entry.entry_id,
            "digest": proposal["digest"],
        }

        # Fixing the repair approves with this flat's key: a majority of three.
        flow = await repairs.async_create_fix_flow(hass, issue.issue_id, issue.data)
        flow.hass = hass
        flow.issue_id = issue.issue_id
        flow.handler = DOMAIN
        shown = await flow.async_step_init()
        assert shown["type"] is FlowResultType.FORM
        assert shown["description_placeholders"] == issue.translation_placeholders
        done = await flow.async_step_confirm({})
        assert done["type"] is FlowResultType.CREATE_ENTRY

        deadline = time.monotonic() + 30
        while [(await _roster(flat))["version"] for flat in building.flats] != [2] * 3:
            assert time.monotonic() < deadline, "roster version 2 not everywhere"
            await hass.async_add_executor_job(time.sleep, 0.2)
        await _until_issues(hass, lambda: not _vote_issues(hass))

        # Proposing from Home Assistant: the others see this flat as the proposer.
        said = await hass.services.async_call(
            DOMAIN,
            "propose_roster_change",
            {"config_entry_id": config_entry.entry_id, "remove": [third.name]},
            blocking=True,
            return_response=True,
        )
        assert said is not None
        deadline = time.monotonic() + 30
        while not (seen := (await _roster(proposer))["proposals"]):
            assert time.monotonic() < deadline, "the proposal did not reach flat 1"
            await hass.async_add_executor_job(time.sleep, 0.2)
        assert (seen[0]["digest"], seen[0]["proposer"], seen[0]["remove"]) == (
            said["digest"],
            mine.name,
            [third.name],
        )

        with pytest.raises(ServiceValidationError):
            await hass.services.async_call(
                DOMAIN,
                "propose_roster_change",
                {"config_entry_id": config_entry.entry_id, "add": "not json"},
                blocking=True,
            )
        with pytest.raises(HomeAssistantError, match="unknown_proposal"):
            await hass.services.async_call(
                DOMAIN,
                "approve_roster_change",
                {"config_entry_id": config_entry.entry_id, "digest": "0" * 64},
                blocking=True,
            )
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


async def test_roster_actions_and_repairs_say_what_is_wrong(
    hass: HomeAssistant, config_entry: MockConfigEntry, flat: FlatThread
) -> None:
    # A sidecar configured where nothing listens.
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {
            CONF_SIDECAR_URL: f"ws://127.0.0.1:{free_port()}/api/v1/ws",
            CONF_SIDECAR_TOKEN: "t" * 43,
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    target = {"config_entry_id": config_entry.entry_id}

    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "propose_roster_change", {**target, "add": "[1]"}, blocking=True
        )
    assert refused.value.translation_key == "roster_member_line"
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "propose_roster_change",
            {**target, "remove": ["302"], "effective_in": {"days": 31}},
            blocking=True,
        )
    assert refused.value.translation_key == "roster_effective_in"
    with pytest.raises(HomeAssistantError) as failed:
        await hass.services.async_call(
            DOMAIN, "roster_member", target, blocking=True, return_response=True
        )
    assert failed.value.translation_key == "sidecar_not_connected"

    flow = await repairs.async_create_fix_flow(
        hass,
        f"{ISSUE_PREFIX}x",
        {"entry_id": config_entry.entry_id, "digest": "0" * 64},
    )
    flow.hass = hass
    flow.issue_id = f"{ISSUE_PREFIX}x"
    result = await flow.async_step_confirm({})
    assert (result["type"], result["reason"]) == (
        FlowResultType.ABORT,
        "approval_failed",
    )
    gone = await repairs.async_create_fix_flow(
        hass, f"{ISSUE_PREFIX}y", {"entry_id": "no such entry", "digest": "0" * 64}
    )
    gone.hass = hass
    result = await gone.async_step_confirm({})
    assert (result["type"], result["reason"]) == (
        FlowResultType.ABORT,
        "sidecar_not_configured",
    )
    other = await repairs.async_create_fix_flow(hass, "connection_failing_x", None)
    assert isinstance(other, ConfirmRepairFlow)
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_roster_actions_need_a_sidecar_and_an_administrator(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_read_only_user: MockUser
) -> None:
    target = {"config_entry_id": loaded_entry.entry_id}
    for action, data in (
        ("propose_roster_change", {**target, "remove": ["302"]}),
        ("approve_roster_change", {**target, "digest": "0" * 64}),
    ):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                DOMAIN,
                action,
                data,
                blocking=True,
                context=Context(user_id=hass_read_only_user.id),
            )
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "approve_roster_change",
            {"config_entry_id": loaded_entry.entry_id, "digest": "0" * 64},
            blocking=True,
        )
    assert refused.value.translation_key == "sidecar_not_configured"
