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
