"""The building's first roster adopted over the local API, without a terminal.

Flats set up without a roster run alone; each adopts the same first roster over
``POST /api/v1/roster/first`` and the mesh forms without a restart. The roster is kept
in the node's data directory, byte for byte what ``roster init`` writes, and used again
after a restart. Every refusal has its reason, status and counter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit.clock import now_ms
from devkit.sidecar_node import configure, sidecar_cli_here
from sidecar import config as config_module
from sidecar.api import first_roster
from sidecar.apps.wat import adoption, spec
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster
from sidecar.mesh.membership import Membership
from sidecar.mesh.roster import Member, Roster
from tests.sidecar.mesh_support import Building, Flat, member_of
from tests.sidecar.support import BUILDING, T0

FIRST = "/api/v1/roster/first"


async def _call(
    flat: Flat, method: str, body: object = None, *, raw: str | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"http://127.0.0.1:{flat.port}{FIRST}",
            headers=flat.headers,
            json=None if raw is not None else body,
            data=raw,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response,
    ):
        return response.status, await response.json()


def _stranger(flat: str = "999") -> Member:
    return Member(flat, "9", Identity.generate().public_key, "127.0.0.1:9999")


def _first(*members: Member, building: str = BUILDING) -> Roster:
    return Roster(building, 1, members)


async def _rejected(building: Building, flat: Flat) -> dict[str, int]:
    counted: dict[str, int] = (await building.status(flat))["rejected"]
    return {k: v for k, v in counted.items() if k.startswith("first_roster_")}


async def test_a_first_roster_that_cannot_be_this_nodes_is_refused_and_counted(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 2, alone=True) as building:
        lone, changed = building.flats
        await building.start(lone)
        me, stranger = member_of(lone), _stranger()
        refusals: list[tuple[object, int, str]] = [
            (None, 400, "bad_request"),  # no JSON at all
            ([], 400, "bad_request"),
            ({"members": [], "roster": {}}, 400, "bad_request"),
            ({"members": [me.to_json()], "dry_run": "yes"}, 400, "bad_request"),
            ({"members": [me.to_json()], "digest": "XY"}, 400, "bad_request"),
            ({"members": [{**me.to_json(), "key": "02" + "ff" * 32}]}, 400, "bad_key"),
            ({"members": [{**me.to_json(), "address": "nowhere"}]}, 400, "bad_roster"),
            ({"roster": {"building": BUILDING, "version": 1}}, 400, "bad_roster"),
            (
                {
                    "roster": {
                        **_first(me).document(),
                        "version": 2,
                        "prev": "00" * 32,
                        "effective": 5,
                    }
                },
                400,
                "bad_roster",
            ),
            ({"members": [stranger.to_json()]}, 422, "not_listed"),
            (
                {"roster": _first(me, building="bldg-99").document()},
                422,
                "wrong_building",
            ),
            (
                {"roster": _first(me).document(), "digest": "00" * 8},
                422,
                "digest_mismatch",
            ),
        ]
        for body, status, reason in refusals:
            if body is None:
                said = await _call(lone, "POST", raw="{not json")
            else:
                said = await _call(lone, "POST", body)
            assert said[0] == status, (body, said)
            assert said[1]["error"] == reason, (body, said)
            assert said[1]["detail"], said
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{lone.port}{FIRST}", json={}) as response,
        ):
            assert response.status == 401

        counted = await _rejected(building, lone)
        assert counted == {
            "first_roster_bad_request": 5,
            "first_roster_bad_key": 1,
            "first_roster_bad_roster": 3,
            "first_roster_not_listed": 1,
            "first_roster_wrong_building": 1,
            "first_roster_digest_mismatch": 1,
        }
        # Nothing of it stuck: still alone, nothing stored.
        status, state = await _call(lone, "GET")
        assert (status, state["alone"], state["source"]) == (200, True, "none")
        assert not (lone.db.parent / "roster.json").exists()

        # A dry run checks and tells the digest, and changes nothing.
        doc = _first(me, stranger)
        status, said = await _call(
            lone, "POST", {"roster": doc.document(), "dry_run": True}
        )
        assert status == 200, said
        assert (said["adopted"], said["digest"]) == (False, doc.digest.hex())
        assert (await _call(lone, "GET"))[1]["alone"] is True

        # Adopted once; the same roster again is no change; another one is refused.
        status, said = await _call(
            lone, "POST", {"roster": doc.document(), "digest": doc.digest.hex()[:16]}
        )
        assert (status, said["adopted"]) == (200, True), said
        # Kept on disk before the answer: a node killed at once starts with it.
        await building.kill(lone)
        await building.start(lone)
        status, state = await _call(lone, "GET")
        assert (state["alone"], state["source"], state["digest"]) == (
            False,
            "adopted",
            doc.digest.hex(),
        )
        status, said = await _call(lone, "POST", {"roster": doc.document()})
        assert (status, said["adopted"], said["digest"]) == (
            200,
            False,
            doc.digest.hex(),
        )
        status, said = await _call(lone, "POST", {"members": [me.to_json()]})
        assert (status, said["error"]) == (409, "has_roster"), said
        assert "adopted" in said["detail"]
        assert (await _rejected(building, lone))["first_roster_has_roster"] == 1

        # A node that changed its roster of one by a vote has a roster of its own.
        await building.start(changed)
        newcomer = _stranger("401")
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{changed.port}/api/v1/roster/propose",
                headers=changed.headers,
                json={"add": [newcomer.to_json()], "effective_in_s": 600},
            ) as response,
        ):
            assert response.status == 200, await response.text()

        async def recorded() -> bool:
            return (await _call(changed, "GET"))[1]["alone"] is False

        await _until(recorded)
        status, said = await _call(
            changed, "POST", {"members": [member_of(changed).to_json()]}
        )
        assert (status, said["error"]) == (409, "has_roster"), said


async def _until(check: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_node_with_a_configured_roster_refuses_a_first_roster(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 2) as building:
        first = building.flats[0]
        await building.start(first)
        status, state = await _call(first, "GET")
        assert (state["alone"], state["source"]) == (False, "config")
        doc = roster.load(first.directory / "roster.json")
        assert state["digest"] == doc.digest.hex()
        status, said = await _call(first, "POST", {"roster": doc.document()})
        assert (status, said["adopted"]) == (200, False)  # the one it has
        status, said = await _call(
            first, "POST", {"members": [member_of(first).to_json()]}
        )
        assert (status, said["error"]) == (409, "has_roster"), said
        assert "configuration" in said["detail"]


async def test_three_lone_flats_become_one_building_without_a_restart(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3, alone=True) as building:
        await building.start()
        maker, *others = building.flats
        lines = [member_of(flat).to_json() for flat in building.flats]
        assert await building.peers_online() == [0, 0, 0]

        status, made = await _call(maker, "POST", {"members": lines})
        assert (status, made["adopted"]) == (200, True), made
        for flat in others:
            status, said = await _call(
                flat, "POST", {"roster": made["roster"], "digest": made["digest"]}
            )
            assert (status, said["adopted"]) == (200, True), said
            assert said["digest"] == made["digest"]

        # Linked without a restart: every node sees the two others.
        waited, fewest = await building.linked(within=60)
        assert fewest == 2, f"linked only to {fewest} after {waited:.0f} s"
        for flat in building.flats:
            status, state = await _call(flat, "GET")
            assert (state["alone"], state["source"], state["digest"]) == (
                False,
                "adopted",
                made["digest"],
            )

        # WAT settles over the building now: a currency two of the three approved
        # is taken (over the roster of one, their approvals would not count).
        effective = (now_ms() // 60_000 + 2) * 60_000
        currency = dataclasses.replace(
            spec.default(BUILDING, effective), interval_min=1, final_min=1
        )
        approvals = [
            adoption.approve(flat.identity, currency) for flat in building.flats[1:]
        ]
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{others[-1].port}/api/v1/wat/currency",
                headers=others[-1].headers,
                json={"proposal": currency.document(), "approvals": approvals},
            ) as response,
        ):
            assert response.status == 200, await response.text()

        # Byte for byte the file `roster init` makes from the same member lines.
        members = tmp_path / "members.jsonl"
        members.write_text("".join(f"{json.dumps(line)}\n" for line in lines))
        by_hand = tmp_path / "by-hand.json"
        sidecar_cli_here(
            "roster",
            "init",
            "--building",
            BUILDING,
            "--out",
            str(by_hand),
            str(members),
        )
        for flat in building.flats:
            kept = flat.db.parent / "roster.json"
            assert kept.read_bytes() == by_hand.read_bytes()
            assert not list(kept.parent.glob("roster.json.*"))  # no leftovers

        # After a restart the kept roster is the node's roster.
        await building.stop(maker)
        await building.start(maker)
        waited, fewest = await building.linked(within=60)
        assert fewest == 2, f"linked only to {fewest} after {waited:.0f} s"
        status, state = await _call(maker, "GET")
        assert (state["source"], state["digest"]) == ("adopted", made["digest"])


def test_a_roster_named_in_the_configuration_wins_over_the_adopted_one(
    tmp_path: Path,
) -> None:
    config = tmp_path / "sidecar.toml"
    sidecar_cli_here(
        "init",
        "--config",
        str(config),
        "--building",
        BUILDING,
        "--floor",
        "3",
        "--flat",
        "301",
        "--listen",
        "127.0.0.1:0",
    )
    assert config_module.load(config).roster_file is None
    kept = tmp_path / "data" / "roster.json"
    kept.write_text("{}")
    assert config_module.load(config).roster_file == kept
    configure(config, {"roster": "mine.json"})
    assert config_module.load(config).roster_file == tmp_path / "mine.json"


@pytest.mark.parametrize("members", [1, 3])
def test_the_kept_roster_is_what_roster_save_writes(
    tmp_path: Path, members: int
) -> None:
    doc = _first(*(_stranger(f"10{i}") for i in range(members)))
    path = tmp_path / "roster.json"
    first_roster.keep(doc, path)
    roster.save(doc, tmp_path / "saved.json")
    assert path.read_bytes() == (tmp_path / "saved.json").read_bytes()
    assert roster.load(path) == doc


def test_adopting_takes_the_roster_changes_the_node_already_holds() -> None:
    """A node running alone on a restored database that holds a version 2.

    It must end where a restart with the first roster would: on version 2, not on
    the first roster it was given, refusing members version 2 added.
    """
    keys = [Identity.generate() for _ in range(3)]
    members = [
        Member(str(301 + n), "3", who.public_key, f"127.0.0.1:{9000 + n}")
        for n, who in enumerate(keys)
    ]
    first = _first(*members)
    effective = now_ms() + 30_000
    proposed = Roster(BUILDING, 2, (*members, _stranger()), first.digest, effective)
    body: JsonObject = {"v": 1, "kind": "roster", "building": BUILDING, "ts": T0}
    body.update(
        roster.entry_body(proposed, [roster.approve(who, proposed) for who in keys[:2]])  # type: ignore[arg-type]
    )
    change = etp.make_entry(keys[1], 1, etp.ZERO_ID, (), body)

    refused: list[str] = []
    alone = Membership(_first(members[0]), keys[0].author, refused.append)
    alone.adopt_first(first, [change])
    restarted = Membership(first, keys[0].author, refused.append)
    restarted.seen(change)
    for membership in (alone, restarted):
        assert membership.pending == proposed
        due = membership.take_due(effective + 1)
        assert due == proposed
        membership.put_in_force(due)
        assert membership.roster.version == 2
    assert refused == []
