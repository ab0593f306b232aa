"""``verify`` holds flows to their order in time: no overlap, holes named, own flat."""

from __future__ import annotations

from sidecar.ledger import kinds
from sidecar.mesh.roster import Member, Roster
from sidecar.tools.verify import Report, verify_database
from tests.sidecar.support import BUILDING, T0, Ledger, flow_content


def _codes(report: Report) -> list[tuple[str, str]]:
    return [(f.code, f.where) for f in report.findings]


def test_two_flows_over_the_same_second_are_an_overlap(ledger: Ledger) -> None:
    now = ledger.flows(3, T0 + 1000)
    # A replay after a restart: the last second signed again.
    ledger.feed.append(kinds.FLOW, flow_content(now - 2000), now)
    ledger.sync()
    assert _codes(verify_database(ledger.path)) == [("flow_overlap", "seq 4")]


def test_a_hole_between_flows_is_a_notice_not_a_failure(ledger: Ledger) -> None:
    now = ledger.flows(3, T0 + 1000)
    ledger.flows(2, now + 60_000)  # a minute with no flow, and no gap flow either
    ledger.sync()
    report = verify_database(ledger.path)
    assert report.ok
    assert [(n.code, n.where) for n in report.notices] == [("flow_hole", "seq 4")]


def test_a_flat_signs_flows_only_for_its_own_flat(ledger: Ledger) -> None:
    now = ledger.flows(2, T0 + 1000)
    body = flow_content(now - 1000)
    body["loc"] = {"floor": "9", "flat": "999"}
    ledger.feed.append(kinds.FLOW, body, now)
    ledger.sync()
    own = Member("301", "3", ledger.identity.public_key, "127.0.0.1:9000")
    roster = Roster(BUILDING, 1, (own,))
    assert verify_database(ledger.path).ok  # the flat is known only from a roster
    assert _codes(verify_database(ledger.path, roster)) == [("wrong_flat", "seq 3")]


def test_an_unmetered_flow_must_derive_home(ledger: Ledger) -> None:
    now = ledger.flows(2, T0 + 1000)
    assert verify_database(ledger.path).ok
    # Unmetered, home must be 1393 - 500 - 474 = 419; it says 319 (and balances).
    totals = kinds.Totals(
        pv=1393, grid_in=0, bat_out=0, home=319, bat_in=500, grid_out=474
    )
    body = flow_content(now - 1000)
    body["balance"] = kinds.balance(totals, metered=False)
    body["transfers"] = [
        {"from": a, "to": b, "mwh": m, "ren": 1_000_000}
        for a, b, m in kinds.allocate(totals)
    ]
    ledger.feed.append(kinds.FLOW, body, now)
    ledger.sync()
    assert _codes(verify_database(ledger.path)) == [("balance_mismatch", "seq 3")]


def test_a_gap_flow_may_leave_an_unmetered_home_unknown(ledger: Ledger) -> None:
    # Across a break, a quantity without counters leaves the home's share unknown: the
    # node writes home 0 and lets the balance state the difference (section 7.1).
    now = ledger.flows(2, T0 + 1000)
    totals = kinds.Totals(pv=1393, grid_in=0, bat_out=0, home=0, bat_in=500, grid_out=0)
    body = flow_content(now - 1000)
    body["gap"] = 1
    body["balance"] = kinds.balance(totals, metered=False)
    body["transfers"] = [
        {"from": a, "to": b, "mwh": m, "ren": 1_000_000}
        for a, b, m in kinds.allocate(totals)
    ]
    ledger.feed.append(kinds.FLOW, body, now)
    ledger.sync()
    assert verify_database(ledger.path).ok
    # Outside a gap the same flow is a mismatch.
    del body["gap"]
    ledger.feed.append(kinds.FLOW, body | {"start": now, "end": now + 1000}, now + 1000)
    ledger.sync()
    assert _codes(verify_database(ledger.path)) == [("balance_mismatch", "seq 4")]
