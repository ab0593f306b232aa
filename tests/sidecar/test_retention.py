"""Rollups at hour and day boundaries, and retention that keeps history verifiable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidecar.ledger import canonical
from sidecar.ledger.canonical import JsonObject
from sidecar.storage import retention, store
from sidecar.tools.verify import verify_database
from tests.sidecar.support import DAY, HOUR, T0, Ledger

MINUTE = 60_000
POLICY = retention.Policy(flows_ms=4 * HOUR, hourly_ms=35 * DAY)


def _rollups(path: Path, key: str) -> list[tuple[int, JsonObject]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT seq, body FROM entries WHERE kind = ? ORDER BY seq", (key,)
        ).fetchall()
    finally:
        conn.close()
    return [(seq, canonical.decode(bytes(body))) for seq, body in rows]


def _count(path: Path, where: str = "1") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute(f"SELECT count(*) FROM entries WHERE {where}").fetchone()[0]
        )
    finally:
        conn.close()


def _prune(
    ledger: Ledger, now: int, policy: retention.Policy = POLICY
) -> retention.Pruning:
    ledger.sync()
    return ledger.writer.call(lambda conn: retention.prune(conn, now, policy)).result()


def _assert_ok(path: Path) -> None:
    report = verify_database(path)
    assert report.ok, [str(f) for f in report.findings]


def test_rollups_sum_their_hour_and_day(ledger: Ledger) -> None:
    # One flow a minute from 22:00 on day 0 to 02:00 on day 1.
    ledger.flows(4 * 60, T0 - 2 * HOUR + MINUTE, MINUTE)
    ledger.feed.roll(T0 + 2 * HOUR + 5)
    ledger.sync()
    hourly = _rollups(ledger.path, "rollup_1")
    daily = _rollups(ledger.path, "rollup_2")
    assert [body["start"] for _, body in hourly] == [
        T0 - 2 * HOUR,
        T0 - HOUR,
        T0,
        T0 + HOUR,
    ]
    assert [(body["start"], body["end"]) for _, body in daily] == [(T0 - DAY, T0)]
    # 22:01-22:59, then whole hours (the flow at 02:00 opens the next one); the
    # daily rollup written at midnight lies in the first hour of the new day.
    assert [body["counts"] for _, body in hourly] == [
        {"flow": 59},
        {"flow": 60},
        {"flow": 60, "rollup_2": 1},
        {"flow": 60},
    ]
    pv = [t for t in hourly[0][1]["totals"] if t["from"] == "pv" and t["to"] == "home"]
    assert pv == [{"from": "pv", "to": "home", "mwh": 59 * 319, "ren_mwh": 59 * 319}]
    # The daily rollup sums the two hourly rollups before midnight.
    assert daily[0][1]["counts"] == {"flow": 119, "rollup_1": 2}
    assert daily[0][1]["first"] == 1
    _assert_ok(ledger.path)


def test_an_idle_feed_writes_no_rollups(ledger: Ledger) -> None:
    ledger.flows(3, T0 + MINUTE, MINUTE)
    assert len(ledger.feed.roll(T0 + HOUR + 1)) == 1
    written = {hour: ledger.feed.roll(T0 + hour * HOUR + 1) for hour in range(2, 60)}
    # Only the day's rollup follows, at midnight; then the feed stays quiet.
    assert {hour: len(tickets) for hour, tickets in written.items() if tickets} == {
        24: 1
    }
    ledger.sync()
    assert _count(ledger.path, "kind = 'rollup_1'") == 1
    assert _count(ledger.path, "kind = 'rollup_2'") == 1


def test_a_restart_mid_hour_keeps_the_rollup_exact(ledger: Ledger) -> None:
    now = ledger.flows(30, T0 + MINUTE, MINUTE)
    ledger.reopen()
    ledger.flows(40, now, MINUTE)
    ledger.reopen()
    ledger.feed.roll(T0 + 3 * HOUR)
    ledger.sync()
    counts = [body["counts"] for _, body in _rollups(ledger.path, "rollup_1")]
    assert counts == [{"flow": 59}, {"flow": 11}]
    _assert_ok(ledger.path)


def test_retention_prunes_flows_and_history_still_verifies(ledger: Ledger) -> None:
    end = ledger.flows(10 * 60, T0 + MINUTE, MINUTE)  # 00:01 to 10:00
    ledger.feed.checkpoint(end)
    ledger.sync()
    before = _count(ledger.path)
    pruned = _prune(ledger, end)
    # The rollups of hours 0-5 ended at least 4 h before 10:01: 59 + 5 * 60 flows go.
    assert pruned.entries == 359
    assert _count(ledger.path) == before - 359
    assert _count(ledger.path, "kind = 'flow'") == 600 - 359
    state = store.pruned(store.connect(ledger.path, readonly=True), 1)
    hourly = _rollups(ledger.path, "rollup_1")
    assert state.frontier.size == hourly[5][0] - 1
    assert state.frontier.root().hex() == hourly[5][1]["root"]
    _assert_ok(ledger.path)
    # Pruning again changes nothing; appending and restarting keeps it verifiable.
    assert _prune(ledger, end).entries == 0
    ledger.reopen()
    ledger.flows(90, end, MINUTE)
    ledger.sync()
    _assert_ok(ledger.path)


def test_old_hourly_rollups_fold_into_daily_ones(ledger: Ledger) -> None:
    end = ledger.flows(3 * 24 * 6, T0 + MINUTE, 10 * MINUTE)  # three days, every 10 min
    ledger.feed.roll(end + DAY)
    policy = retention.Policy(flows_ms=HOUR, hourly_ms=DAY + HOUR)
    pruned = _prune(ledger, end + 3 * DAY, policy)
    assert pruned.entries > 3 * 24 * 6
    remaining = {key for (key,) in _kinds(ledger.path)}
    assert remaining == {"rollup_1", "rollup_2"}
    daily = _rollups(ledger.path, "rollup_2")
    assert len(daily) == 3
    assert sum(body["counts"]["flow"] for _, body in daily) == 3 * 24 * 6
    # Days 0 and 1 are now one rollup each; the newest day keeps its hourly rollups,
    # the last of which anchors the frontier.
    assert _count(ledger.path, "kind = 'rollup_1'") == 24
    _assert_ok(ledger.path)
    # Deleting a daily rollup, the only record of its day, is found.
    conn = sqlite3.connect(ledger.path, isolation_level=None)
    conn.execute("DELETE FROM entries WHERE seq = ?", (daily[1][0],))
    conn.close()
    assert "gap" in {f.code for f in verify_database(ledger.path).findings}


def _kinds(path: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT DISTINCT kind FROM entries").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("UPDATE frontiers SET nodes = zeroblob(length(nodes))", "bad_frontier"),
        ("UPDATE frontiers SET size = size + 1", "gap"),
        (
            "DELETE FROM entries WHERE kind = 'flow' "
            "AND seq = (SELECT max(seq) - 3 FROM entries)",
            "gap",
        ),
        ("DELETE FROM entries WHERE kind = 'rollup_1'", "gap"),
    ],
)
def test_tampering_with_pruned_history_is_found(
    ledger: Ledger, sql: str, code: str
) -> None:
    end = ledger.flows(8 * 60, T0 + MINUTE, MINUTE)
    _prune(ledger, end)
    _assert_ok(ledger.path)
    conn = sqlite3.connect(ledger.path, isolation_level=None)
    conn.execute(sql)
    conn.close()
    assert code in {f.code for f in verify_database(ledger.path).findings}


def test_retention_refuses_a_feed_that_does_not_match_its_rollups(
    ledger: Ledger,
) -> None:
    end = ledger.flows(8 * 60, T0 + MINUTE, MINUTE)
    ledger.sync()
    conn = sqlite3.connect(ledger.path, isolation_level=None)
    conn.execute("UPDATE entries SET id = zeroblob(32) WHERE seq = 5")
    conn.close()
    before = _count(ledger.path)
    with pytest.raises(retention.RetentionError, match="does not match the root"):
        _prune(ledger, end)
    assert _count(ledger.path) == before
