"""``verify`` finds every kind of damage in a database, and says where it is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidecar.ledger import canonical, etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.tools.verify import Report, verify_database
from tests.sidecar.support import BUILDING, HOUR, T0, Ledger, flow_content


def _report(path: Path) -> Report:
    return verify_database(path)


def _codes(path: Path) -> set[str]:
    return {finding.code for finding in _report(path).findings}


def _write(path: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def _row(path: Path, seq: int) -> dict[str, object]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM entries WHERE seq = ?", (seq,)).fetchone()
        return dict(row)
    finally:
        conn.close()


@pytest.fixture
def filled(ledger: Ledger) -> Ledger:
    """Six flows with a checkpoint after them; durable."""
    now = ledger.flows(6, T0 + 10_000)
    ledger.feed.checkpoint(now)
    ledger.sync()
    return ledger


def test_a_healthy_ledger_verifies(filled: Ledger) -> None:
    report = _report(filled.path)
    assert report.ok, report.findings
    assert (report.authors, report.entries, report.statements) == (1, 6, 1)


@pytest.mark.parametrize("column", ["body", "sig", "id", "prev"])
def test_flipping_any_byte_of_a_stored_entry_is_found(
    filled: Ledger, column: str
) -> None:
    original = _row(filled.path, 3)[column]
    assert isinstance(original, bytes)
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0x04
        _write(
            filled.path,
            f"UPDATE entries SET {column} = ? WHERE seq = 3",
            bytes(damaged),
        )
        report = _report(filled.path)
        assert not report.ok, f"{column}[{index}] flipped unnoticed"
        assert any(f.where.startswith("seq 3") for f in report.findings), (
            report.findings
        )
    _write(filled.path, f"UPDATE entries SET {column} = ? WHERE seq = 3", original)
    assert _report(filled.path).ok


@pytest.mark.parametrize(
    ("sql", "codes"),
    [
        ("UPDATE entries SET seq = 9 WHERE seq = 3", {"bad_signature", "gap"}),
        ("UPDATE entries SET kind = 'rollup_1' WHERE seq = 3", {"bad_column"}),
        ("UPDATE entries SET refs = zeroblob(32) WHERE seq = 3", {"bad_signature"}),
        ("UPDATE entries SET author = 7 WHERE seq = 3", {"unknown_author", "gap"}),
        ("DELETE FROM entries WHERE seq = 3", {"gap"}),
        ("DELETE FROM entries WHERE seq = 6", {"gap"}),
        ("DELETE FROM authors", {"unknown_author"}),
        ("UPDATE authors SET key = zeroblob(33)", {"key_mismatch", "unknown_author"}),
        ("UPDATE authors SET id = zeroblob(32)", {"key_mismatch", "unknown_author"}),
        ("UPDATE statements SET size = 5", {"bad_column"}),
        ("UPDATE statements SET body = CAST(body || ' ' AS BLOB)", {"not_canonical"}),
        (
            "UPDATE meta SET value = 'elsewhere' WHERE key = 'building'",
            {"wrong_building"},
        ),
    ],
)
def test_each_kind_of_damage_is_named(
    filled: Ledger, sql: str, codes: set[str]
) -> None:
    _write(filled.path, sql)
    assert _codes(filled.path) >= codes


def _sign_in_place(ledger: Ledger, seq: int, **body_changes: object) -> etp.Entry:
    """Replace stored entry ``seq`` by a validly signed variant (what a key holder could
    do to rewrite history)."""
    row = _row(ledger.path, seq)
    body: JsonObject = {"v": 1, "kind": "flow", "building": BUILDING, "ts": T0 + 20_000}
    body.update(flow_content(T0 + 5_000))
    body.update(body_changes)
    prev = bytes(row["prev"])
    entry = etp.make_entry(ledger.identity, seq, prev, (), body)
    _write(
        ledger.path,
        "UPDATE entries SET id = ?, body = ?, sig = ? WHERE seq = ?",
        entry.id,
        entry.body,
        entry.sig,
        seq,
    )
    return entry


def test_a_rewritten_entry_breaks_the_chain_and_the_checkpoint(filled: Ledger) -> None:
    _sign_in_place(filled, 3)
    findings = {(f.code, f.where) for f in _report(filled.path).findings}
    assert ("broken_chain", "seq 4") in findings
    assert ("checkpoint_mismatch", "checkpoint of size 6") in findings


def test_an_entry_from_another_building_is_named(filled: Ledger) -> None:
    _sign_in_place(filled, 6, building="bldg-02")
    assert ("wrong_building", "seq 6") in {
        (f.code, f.where) for f in _report(filled.path).findings
    }


def test_time_running_backwards_is_named(filled: Ledger) -> None:
    _sign_in_place(filled, 6, ts=T0)
    assert "time_backwards" in _codes(filled.path)


def test_a_checkpoint_that_does_not_match_the_entries_is_named(filled: Ledger) -> None:
    body: JsonObject = {
        "v": 1,
        "kind": "checkpoint",
        "building": BUILDING,
        "ts": T0 + 60_000,
        "size": 4,
        "root": "ab" * 32,
    }
    statement = etp.make_statement(filled.identity, body)
    filled.writer.wait(filled.writer.add_statement(1, 1, statement))
    assert ("checkpoint_mismatch", "checkpoint of size 4") in {
        (f.code, f.where) for f in _report(filled.path).findings
    }


def test_two_roots_for_one_size_are_equivocation(filled: Ledger) -> None:
    for root in ("ab" * 32, "cd" * 32):
        body: JsonObject = {
            "v": 1,
            "kind": "checkpoint",
            "building": BUILDING,
            "ts": T0 + 60_000,
            "size": 40,
            "root": root,
        }
        filled.writer.wait(
            filled.writer.add_statement(1, 1, etp.make_statement(filled.identity, body))
        )
    findings = {(f.code, f.where) for f in _report(filled.path).findings}
    assert ("equivocation", "checkpoint of size 40") in findings
    assert ("gap", "checkpoint of size 40") in findings


def test_a_second_signed_entry_for_a_seq_is_kept_and_reported(filled: Ledger) -> None:
    row = _row(filled.path, 2)
    body: JsonObject = {"v": 1, "kind": "flow", "building": BUILDING, "ts": T0 + 11_000}
    body.update(flow_content(T0 + 10_000, pv=2000))
    twin = etp.make_entry(filled.identity, 2, bytes(row["prev"]), (), body)
    filled.writer.wait(filled.writer.add_conflict(1, twin))
    report = _report(filled.path)
    assert [f.code for f in report.findings] == ["equivocation"]
    assert report.findings[0].where == "seq 2"
    assert twin.id.hex()[:16] in report.findings[0].detail


def test_a_cosign_of_a_different_root_is_equivocation(filled: Ledger) -> None:
    witness = Identity.generate()
    conn = sqlite3.connect(filled.path, isolation_level=None)
    try:
        number = store.add_author(conn, witness.public_key)
    finally:
        conn.close()
    body: JsonObject = {
        "v": 1,
        "kind": "cosign",
        "building": BUILDING,
        "ts": T0 + 70_000,
        "log": filled.identity.author.hex(),
        "size": 6,
        "root": "ef" * 32,
    }
    filled.writer.wait(
        filled.writer.add_statement(number, 1, etp.make_statement(witness, body))
    )
    assert "equivocation" in _codes(filled.path)


def test_a_rollup_with_wrong_totals_is_named(ledger: Ledger) -> None:
    now = ledger.flows(5, T0 + HOUR - 4_000)
    ledger.flows(1, now)  # the next hour: the rollup comes first
    ledger.sync()
    conn = sqlite3.connect(ledger.path)
    rollup_seq = conn.execute(
        "SELECT seq FROM entries WHERE kind = 'rollup_1'"
    ).fetchone()[0]
    conn.close()
    assert _report(ledger.path).ok
    row = _row(ledger.path, rollup_seq)
    body = dict(etp.canonical.decode(bytes(row["body"])))
    body["unbalanced"] = 1
    entry = etp.make_entry(
        ledger.identity,
        rollup_seq,
        bytes(row["prev"]),
        store.split_refs(bytes(row["refs"])),
        body,
    )
    _write(
        ledger.path,
        "UPDATE entries SET id = ?, body = ?, sig = ? WHERE seq = ?",
        entry.id,
        entry.body,
        entry.sig,
        rollup_seq,
    )
    details = [
        f.detail for f in _report(ledger.path).findings if f.code == "rollup_mismatch"
    ]
    assert details == ["unbalanced do not match the entries it covers"]


def test_a_damaged_file_is_reported_not_crashed_on(filled: Ledger) -> None:
    filled.writer.close()
    conn = sqlite3.connect(filled.path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(filled.path.read_bytes())
    for offset in range(4096, len(data), 97):
        data[offset] ^= 0xFF
    filled.path.write_bytes(bytes(data))
    report = _report(filled.path)
    assert not report.ok


def test_an_unknown_kind_is_counted_in_rollups_and_must_stay(ledger: Ledger) -> None:
    now = ledger.flows(2, T0 + HOUR - 3_000)
    ledger.feed.append("token", {"note": "kept for ever"}, now)
    ledger.flows(1, T0 + HOUR + 500)
    ledger.sync()
    assert _report(ledger.path).ok
    _write(ledger.path, "DELETE FROM entries WHERE kind = 'token'")
    assert "rollup_mismatch" in _codes(ledger.path)
    assert kinds.foldable(1, "flow")
    assert not kinds.foldable(1, "token")


def test_a_rollup_that_leaves_entries_out_of_its_range_is_named(ledger: Ledger) -> None:
    ledger.flows(30, T0 + HOUR - 30 * 60_000, 60_000)
    ledger.flows(30, T0 + HOUR, 60_000)
    ledger.feed.roll(T0 + 2 * HOUR + 1)
    ledger.sync()
    conn = sqlite3.connect(ledger.path)
    seqs = [
        s for (s,) in conn.execute("SELECT seq FROM entries WHERE kind = 'rollup_1'")
    ]
    conn.close()
    row = _row(ledger.path, seqs[1])
    body = dict(etp.canonical.decode(bytes(row["body"])))
    body["first"] = body["first"] + 1  # one flow silently outside every rollup
    body["counts"] = {"flow": body["counts"]["flow"] - 1}
    lying = etp.make_entry(
        ledger.identity,
        seqs[1],
        bytes(row["prev"]),
        store.split_refs(bytes(row["refs"])),
        body,
    )
    _write(
        ledger.path,
        "UPDATE entries SET id = ?, body = ?, sig = ? WHERE seq = ?",
        lying.id,
        lying.body,
        lying.sig,
        seqs[1],
    )
    assert ("rollup_mismatch", f"seq {seqs[1]}") in {
        (f.code, f.where) for f in _report(ledger.path).findings
    }


def _statement(filled: Ledger, who: Identity, **content: object) -> None:
    conn = sqlite3.connect(filled.path, isolation_level=None)
    try:
        number = store.author_no(conn, who.author) or store.add_author(
            conn, who.public_key
        )
    finally:
        conn.close()
    body: JsonObject = {"v": 1, "building": BUILDING, "ts": T0 + 70_000}
    body.update(content)  # type: ignore[arg-type]
    filled.writer.wait(
        filled.writer.add_statement(number, 1, etp.make_statement(who, body))
    )


def test_a_cosign_that_contradicts_the_log_names_the_witness(filled: Ledger) -> None:
    witness = Identity.generate()
    log = filled.identity.author.hex()
    _statement(filled, witness, kind="cosign", log=log, size=3, root="ef" * 32)
    findings = [(f.code, f.author) for f in _report(filled.path).findings]
    assert findings == [("cosign_mismatch", witness.author.hex())]


def test_a_log_cosigned_by_its_own_author_is_named(filled: Ledger) -> None:
    log = filled.identity.author.hex()
    conn = sqlite3.connect(filled.path)
    root = conn.execute("SELECT body FROM statements").fetchone()[0]
    conn.close()
    head = canonical.decode(bytes(root))
    _statement(
        filled,
        filled.identity,
        kind="cosign",
        log=log,
        size=head["size"],
        root=head["root"],
    )
    assert [f.code for f in _report(filled.path).findings] == ["self_cosign"]


def test_a_witnessed_head_that_contradicts_the_log_is_named(filled: Ledger) -> None:
    log = filled.identity.author.hex()
    now = T0 + 80_000
    filled.feed.append(
        "witnessed", {"logs": [{"log": log, "size": 2, "root": "ab" * 32}]}, now
    )
    filled.sync()
    assert [f.code for f in _report(filled.path).findings] == ["witnessed_mismatch"]
