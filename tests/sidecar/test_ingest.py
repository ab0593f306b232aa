"""Exchange format: export, and verify-then-store of every line from elsewhere."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import retention, store
from sidecar.tools.export import export_lines
from sidecar.tools.ingest import Ingestor
from sidecar.tools.verify import verify_database
from tests.sidecar.support import (
    BUILDING,
    DAY,
    HOUR,
    T0,
    Ledger,
    flow_content,
    open_ledger,
)


def _export(ledger: Ledger) -> list[str]:
    ledger.sync()
    conn = store.connect(ledger.path, readonly=True)
    try:
        return list(export_lines(conn))
    finally:
        conn.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[Ledger, Ingestor]]:
    other = open_ledger(tmp_path / "target.db")
    conn = store.connect(other.path, readonly=True)
    try:
        yield other, Ingestor(conn, other.writer)
    finally:
        other.writer.close()
        conn.close()


def _take(ingestor: Ingestor, lines: list[str]) -> list[str | None]:
    results = [ingestor.line(line) for line in lines]
    ingestor.finish()
    return results


def test_an_exported_feed_imports_and_verifies(
    ledger: Ledger, target: tuple[Ledger, Ingestor]
) -> None:
    end = ledger.flows(3 * 60, T0 + 60_000, 60_000)
    ledger.feed.checkpoint(end)
    lines = _export(ledger)
    other, ingestor = target
    assert _take(ingestor, lines) == [None] * len(lines)
    report = verify_database(other.path)
    assert report.ok, report.findings
    assert report.entries == 3 * 60 + 3  # the flows and three hourly rollups
    assert _take(ingestor, lines[2:4]) == ["duplicate", "duplicate"]


def test_a_pruned_feed_travels_with_its_frontier(
    ledger: Ledger, target: tuple[Ledger, Ingestor]
) -> None:
    end = ledger.flows(2 * 24 * 6, T0 + 600_000, 600_000)
    ledger.feed.roll(end + DAY)
    ledger.sync()
    policy = retention.Policy(flows_ms=HOUR, hourly_ms=DAY + HOUR)
    ledger.writer.call(
        lambda conn: retention.prune(conn, end + 3 * DAY, policy)
    ).result()
    lines = _export(ledger)
    assert json.loads(lines[2])["type"] == "frontier"
    other, ingestor = target
    assert set(_take(ingestor, lines)) == {None}
    report = verify_database(other.path)
    assert report.ok, report.findings


def _signed(key: Identity, seq: int, prev: bytes, **changes: object) -> JsonObject:
    body: JsonObject = {"v": 1, "kind": "flow", "building": BUILDING, "ts": T0 + seq}
    body.update(flow_content(T0 + seq * 1000))
    body.update(changes)  # type: ignore[arg-type]
    return etp.entry_to_wire(etp.make_entry(key, seq, prev, (), body))


def test_every_bad_line_is_refused_with_its_reason(
    ledger: Ledger, target: tuple[Ledger, Ingestor]
) -> None:
    ledger.flows(3, T0 + 1000)
    lines = _export(ledger)
    _header, author_line, first, second, third = lines
    entries = [json.loads(line) for line in (first, second, third)]
    other, ingestor = target
    key = ledger.identity
    forged = dict(entries[1], sig=entries[0]["sig"])
    stranger = Identity.generate()
    cases: list[tuple[object, str]] = [
        ("not json", "malformed"),
        ("[1]", "malformed"),
        ({"type": "gossip"}, "unknown_type"),
        ({"type": "author", "key": "zz"}, "bad_key"),
        (entries[0], "unknown_author"),
        (author_line, ""),
        (entries[1], "gap"),
        (dict(entries[0], body={**entries[0]["body"], "mhz": 1.5}), "bad_member"),
        (_signed(key, 1, etp.ZERO_ID, building="bldg-02"), "wrong_building"),
        (_signed(stranger, 1, etp.ZERO_ID), "unknown_author"),
        (entries[0], ""),
        (forged, "bad_signature"),
        (_signed(key, 2, b"\x07" * 32), "broken_chain"),
        (entries[1], ""),
        (entries[1], "duplicate"),
        (_signed(key, 2, bytes.fromhex(entries[0]["id"])), "equivocation"),
        (
            {"type": "frontier", "author": key.author.hex(), "size": 1, "nodes": []},
            "malformed",
        ),
    ]
    for line, reason in cases:
        text = line if isinstance(line, str) else json.dumps(line)
        assert ingestor.line(text) == (reason or None), (line, reason)
    ingestor.finish()
    findings = verify_database(other.path).findings
    assert [(f.code, f.where) for f in findings] == [("equivocation", "seq 2")]


def _pruned_export(ledger: Ledger) -> list[str]:
    end = ledger.flows(2 * 24 * 6, T0 + 600_000, 600_000)
    ledger.feed.roll(end + DAY)
    ledger.sync()
    policy = retention.Policy(flows_ms=HOUR, hourly_ms=DAY + HOUR)
    ledger.writer.call(
        lambda conn: retention.prune(conn, end + 3 * DAY, policy)
    ).result()
    return _export(ledger)


def test_a_frontier_that_its_anchor_rollup_does_not_sign_is_refused(
    ledger: Ledger, target: tuple[Ledger, Ingestor]
) -> None:
    lines = _pruned_export(ledger)
    frontier = json.loads(lines[2])
    assert frontier["type"] == "frontier"
    frontier["nodes"][0] = "00" * 32
    lines[2] = json.dumps(frontier)
    other, ingestor = target
    results = _take(ingestor, lines)
    assert results[2] == "bad_frontier"
    assert None not in results[3:]  # nothing of the feed is placed on a false past
    conn = store.connect(other.path, readonly=True)
    try:
        assert store.pruned(conn, 2).frontier.size == 0
    finally:
        conn.close()
    assert verify_database(other.path).ok


def test_verify_names_a_stored_frontier_its_anchor_does_not_sign(
    ledger: Ledger,
) -> None:
    _pruned_export(ledger)
    assert verify_database(ledger.path).ok
    conn = sqlite3.connect(ledger.path, isolation_level=None)
    conn.execute("UPDATE frontiers SET nodes = zeroblob(length(nodes))")
    conn.close()
    codes = [f.code for f in verify_database(ledger.path).findings]
    assert codes == ["bad_frontier"]


def _import(ingestor: Ingestor, lines: list[str]) -> set[str | None]:
    return set(_take(ingestor, lines))


@pytest.mark.parametrize("order", ["a_first", "b_first"])
def test_several_nodes_exports_merge_in_any_order(
    ledger: Ledger, tmp_path: Path, order: str
) -> None:
    ledger.flows(5, T0 + 1000)
    from_a = _export(ledger)
    b = open_ledger(tmp_path / "b.db")
    try:
        reader = store.connect(b.path, readonly=True)
        try:
            assert _import(Ingestor(reader, b.writer), from_a) <= {None}
        finally:
            reader.close()
        ledger.flows(3, T0 + 6000)  # A went on after B copied it
        b.flows(4, T0 + 1000)
        from_a, from_b = _export(ledger), _export(b)
    finally:
        b.writer.close()
    target = open_ledger(tmp_path / "target.db")
    reader = store.connect(target.path, readonly=True)
    try:
        ingestor = Ingestor(reader, target.writer)
        files = [from_a, from_b] if order == "a_first" else [from_b, from_a]
        for lines in files:
            assert _import(ingestor, lines) <= {None, "duplicate"}
    finally:
        target.writer.close()
        reader.close()
    report = verify_database(target.path)
    assert report.ok, report.findings
    assert report.entries == 8 + 4
