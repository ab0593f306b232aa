"""Flows by quality: the running tally and the ``status`` summary of a database."""

from __future__ import annotations

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.quality import QualityTally
from sidecar.storage import store
from sidecar.tools.status import summarize
from tests.sidecar.support import T0, Ledger, flow_content

# T0 is 09:00 in Tokyo: the building's day starts at 15:00 UTC.
TOKYO_MIDNIGHT = T0 + 15 * 3_600_000


def _flow(
    start: int, quality: str | None = None, since: int | None = None
) -> JsonObject:
    body: JsonObject = dict(flow_content(start))
    if quality is not None:
        body["quality"] = quality
    if since is not None:
        body["reconciles"] = since
    return body


def test_the_tally_counts_a_building_day_and_the_open_estimate() -> None:
    tally = QualityTally()
    tally.note(_flow(T0))
    tally.note(_flow(T0 + 1000, "estimated"))
    tally.note(_flow(T0 + 2000, "estimated"))
    report = tally.report()
    assert (report.day, report.measured, report.estimated) == ("2026-06-20", 1, 2)
    assert report.estimating_since == T0 + 1000
    tally.note(_flow(T0 + 3000, "reconciled", T0 + 1000))
    report = tally.report()
    assert (report.reconciled, report.estimating_since) == (1, None)
    # The next building day starts afresh.
    tally.note(_flow(TOKYO_MIDNIGHT, "estimated"))
    report = tally.report()
    assert report.day == "2026-06-21"
    assert (report.measured, report.estimated, report.reconciled) == (0, 1, 0)


def test_status_counts_the_stored_flows_by_day_and_quality(ledger: Ledger) -> None:
    now = T0 + 1000
    for start, quality, since in (
        (T0, None, None),
        (T0 + 1000, "estimated", None),
        (T0 + 2000, "reconciled", T0 + 1000),
        (TOKYO_MIDNIGHT, "estimated", None),
    ):
        now = max(now, start + 1000)
        ledger.feed.append(kinds.FLOW, _flow(start, quality, since), now)
    ledger.sync()
    conn = store.connect(ledger.path, readonly=True)
    try:
        summary = summarize(conn, ledger.path)
    finally:
        conn.close()
    assert summary["authors"][0]["flow_quality"] == {
        "2026-06-20": {"measured": 1, "estimated": 1, "reconciled": 1},
        "2026-06-21": {"measured": 0, "estimated": 1, "reconciled": 0},
    }
