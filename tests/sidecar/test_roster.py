"""Roster files and changes: the command line, a node's checks, and a live change."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from pathlib import Path

import pytest

from sidecar import cli
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster
from sidecar.mesh.roster import Roster, RosterError
from tests.sidecar.mesh_support import Building, make_flat, member_of, write_roster
from tests.sidecar.support import BUILDING


async def _cli(*args: str) -> tuple[int, str]:
    """``python -m sidecar roster …`` in this process (a thread); code and output."""

    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(["roster", *args])
        return code, out.getvalue()

    return await asyncio.to_thread(run)


def _three() -> tuple[Roster, list[Identity]]:
    keys = [Identity.generate() for _ in range(3)]
    members = tuple(
        roster.Member(f"10{i}", "1", key.public_key, f"127.0.0.1:{9000 + i}")
        for i, key in enumerate(keys)
    )
    return Roster(BUILDING, 1, members), keys


def _next(current: Roster, extra: roster.Member) -> Roster:
    return Roster(
        current.building,
        current.version + 1,
        (*current.members, extra),
        current.digest,
        123,
    )


def test_a_change_needs_a_majority_of_valid_member_signatures() -> None:
    current, keys = _three()
    newcomer = Identity.generate()
    proposed = _next(
        current, roster.Member("104", "1", newcomer.public_key, "127.0.0.1:9004")
    )

    def approvals(*signers: Identity) -> list[tuple[bytes, bytes]]:
        return [
            (key.author, bytes.fromhex(str(roster.approve(key, proposed)["sig"])))
            for key in signers
        ]

    with pytest.raises(RosterError, match="1 of 3 members approved; 2 are needed"):
        roster.check_change(current, proposed, approvals(keys[0]))
    with pytest.raises(RosterError) as refused:
        roster.check_change(current, proposed, approvals(keys[0], newcomer))
    assert refused.value.reason == "non_member"
    forged = [*approvals(keys[0]), (keys[1].author, approvals(keys[2])[0][1])]
    with pytest.raises(RosterError) as refused:
        roster.check_change(current, proposed, forged)
    assert refused.value.reason == "forged"
    roster.check_change(current, proposed, approvals(keys[0], keys[1]))
    # The same approvals do not carry over to a proposal that skips a version.
    skipping = Roster(BUILDING, 3, proposed.members, current.digest, 123)
    with pytest.raises(RosterError) as refused:
        roster.check_change(current, skipping, approvals(keys[0], keys[1]))
    assert refused.value.reason == "not_next"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 0}, "version must be an integer"),
        ({"members": []}, "members is a list of 1-64"),
        ({"surprise": 1}, "unknown ['surprise']"),
        ({"building": "no spaces"}, "building is 1-64"),
    ],
)
def test_bad_roster_documents_are_refused_with_the_reason(
    change: dict[str, object], message: str
) -> None:
    current, _ = _three()
    doc = {**current.document(), **change}
    with pytest.raises(RosterError, match=message.replace("[", r"\[")):
        roster.parse(doc)


def test_duplicate_members_and_bad_keys_are_refused() -> None:
    current, _ = _three()
    doc = current.document()
    members = doc["members"]
    assert isinstance(members, list)
    with pytest.raises(RosterError, match="share a flat"):
        roster.parse({**doc, "members": [members[0], {**members[1], "flat": "100"}]})
    bad_key = {**members[0], "key": "02" + "ff" * 32}
    with pytest.raises(RosterError, match="not a point"):
        roster.parse({**doc, "members": [bad_key]})


async def test_a_member_is_added_by_majority_and_joins_the_mesh(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        newcomer = make_flat(tmp_path / "newcomer", "401")
        await building.start()
        await building.produce(1.0)
        first = building.flats[0]
        member_file = tmp_path / "member.json"
        code, said = await _cli("member", "--config", str(newcomer.config))
        assert code == 0, said
        member_file.write_text(said)
        proposal = tmp_path / "proposal.json"
        code, said = await _cli(
            "propose",
            "--roster",
            str(first.directory / "roster.json"),
            "--add",
            str(member_file),
            "--effective-in",
            "10",
            "--out",
            str(proposal),
        )
        assert code == 0, said
        assert "2 of the 3 current members must approve" in said
        code, _ = await _cli("approve", str(proposal), "--config", str(first.config))
        assert code == 0
        code, said = await _cli("submit", str(proposal), "--config", str(first.config))
        assert code == 1
        assert "no_majority" in said
        code, _ = await _cli(
            "approve", str(proposal), "--config", str(building.flats[1].config)
        )
        assert code == 0
        code, said = await _cli("submit", str(proposal), "--config", str(first.config))
        assert code == 0, said
        # The newcomer starts with the new roster; members switch at the stated time.
        proposed = roster.parse(json.loads(proposal.read_text())["proposal"])
        assert proposed.members[-1] == member_of(newcomer)
        write_roster([newcomer], proposed)
        building.flats.append(newcomer)
        await building.start(newcomer)
        deadline = time.monotonic() + 30
        while True:
            statuses = [await building.status(flat) for flat in building.flats]
            if all(s["mesh"]["roster_version"] == 2 for s in statuses) and all(
                s["mesh"]["peers_online"] == 3 for s in statuses
            ):
                break
            assert time.monotonic() < deadline, [
                (s["mesh"]["roster_version"], s["mesh"]["peers_online"])
                for s in statuses
            ]
            await asyncio.sleep(0.3)
        await building.produce(1.0)
        heads = await building.converged()
        assert heads[newcomer.author.hex()][0] > 0
        assert len(heads) == 4
