"""Two valid roster changes for one version: every node and every verifier keeps one."""

from __future__ import annotations

from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster
from sidecar.mesh.membership import Membership
from sidecar.mesh.roster import Member, Roster
from sidecar.tools.members import RosterChain
from tests.sidecar.support import BUILDING, T0


def _member(n: int, who: Identity) -> Member:
    return Member(str(301 + n), "3", who.public_key, f"127.0.0.1:{9000 + n}")


def _change(
    first: Roster, keys: list[Identity], extra: Member, effective: int
) -> etp.Entry:
    proposed = Roster(BUILDING, 2, (*first.members, extra), first.digest, effective)
    approvals: list[object] = [roster.approve(who, proposed) for who in keys[:2]]
    body: JsonObject = {"v": 1, "kind": "roster", "building": BUILDING, "ts": T0}
    body.update(roster.entry_body(proposed, approvals))  # type: ignore[arg-type]
    return etp.make_entry(keys[0], 1, etp.ZERO_ID, (), body)


def test_the_earliest_effective_change_wins_whatever_arrives_first() -> None:
    keys = [Identity.generate() for _ in range(3)]
    first = Roster(BUILDING, 1, tuple(_member(n, who) for n, who in enumerate(keys)))
    late = _change(first, keys, _member(3, Identity.generate()), T0 + 60_000)
    early = _change(first, keys, _member(4, Identity.generate()), T0 + 30_000)
    chosen = set()
    for order in ([late, early], [early, late]):
        membership = Membership(first, keys[0].author, lambda reason: None)
        chain = RosterChain(first)
        for entry in order:
            membership.seen(entry)
            chain.offer(entry)
        assert membership.pending is not None
        assert chain.versions[-1] == membership.pending
        chosen.add(membership.pending.effective)
    assert chosen == {T0 + 30_000}


def test_a_node_that_learns_the_preferred_change_late_switches_to_it() -> None:
    """The less preferred change is already in force when the preferred one arrives.

    The node applies the rule of section 13.5 whenever it learns of a change, as a
    verifier does over every entry it holds, so both end with the same roster.
    """
    keys = [Identity.generate() for _ in range(3)]
    first = Roster(BUILDING, 1, tuple(_member(n, who) for n, who in enumerate(keys)))
    later = _change(first, keys, _member(3, Identity.generate()), T0 + 60_000)
    earlier = _change(first, keys, _member(4, Identity.generate()), T0 + 30_000)
    refused: list[str] = []
    membership = Membership(first, keys[0].author, refused.append)
    membership.seen(later)
    in_force = membership.take_due(T0 + 61_000)
    assert in_force is not None
    membership.put_in_force(in_force)
    membership.seen(earlier)
    switched = membership.take_due(T0 + 62_000)
    assert switched is not None
    membership.put_in_force(switched)
    chain = RosterChain(first)
    for entry in (later, earlier):
        chain.offer(entry)
    assert membership.roster == chain.at(T0 + 62_000)
    assert membership.roster.effective == T0 + 30_000
    assert membership.take_due(T0 + 63_000) is None  # settled
    assert refused == []


def test_a_change_built_on_the_replaced_one_goes_with_it() -> None:
    """Version 3 approved on top of the version 2 that loses: neither node nor
    verifier keeps it; a version 3 on the preferred version 2 is taken."""
    keys = [Identity.generate() for _ in range(3)]
    first = Roster(BUILDING, 1, tuple(_member(n, who) for n, who in enumerate(keys)))
    later = _change(first, keys, _member(3, Identity.generate()), T0 + 60_000)
    earlier = _change(first, keys, _member(4, Identity.generate()), T0 + 30_000)
    on_later = _next(later, keys, T0 + 90_000)
    on_earlier = _next(earlier, keys, T0 + 120_000)
    refused: list[str] = []
    membership = Membership(first, keys[0].author, refused.append)
    chain = RosterChain(first)
    for entry in (later, on_later, earlier, on_earlier):
        membership.seen(entry)
        chain.offer(entry)
        due = membership.take_due(T0 + 200_000)
        if due is not None:
            membership.put_in_force(due)
    assert membership.roster == chain.at(T0 + 200_000) == chain.versions[-1]
    assert membership.roster.version == 3
    assert membership.roster.prev == roster.from_entry_body(earlier.content)[0].digest
    assert refused == []


def _next(entry: etp.Entry, keys: list[Identity], effective: int) -> etp.Entry:
    """Version 3 on top of the version 2 that ``entry`` records."""
    base = roster.from_entry_body(entry.content)[0]
    proposed = Roster(BUILDING, 3, base.members[:3], base.digest, effective)
    # Version 2 has four members: three make a majority.
    approvals: list[object] = [roster.approve(who, proposed) for who in keys]
    body: JsonObject = {"v": 1, "kind": "roster", "building": BUILDING, "ts": T0}
    body.update(roster.entry_body(proposed, approvals))  # type: ignore[arg-type]
    return etp.make_entry(keys[1], 1, etp.ZERO_ID, (), body)
