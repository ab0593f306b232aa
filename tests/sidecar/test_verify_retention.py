"""``verify`` accepts what its own retention left, over days of an accelerated clock.

The feed is driven hour by hour with an explicit clock: flows, a witnessed declaration
(a routine kind counted directly by every rollup level), the rollups at each boundary,
then a retention pass, and ``verify`` after each pass.
"""

from __future__ import annotations

import pytest

from sidecar.ledger.canonical import JsonObject
from sidecar.storage import retention
from sidecar.tools.verify import verify_database
from tests.sidecar.support import DAY, HOUR, T0, Ledger

MINUTE = 60_000
WITNESSED: JsonObject = {"logs": [{"log": "ab" * 32, "size": 3, "root": "cd" * 32}]}


@pytest.mark.parametrize(
    "policy",
    [
        retention.Policy(flows_ms=4 * HOUR, hourly_ms=35 * DAY),
        retention.Policy(flows_ms=HOUR, hourly_ms=DAY + 2 * HOUR),
    ],
    ids=["flows-pruned", "hourly-folded"],
)
def test_verify_accepts_a_ledger_its_retention_pruned_for_days(
    ledger: Ledger, policy: retention.Policy
) -> None:
    now = T0 + MINUTE
    pruned = 0
    for hour in range(4 * 24):
        now = ledger.flows(6, now, 10 * MINUTE)
        ledger.feed.append("witnessed", WITNESSED, now)
        ledger.feed.roll(now)
        ledger.sync()
        pruned += _prune(ledger, now, policy)
        report = verify_database(ledger.path)
        assert report.ok, (hour, [str(f) for f in report.findings])
    assert pruned > 3 * 24 * 6  # retention really deleted days of flows


def _prune(ledger: Ledger, now: int, policy: retention.Policy) -> int:
    return (
        ledger.writer.call(lambda conn: retention.prune(conn, now, policy))
        .result()
        .entries
    )
