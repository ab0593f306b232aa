"""Hourly rollups state the battery's last SoC; the verifier checks it when stated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidecar.ledger import canonical, etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.storage import store
from sidecar.tools.verify import verify_database
from tests.sidecar.support import HOUR, T0, Ledger, flow_content


def _hour_with_socs(ledger: Ledger, *socs: int | None) -> int:
    """Flows in the first hour stating ``socs``, one in the next; the rollup's seq."""
    now = T0 + HOUR - 10_000
    for soc in socs:
        body = flow_content(now - 1000)
        if soc is not None:
            body["soc"] = soc
        ledger.feed.append(kinds.FLOW, body, now)
        now += 1000
    ledger.feed.append(kinds.FLOW, flow_content(T0 + HOUR), T0 + HOUR + 1000)
    ledger.sync()
    conn = sqlite3.connect(ledger.path)
    try:
        seq: int = conn.execute(
            "SELECT seq FROM entries WHERE kind = 'rollup_1'"
        ).fetchone()[0]
    finally:
        conn.close()
    return seq


def _rollup(path: Path, seq: int) -> tuple[JsonObject, sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM entries WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    return dict(canonical.decode(bytes(row["body"]))), row


def _resign(ledger: Ledger, seq: int, body: JsonObject, row: sqlite3.Row) -> None:
    entry = etp.make_entry(
        ledger.identity,
        seq,
        bytes(row["prev"]),
        store.split_refs(bytes(row["refs"])),
        body,
    )
    ledger.sync()
    ledger.writer.close()
    conn = sqlite3.connect(ledger.path)
    try:
        conn.execute(
            "UPDATE entries SET id = ?, body = ?, sig = ? WHERE seq = ?",
            (entry.id, entry.body, entry.sig, seq),
        )
        conn.commit()
    finally:
        conn.close()


def _mismatches(path: Path) -> list[str]:
    report = verify_database(path)
    return [f.detail for f in report.findings if f.code == "rollup_mismatch"]


def test_the_rollup_states_the_last_soc_of_its_flows(ledger: Ledger) -> None:
    seq = _hour_with_socs(ledger, 540_000, None, 530_000, None)
    body, _row = _rollup(ledger.path, seq)
    assert body["soc"] == 530_000
    assert verify_database(ledger.path).ok


def test_a_rollup_without_soc_flows_states_none(ledger: Ledger) -> None:
    seq = _hour_with_socs(ledger, None, None)
    body, _row = _rollup(ledger.path, seq)
    assert "soc" not in body
    assert verify_database(ledger.path).ok


def test_a_wrong_soc_is_named_and_a_missing_one_is_not(ledger: Ledger) -> None:
    seq = _hour_with_socs(ledger, 540_000, 530_000)
    body, row = _rollup(ledger.path, seq)
    body["soc"] = 900_000
    _resign(ledger, seq, body, row)
    assert _mismatches(ledger.path) == ["soc do not match the entries it covers"]
    del body["soc"]  # as a node of the earlier release wrote it
    _resign(ledger, seq, body, row)
    assert _mismatches(ledger.path) == []


def test_a_soc_out_of_range_is_refused_by_the_schema() -> None:
    body: JsonObject = {
        "v": 1,
        "kind": "rollup",
        "building": "bldg-01",
        "ts": T0 + HOUR + 200,
        "level": 1,
        "start": T0,
        "end": T0 + HOUR,
        "first": 1,
        "last": 1,
        "root": "00" * 32,
        "counts": {"flow": 1},
        "totals": [],
        "unbalanced": 0,
        "flows_start": T0,
        "flows_end": T0 + 1000,
        "soc": kinds.PPM + 1,
    }
    with pytest.raises(BodyError) as refused:
        kinds.check_entry_body(body, 2, 0)
    assert refused.value.reason == "bad_member"
    assert "soc" in str(refused.value)
