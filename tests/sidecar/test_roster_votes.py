"""Roster changes proposed and approved over the local API, carried by the ledger."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit.sidecar_node import sidecar_cli
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster, roster_votes
from sidecar.mesh.roster import Member, Roster, RosterError
from tests.sidecar.mesh_support import Building, Flat, make_flat, member_of
from tests.sidecar.support import BUILDING

ROSTER = "/api/v1/roster"


async def _call(
    flat: Flat, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"http://127.0.0.1:{flat.port}{ROSTER}{path}",
            headers=flat.headers,
            json=body,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response,
    ):
        return response.status, await response.json()


async def _until(what: str, check: Any, within: float = 30) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def test_next_roster_adds_removes_and_replaces_members() -> None:
    keys = [Identity.generate() for _ in range(3)]
    members = tuple(
        Member(f"10{i}", "1", key.public_key, f"127.0.0.1:{9000 + i}")
        for i, key in enumerate(keys)
    )
    base = Roster(BUILDING, 1, members)
    newcomer = Member("104", "1", Identity.generate().public_key, "127.0.0.1:9004")
    rekeyed = Member("101", "1", Identity.generate().public_key, "127.0.0.1:9101")
    proposed = roster_votes.next_roster(base, [newcomer, rekeyed], ["102"], 5_000)
    assert (proposed.version, proposed.prev, proposed.effective) == (
        2,
        base.digest,
        5_000,
    )
    assert [m.flat for m in proposed.members] == ["100", "104", "101"]
    assert proposed.member(rekeyed.author) == rekeyed
    with pytest.raises(RosterError, match="no member flat 999"):
        roster_votes.next_roster(base, [], ["999"], 5_000)
    with pytest.raises(RosterError, match="name members"):
        roster_votes.next_roster(base, [], [], 5_000)


async def test_a_flat_is_added_by_proposal_and_approval_over_the_local_api(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        await building.start()
        first, second, third = building.flats
        newcomer = make_flat(tmp_path / "newcomer", "401")
        member = member_of(newcomer).to_json()

        status, said = await _call(first, "GET", "/member")
        assert status == 200
        assert said == member_of(first).to_json()
        status, said = await _call(
            first, "POST", "/propose", {"add": [member], "effective_in_s": 15}
        )
        assert status == 200, said
        digest = said["digest"]
        assert said["version"] == 2

        # Every member sees the proposal, approved by its proposer only.
        async def seen_by_the_others() -> Any:
            views = [(await _call(flat, "GET", ""))[1] for flat in (second, third)]
            return all(view["proposals"] for view in views) and views[1]["proposals"]

        (open_proposal,) = await _until(
            "the proposal at the others", seen_by_the_others
        )
        assert open_proposal["digest"] == digest
        assert open_proposal["add"] == [
            {"flat": "401", "floor": "4", "address": member["address"]}
        ]
        assert (open_proposal["proposer"], open_proposal["approved_by"]) == (
            first.name,
            [first.name],
        )
        assert (open_proposal["needed"], open_proposal["approved_by_me"]) == (2, False)

        # A second approval makes a majority; the change is recorded and applies.
        status, said = await _call(second, "POST", "/approve", {"digest": digest})
        assert status == 200, said
        assert said["needed"] == 2

        async def version_2_everywhere() -> bool:
            views = [await _call(flat, "GET", "") for flat in building.flats]
            return all(
                view["version"] == 2 and view["proposals"] == [] for _, view in views
            )

        await _until("roster version 2 on every member", version_2_everywhere)
        # The change holds on the members from its effective time.
        proposed = roster.Roster(
            BUILDING,
            2,
            (*[member_of(f) for f in building.flats], member_of(newcomer)),
        )
        assert [m["flat"] for m in (await _call(third, "GET", ""))[1]["members"]] == [
            m.flat for m in proposed.members
        ]
        assert building.log_count("Recorded roster version 2") >= 1
        # The proposal, the approval and the change verify in any member's ledger.
        checked = await asyncio.to_thread(
            sidecar_cli, "verify", str(third.db), "--roster", str(building.roster_file)
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_the_roster_api_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    async with Building(tmp_path, 2) as building:
        await building.start(building.flats[0])
        flat = building.flats[0]
        status, said = await _call(flat, "POST", "/approve", {"digest": "00" * 32})
        assert (status, said["error"]) == (404, "unknown_proposal")
        status, said = await _call(flat, "POST", "/propose", {"remove": ["999"]})
        assert (status, said["error"]) == (400, "bad_request")
        status, said = await _call(
            flat, "POST", "/propose", {"remove": ["201"], "effective_in_s": 5}
        )
        assert (status, said["error"]) == (400, "bad_request")
        status, said = await _call(flat, "POST", "/propose", {"add": [{"flat": 1}]})
        assert (status, said["error"]) == (400, "bad_roster")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{flat.port}{ROSTER}") as response,
        ):
            assert response.status == 401
