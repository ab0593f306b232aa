"""Three lone flats become one building entirely from Home Assistant.

Three flats' sidecars run as real processes, set up without a roster: each runs
alone, and each flat's entry shows the repair 'not in a building yet'. The first flat
creates the building's first roster from the three member lines (action), the second
adopts it with the digest read out (action), the third through the repair's fix flow.
Then every sidecar links to the two others, without a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
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
from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.ledger.first_roster import ISSUE_PREFIX, issue_id
from devkit.ports import free_port
from simulator.model.config import FlatConfig
from simulator.threaded import FlatThread, run_flat_in_thread
from tests.integration.ha.support import entry_data, set_up_with_sidecar
from tests.sidecar.mesh_support import Building

NAMES = ("100", "201", "302")  # the flats mesh_support's building makes


@pytest.fixture
def three_flats(socket_enabled: None) -> Iterator[list[FlatThread]]:
    """Three simulated flats, each a real Modbus TCP server on 127.0.0.1."""
    handles: list[FlatThread] = []
    try:
        for name in NAMES:
            handles.append(
                run_flat_in_thread(
                    FlatConfig(
                        flat=name,
                        port=0,
                        manual_clock=True,
                        start=datetime(2026, 6, 21),
                    )
                )
            )
        yield handles
    finally:
        for handle in handles:
            handle.close()


def _first_roster_issues(hass: HomeAssistant) -> set[str]:
    return {
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and issue_id.startswith(ISSUE_PREFIX)
    }


async def _until(hass: HomeAssistant, done: Any, what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await hass.async_add_executor_job(time.sleep, 0.2)
        await hass.async_block_till_done()


async def _action(
    hass: HomeAssistant, name: str, data: dict[str, Any], **kwargs: Any
) -> Any:
    return await hass.services.async_call(
        DOMAIN, name, data, blocking=True, return_response=True, **kwargs
    )


async def test_three_lone_flats_become_one_building_from_home_assistant(
    hass: HomeAssistant,
    three_flats: list[FlatThread],
    hass_read_only_user: MockUser,
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3, alone=True) as building:
        await building.start()
        entries = []
        for name, simulated, sidecar in zip(
            NAMES, three_flats, building.flats, strict=True
        ):
            entry = MockConfigEntry(
                domain=DOMAIN,
                title=f"Flat {name}",
                unique_id=f"LVPP-{name}-BAT",
                data=entry_data(simulated),
                options={"poll_interval": 1.0},
            )
            await set_up_with_sidecar(hass, entry, sidecar.ws_url, sidecar.token)
            entries.append(entry)
        maker, adopter, repaired = entries

        # Every flat runs alone, and says so in Repairs.
        wanted = {issue_id(entry.entry_id) for entry in entries}
        await _until(hass, lambda: _first_roster_issues(hass) == wanted, "the issues")
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(repaired.entry_id))
        assert issue is not None
        assert (issue.is_fixable, issue.translation_key) == (True, "first_roster")
        assert issue.translation_placeholders == {
            "flat": "Flat 302",
            "building": building.building,
        }

        # The member lines, each from its own flat.
        lines = []
        for entry in entries:
            said = await _action(
                hass, "roster_member", {"config_entry_id": entry.entry_id}
            )
            lines.append(said["member"])

        # Only an administrator may speak for the flat.
        for action, data in (
            ("create_first_roster", {"members": "\n".join(lines)}),
            ("adopt_first_roster", {"roster": "{}", "digest": "0" * 16}),
        ):
            with pytest.raises(Unauthorized):
                await _action(
                    hass,
                    action,
                    {"config_entry_id": maker.entry_id, **data},
                    context=Context(user_id=hass_read_only_user.id),
                )

        # The first flat makes the roster; its sidecar adopts it at once.
        made = await _action(
            hass,
            "create_first_roster",
            {"config_entry_id": maker.entry_id, "members": "\n".join(lines)},
        )
        assert made["adopted"] is True
        assert made["flats"] == list(NAMES)
        assert made["digest_short"] == made["digest"][:16]

        # The second adopts it by action; a wrong digest is refused first.
        with pytest.raises(HomeAssistantError, match="digest_mismatch"):
            await _action(
                hass,
                "adopt_first_roster",
                {
                    "config_entry_id": adopter.entry_id,
                    "roster": made["roster"],
                    "digest": "0" * 16,
                },
            )
        said = await _action(
            hass,
            "adopt_first_roster",
            {
                "config_entry_id": adopter.entry_id,
                "roster": made["roster"],
                "digest": made["digest_short"],
            },
        )
        assert (said["adopted"], said["digest"]) == (True, made["digest"])

        # The third through its repair: paste, then the digest read out.
        flow = await repairs.async_create_fix_flow(hass, issue.issue_id, issue.data)
        flow.hass = hass
        flow.issue_id = issue.issue_id
        flow.handler = DOMAIN
        shown = await flow.async_step_init()
        assert (shown["type"], shown["step_id"]) == (FlowResultType.FORM, "roster")
        assert shown["description_placeholders"]["building"] == building.building
        shown = await flow.async_step_roster({"roster": "not a roster"})
        assert shown["errors"] == {"roster": "not_json"}
        shown = await flow.async_step_roster({"roster": made["roster"]})
        assert (shown["type"], shown["step_id"]) == (FlowResultType.FORM, "confirm")
        assert shown["description_placeholders"]["count"] == "3"
        assert shown["description_placeholders"]["flats"].startswith("100 (127.0.0.1:")
        shown = await flow.async_step_confirm({"digest": "0" * 16})
        assert shown["errors"] == {"base": "digest_mismatch"}
        shown = await flow.async_step_confirm({"digest": "xyz"})
        assert shown["errors"] == {"digest": "digest_format"}
        done = await flow.async_step_confirm({"digest": made["digest"].upper()})
        assert done["type"] is FlowResultType.CREATE_ENTRY

        # One building: no flat runs alone, every sidecar links to the two others.
        await _until(hass, lambda: not _first_roster_issues(hass), "issues to go")
        waited, fewest = await building.linked(within=60)
        assert fewest == 2, f"linked to only {fewest} after {waited:.0f} s"

        def everyone_sees_two() -> bool:
            links = [entry.runtime_data.sidecar for entry in entries]
            return all(
                link is not None
                and link.mesh is not None
                and link.mesh.get("peers_online") == 2
                for link in links
            )

        await _until(hass, everyone_sees_two, "Home Assistant to see the mesh")

        # The roster is set: a second one is refused, by action and in the repair.
        with pytest.raises(HomeAssistantError, match="has_roster"):
            await _action(
                hass,
                "create_first_roster",
                {"config_entry_id": maker.entry_id, "members": lines[0]},
            )
        late = await repairs.async_create_fix_flow(hass, issue.issue_id, issue.data)
        late.hass = hass
        late.issue_id = issue.issue_id
        alone = {
            "building": building.building,
            "version": 1,
            "members": [json.loads(lines[2])],
        }
        shown = await late.async_step_roster({"roster": json.dumps(alone)})
        assert (shown["type"], shown["reason"]) == (
            FlowResultType.ABORT,
            "already_in_building",
        )
        for entry in entries:
            assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_first_roster_actions_and_repair_say_what_is_wrong(
    hass: HomeAssistant, config_entry: MockConfigEntry, flat: FlatThread
) -> None:
    # A sidecar configured where nothing listens.
    await set_up_with_sidecar(
        hass,
        config_entry,
        f"ws://127.0.0.1:{free_port()}/api/v1/ws",
        "t" * 43,
    )
    target = {"config_entry_id": config_entry.entry_id}
    for action, data, key in (
        ("create_first_roster", {"members": "\n \n"}, "first_roster_no_members"),
        ("create_first_roster", {"members": "[1]"}, "roster_member_line"),
        (
            "adopt_first_roster",
            {"roster": "[]", "digest": "a" * 16},
            "first_roster_json",
        ),
    ):
        with pytest.raises(ServiceValidationError) as refused:
            await _action(hass, action, {**target, **data})
        assert refused.value.translation_key == key
    with pytest.raises(vol.Invalid):
        await _action(
            hass, "adopt_first_roster", {**target, "roster": "{}", "digest": "ab"}
        )
    with pytest.raises(HomeAssistantError) as failed:
        await _action(
            hass, "adopt_first_roster", {**target, "roster": "{}", "digest": "a" * 64}
        )
    assert failed.value.translation_key == "sidecar_not_connected"

    flow = await repairs.async_create_fix_flow(
        hass, issue_id(config_entry.entry_id), {"entry_id": config_entry.entry_id}
    )
    flow.hass = hass
    flow.issue_id = issue_id(config_entry.entry_id)
    shown = await flow.async_step_roster({"roster": "{}"})
    assert shown["errors"] == {"base": "unreachable"}
    gone = await repairs.async_create_fix_flow(
        hass, issue_id("no such entry"), {"entry_id": "no such entry"}
    )
    gone.hass = hass
    gone.issue_id = issue_id("no such entry")
    shown = await gone.async_step_roster({"roster": "{}"})
    assert (shown["type"], shown["reason"]) == (
        FlowResultType.ABORT,
        "sidecar_not_configured",
    )
    assert await hass.config_entries.async_unload(config_entry.entry_id)
