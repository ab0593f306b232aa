"""A passport needs a checkpoint that a majority of the building's members signed."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from devkit.battery_life import contents
from sidecar.apps.battery.passport import PassportError, build, signing_bytes
from sidecar.apps.battery.passport_check import check
from sidecar.cli import main
from sidecar.ledger import etp, kinds
from sidecar.ledger.etp import Statement
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster, save
from sidecar.storage import store
from tests.sidecar.support import BUILDING, Ledger, open_ledger

TZ = "Asia/Tokyo"


def _cosign(witness: Identity, checkpoint: Statement) -> Statement:
    content = checkpoint.content
    return etp.make_statement(
        witness,
        {
            "v": kinds.VERSION,
            "kind": kinds.COSIGN,
            "building": BUILDING,
            "ts": content["ts"],
            "log": checkpoint.author.hex(),
            "size": content["size"],
            "root": content["root"],
        },
    )


def _passport(ledger: Ledger) -> dict[str, Any]:
    conn = store.connect(ledger.path, readonly=True)
    try:
        return build(
            conn,
            ledger.identity,
            tz=TZ,
            place=(BUILDING, "3", "301"),
            period=(None, None),
            serial=None,
            now_ms=0,
        )
    finally:
        conn.close()


def test_a_passport_waits_for_a_majority_of_three_and_names_its_cosigner(
    tmp_path: Path,
) -> None:
    ledger = open_ledger(tmp_path / "ledger.db")
    others = [Identity.generate(), Identity.generate()]
    try:
        numbers = ledger.writer.call(
            partial(store.add_authors, keys=[o.public_key for o in others])
        ).result(timeout=30)
        now = 0
        for now, kind, content in contents(3, place=("3", "301")):
            ledger.feed.append(kind, content, now)
        checkpoint, _ = ledger.feed.checkpoint(now + 1)
        ledger.sync()
        with pytest.raises(PassportError, match="at most 1 of 2 needed"):
            _passport(ledger)
        # One member cosigns; a statement stored as the other's but signed by a
        # stranger does not count.
        ledger.writer.add_statement(
            numbers[0], ledger.feed.author_no, _cosign(others[0], checkpoint)
        )
        ledger.writer.add_statement(
            numbers[1], ledger.feed.author_no, _cosign(Identity.generate(), checkpoint)
        )
        ledger.sync()
        document = _passport(ledger)
    finally:
        ledger.writer.close()
    passport = document["passport"]
    assert isinstance(passport, dict)
    cosigners = [c["author"] for c in passport["cosignatures"]]
    assert cosigners == [others[0].author.hex()]
    assert len(passport["members"]) == 3
    assert check(document) == []


def test_a_passport_listing_an_invented_member_fails_against_the_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = open_ledger(tmp_path / "ledger.db")
    others = [Identity.generate(), Identity.generate()]
    try:
        ledger.writer.call(
            partial(store.add_authors, keys=[o.public_key for o in others])
        ).result(timeout=30)
        now = 0
        for now, kind, content in contents(3, place=("3", "301")):
            ledger.feed.append(kind, content, now)
        checkpoint, _ = ledger.feed.checkpoint(now + 1)
        ledger.sync()
        number = store_number(ledger, others[0])
        ledger.writer.add_statement(
            number, ledger.feed.author_no, _cosign(others[0], checkpoint)
        )
        ledger.sync()
        document = _passport(ledger)
    finally:
        ledger.writer.close()
    honest = json.dumps(document)
    # The flat invents a member, has it cosign, lists only itself and the invention
    # and signs the passport again: two of two listed members.
    invented = Identity.generate()
    passport = document["passport"]
    passport["cosignatures"] = [etp.statement_to_wire(_cosign(invented, checkpoint))]
    passport["members"] = [ledger.identity.public_key.hex(), invented.public_key.hex()]
    passport.pop("roster", None)
    document["signature"] = ledger.identity.sign(signing_bytes(passport)).hex()
    assert check(document) == []
    roster = Roster(
        BUILDING,
        1,
        tuple(
            Member(flat, "3", who.public_key, f"127.0.0.1:{port}")
            for flat, who, port in (
                ("301", ledger.identity, 7001),
                ("302", others[0], 7002),
                ("303", others[1], 7003),
            )
        ),
    )
    roster_path = tmp_path / "roster.json"
    save(roster, roster_path)
    passport_path = tmp_path / "passport.json"
    passport_path.write_text(json.dumps(document), encoding="utf-8")
    assert main(["battery-passport", "--check", str(passport_path)]) == 0
    assert "membership was taken from the passport itself" in capsys.readouterr().out
    honest_path = tmp_path / "honest.json"
    honest_path.write_text(honest, encoding="utf-8")
    assert (
        main(
            [
                "battery-passport",
                "--check",
                str(honest_path),
                "--roster",
                str(roster_path),
            ]
        )
        == 0
    )
    assert "signed by 2 of 3 members of roster version 1" in capsys.readouterr().out
    code = main(
        [
            "battery-passport",
            "--check",
            str(passport_path),
            "--roster",
            str(roster_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"cosignature by a non-member {invented.author.hex()[:16]}" in out
    assert "signed by 1 of 3 members of roster version 1; 2 make a majority" in out


def store_number(ledger: Ledger, who: Identity) -> int:
    """The author number the ledger gave ``who``."""
    conn = store.connect(ledger.path, readonly=True)
    try:
        number = store.author_no(conn, who.author)
    finally:
        conn.close()
    assert number is not None
    return number
