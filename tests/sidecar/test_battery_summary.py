"""Daily battery summaries: a battery's life outlives the flows retention deletes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.battery_life import Injection, contents
from sidecar.apps.battery.daily import due
from sidecar.apps.battery.passport import build, signing_bytes
from sidecar.apps.battery.passport_check import check
from sidecar.apps.battery.tracker import Tracker, recompute
from sidecar.ledger import etp, kinds
from sidecar.ledger.battery_day import BATTERY_DAY, check_body
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.storage import battery_reads, retention, store
from simulator.physics.battery import Degradation
from tests.sidecar.support import BUILDING, Ledger, open_ledger

TZ = "Asia/Tokyo"
DAYS = 20
HOUR = 3_600_000
DAY = 24 * HOUR


def _fill(ledger: Ledger, days: int, injection: Injection | None) -> int:
    """Append a simulated life and the summaries the node writes; the last time."""
    tracker = Tracker(TZ)
    asked: set[tuple[str, int]] = set()
    now = 0
    for now, kind, content in contents(days, injection=injection, place=("3", "301")):
        entry, _ = ledger.feed.append(kind, content, now)
        tracker.add(entry)
        for body, refs in due(tracker, asked):
            end = body["end"]
            assert isinstance(end, int)
            summary, _ = ledger.feed.append(BATTERY_DAY, body, max(now, end), refs)
            tracker.add(summary)
    ledger.sync()
    return now


def _report(path: Path, *, summaries: bool = True) -> Any:
    conn = store.connect(path, readonly=True)
    try:
        entries = [
            e
            for e in battery_reads.entries(conn, 1)
            if summaries or e.kind != BATTERY_DAY
        ]
    finally:
        conn.close()
    (report,) = recompute(entries, TZ).reports()
    return report


def _passport(ledger: Ledger, now: int) -> dict[str, Any]:
    conn = store.connect(ledger.path, readonly=True)
    try:
        return build(
            conn,
            ledger.identity,
            tz=TZ,
            place=(BUILDING, "3", "301"),
            period=(None, None),
            serial=None,
            now_ms=now,
        )
    finally:
        conn.close()


def _count(path: Path, kind: str) -> int:
    conn = store.connect(path, readonly=True)
    try:
        (n,) = conn.execute(
            "SELECT count(*) FROM entries WHERE kind = ?", (kind,)
        ).fetchone()
    finally:
        conn.close()
    return int(n)


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ledger, int]]:
    """Twenty days of flat 301, its efficiency falling from day 9, with summaries."""
    ledger = open_ledger(tmp_path_factory.mktemp("summary") / "ledger.db")
    try:
        injection = Injection(9, Degradation(efficiency_loss_pct=3.0))
        now = _fill(ledger, DAYS, injection)
        ledger.feed.checkpoint(now + 1)
        ledger.sync()
        yield ledger, now
    finally:
        # The writer's thread would keep the test process from exiting.
        ledger.writer.close()


def test_summaries_state_what_the_flows_say(life: tuple[Ledger, int]) -> None:
    ledger, _ = life
    assert _count(ledger.path, BATTERY_DAY) == DAYS - 1
    with_summaries = _report(ledger.path)
    from_flows = _report(ledger.path, summaries=False)
    assert with_summaries.lifetime == from_flows.lifetime
    assert with_summaries.recent == from_flows.recent
    assert with_summaries.initial_capacity_mwh == from_flows.initial_capacity_mwh
    assert [(a.kind, a.day_start) for a in with_summaries.anomalies] == [
        (a.kind, a.day_start) for a in from_flows.anomalies
    ]


def test_a_pruned_ledger_keeps_the_lifetime_figures_and_passport(
    life: tuple[Ledger, int],
) -> None:
    ledger, now = life
    before = _report(ledger.path)
    passport_before = _passport(ledger, now)
    flows_before = _count(ledger.path, kinds.FLOW)
    policy = retention.Policy(flows_ms=HOUR, hourly_ms=2 * DAY)
    pruned = ledger.writer.call(
        lambda conn: retention.prune(conn, now + 2 * HOUR, policy)
    ).result(timeout=60)
    flows_after = _count(ledger.path, kinds.FLOW)
    # Every day but the last one's flows are gone (the newest summary holds the
    # frontier back so it stays provable).
    assert pruned.entries > 0
    assert flows_after < flows_before * 2 // DAYS
    after = _report(ledger.path)
    # From the flows alone (as before summaries), the pruned days would be lost.
    assert _report(ledger.path, summaries=False).days <= 1
    assert after == before
    assert after.days == DAYS - 1
    assert {a.kind for a in after.anomalies} == {"efficiency_falling"}
    document = _passport(ledger, now)
    assert document["passport"]["battery"] == passport_before["passport"]["battery"]
    assert check(document) == []
    chained = [e for e in document["passport"]["evidence"] if "path" not in e]
    assert len(chained) >= DAYS - 3


def test_a_broken_summary_chain_is_named(life: tuple[Ledger, int]) -> None:
    ledger, now = life
    document = _passport(ledger, now)
    passport = document["passport"]
    evidence = passport["evidence"]
    proven_days = [
        i
        for i, e in enumerate(evidence)
        if "path" in e and etp.entry_from_wire(e["entry"]).kind == BATTERY_DAY
    ]
    assert proven_days
    altered = copy.deepcopy(document)
    del altered["passport"]["evidence"][proven_days[-1]]
    altered["signature"] = ledger.identity.sign(
        signing_bytes(altered["passport"])
    ).hex()
    faults = check(altered)
    assert any("no proven newer battery_day refers to" in f for f in faults)


def _body(**changes: Any) -> JsonObject:
    body: JsonObject = {
        "v": 1,
        "kind": BATTERY_DAY,
        "building": BUILDING,
        "ts": 2 * DAY,
        "start": 0,
        "end": DAY,
        "first_seq": 1,
        "soc_step": 1000,
        "charged": 0,
        "discharged": 0,
        "estimated_in": 0,
        "estimated_out": 0,
        "up_swing": 0,
        "up_energy": 0,
        "ups": 0,
        "down_swing": 0,
        "down_energy": 0,
        "downs": 0,
        "rest_drop": -5,
        "rest_soc_ms": 0,
        "rest_ms": 0,
        "rests": 0,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"end": 0}, "bad_member"),
        ({"ts": DAY - 1}, "bad_member"),
        ({"charged": -1}, "bad_member"),
        ({"ups": None}, "missing_member"),
        ({"soc_min": 5}, "missing_member"),
        ({"soc_min": 9, "soc_max": 5}, "bad_member"),
        ({"extra": 1}, "unknown_member"),
    ],
)
def test_the_schema_refuses_a_bad_summary(changes: dict[str, Any], reason: str) -> None:
    check_body(_body(), 1)
    with pytest.raises(BodyError) as caught:
        check_body(_body(**changes), 0)
    assert caught.value.reason == reason
    with pytest.raises(BodyError):
        check_body(_body(), 2)
