"""A passport needs a checkpoint that a majority of the building's members signed."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from devkit.battery_life import contents
from sidecar.apps.battery.passport import PassportError, build
from sidecar.apps.battery.passport_check import check
from sidecar.ledger import etp, kinds
from sidecar.ledger.etp import Statement
from sidecar.ledger.identity import Identity
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
