"""Membership checked offline: exports carry the roster, import and verify use it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sidecar.ledger import canonical, etp
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster, approve, entry_body, save
from sidecar.storage import store
from sidecar.tools.export import export_lines
from sidecar.tools.ingest import Ingestor
from sidecar.tools.members import first_roster, load_chain
from sidecar.tools.verify import verify_database
from tests.sidecar.support import BUILDING, T0, Ledger, open_ledger


def _roster(*identities: Identity) -> Roster:
    members = tuple(
        Member(str(301 + n), "3", who.public_key, f"127.0.0.1:{9000 + n}")
        for n, who in enumerate(identities)
    )
    return Roster(BUILDING, 1, members)


def _cosign(witness: Identity, log: Identity, size: int, root: str) -> etp.Statement:
    body: JsonObject = {
        "v": 1,
        "kind": "cosign",
        "building": BUILDING,
        "ts": T0 + 70_000,
        "log": log.author.hex(),
        "size": size,
        "root": root,
    }
    return etp.make_statement(witness, body)


@pytest.fixture
def witnessed(ledger: Ledger) -> tuple[Ledger, Identity, Identity]:
    """A feed with a checkpoint cosigned by a member and by a stranger."""
    member, stranger = Identity.generate(), Identity.generate()
    now = ledger.flows(4, T0 + 10_000)
    ledger.feed.checkpoint(now)
    ledger.sync()
    conn = store.connect(ledger.path, readonly=True)
    try:
        body = next(iter(store.all_statements(conn)))[5]
    finally:
        conn.close()
    content = canonical.decode(body)
    size, root = content["size"], content["root"]
    assert isinstance(size, int)
    assert isinstance(root, str)
    for who in (member, stranger):
        number = _add_author(ledger, who)
        statement = _cosign(who, ledger.identity, size, root)
        ledger.writer.wait(ledger.writer.add_statement(number, 1, statement))
    ledger.sync()
    return ledger, member, stranger


def _add_author(ledger: Ledger, who: Identity) -> int:
    conn = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        return store.add_author(conn, who.public_key)
    finally:
        conn.close()


def test_an_export_carries_its_building_and_roster(
    witnessed: tuple[Ledger, Identity, Identity],
) -> None:
    ledger, member, _ = witnessed
    roster = _roster(ledger.identity, member)
    conn = store.connect(ledger.path, readonly=True)
    try:
        lines = [json.loads(line) for line in export_lines(conn, roster=roster)]
    finally:
        conn.close()
    assert lines[0] == {"type": "ledger", "format": 2, "building": BUILDING}
    assert lines[1] == {"type": "roster", "roster": roster.document()}
    kinds = [line["type"] for line in lines]
    # Statements follow every feed, so roster changes in any feed come first.
    assert kinds.index("cosign") > max(i for i, k in enumerate(kinds) if k == "entry")


def test_import_refuses_a_cosignature_by_a_non_member(
    witnessed: tuple[Ledger, Identity, Identity], tmp_path: Path
) -> None:
    ledger, member, stranger = witnessed
    conn = store.connect(ledger.path, readonly=True)
    try:
        lines = list(export_lines(conn, roster=_roster(ledger.identity, member)))
    finally:
        conn.close()
    other = open_ledger(tmp_path / "other.db", ledger.identity)
    reader = store.connect(other.path, readonly=True)
    try:
        ingestor = Ingestor(reader, other.writer)
        refused = [
            (json.loads(line).get("author"), reason)
            for line in lines
            if (reason := ingestor.line(line)) not in (None, "duplicate")
        ]
        ingestor.finish()
    finally:
        other.writer.close()
        reader.close()
    assert refused == [(stranger.author.hex(), "non_member")]


def test_verify_with_the_roster_names_a_non_member_witness(
    witnessed: tuple[Ledger, Identity, Identity], tmp_path: Path
) -> None:
    ledger, member, stranger = witnessed
    roster_file = tmp_path / "roster.json"
    save(_roster(ledger.identity, member), roster_file)
    assert verify_database(ledger.path).ok  # without a roster nobody can tell
    report = verify_database(ledger.path, first_roster(roster_file))
    assert [(f.code, f.author) for f in report.findings] == [
        ("non_member", stranger.author.hex())
    ]
    save(_roster(ledger.identity, member, stranger), roster_file)
    assert verify_database(ledger.path, first_roster(roster_file)).ok


def test_one_authors_export_holds_the_cosignatures_of_its_log(
    witnessed: tuple[Ledger, Identity, Identity], tmp_path: Path
) -> None:
    ledger, member, stranger = witnessed
    conn = store.connect(ledger.path, readonly=True)
    try:
        lines = [
            json.loads(line) for line in export_lines(conn, ledger.identity.author)
        ]
    finally:
        conn.close()
    keys = {line["key"] for line in lines if line["type"] == "author"}
    assert keys == {who.public_key.hex() for who in (ledger.identity, member, stranger)}
    signers = sorted(
        line["author"] for line in lines if line["type"] in ("checkpoint", "cosign")
    )
    assert signers == sorted(
        who.author.hex() for who in (ledger.identity, member, stranger)
    )
    # A witness's own export holds no cosignature it made of another log.
    conn = store.connect(ledger.path, readonly=True)
    try:
        theirs = [
            json.loads(line)["type"] for line in export_lines(conn, member.author)
        ]
    finally:
        conn.close()
    assert "cosign" not in theirs


def test_the_export_carries_the_roster_chain_to_a_new_members_cosignature(
    witnessed: tuple[Ledger, Identity, Identity], tmp_path: Path
) -> None:
    ledger, member, stranger = witnessed
    first = _roster(ledger.identity, member)
    # Version 2 admits the stranger from T0 + 20 s; the flat records it in its feed.
    proposed = Roster(
        BUILDING,
        2,
        (*first.members, Member("303", "3", stranger.public_key, "127.0.0.1:9002")),
        first.digest,
        T0 + 20_000,
    )
    approvals: list[JsonValue] = [
        approve(who, proposed) for who in (ledger.identity, member)
    ]
    ledger.feed.append("roster", entry_body(proposed, approvals), T0 + 15_000)
    ledger.sync()
    roster_file = tmp_path / "roster.json"
    save(first, roster_file)
    assert verify_database(ledger.path, load_chain(roster_file)).ok
    # The witness's own export has no roster entry, yet carries version 2.
    conn = store.connect(ledger.path, readonly=True)
    try:
        lines = list(export_lines(conn, member.author, roster=first))
        whole = list(export_lines(conn, roster=first))
    finally:
        conn.close()
    export_file = tmp_path / "member.jsonl"
    export_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [v.version for v in load_chain(export_file).versions] == [1, 2]
    other = open_ledger(tmp_path / "other.db", ledger.identity)
    reader = store.connect(other.path, readonly=True)
    try:
        ingestor = Ingestor(reader, other.writer)
        refused = {ingestor.line(line) for line in whole} - {None, "duplicate"}
        ingestor.finish()
    finally:
        other.writer.close()
        reader.close()
    assert refused == set()  # the stranger is a member when it cosigned
