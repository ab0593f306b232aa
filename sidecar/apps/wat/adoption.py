"""Adopting the currency like a roster change: proposed, approved, recorded.

PROTOCOL.md section 7.10. Every member approves a proposed version by signing its
digest; any member records it, with a majority's approvals, as a ``currency`` entry.
Every node builds the same chain of versions from the entries it holds: a version is
valid when it follows the newest valid one (:func:`spec.check_follows`) and a majority
of the roster in force at its ``effective`` time approved it; of competing valid
versions the one with the smallest ``effective``, then the smallest digest, wins. Each
version is in force from its ``effective`` time until the next one's: a later version
never reaches back over an interval that started before it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.apps.wat import kinds, spec
from sidecar.apps.wat.kinds import Approval
from sidecar.apps.wat.spec import Currency, SpecError
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity, KeyRing, signature_problem
from sidecar.tools.members import RosterChain


def approve(
    identity: Identity, proposed: Currency, *, deterministic: bool = False
) -> JsonObject:
    """A member's approval of a proposed version: its signature over the digest."""
    return {
        "author": identity.author.hex(),
        "sig": identity.sign(proposed.digest, deterministic=deterministic).hex(),
    }


def check_approvals(
    rosters: RosterChain, proposed: Currency, approvals: list[Approval]
) -> None:
    """Raise unless a majority of the roster in force at ``effective`` approved.

    A chain that starts after version 1 (a node that joined later) does not know who
    was a member before its first version took effect: a currency taking effect then
    is not judged by guess (``no_roster``).
    """
    start = rosters.versions[0]
    if start.version != 1 and proposed.effective < start.effective:
        raise SpecError(
            "no_roster",
            f"the roster in force at {proposed.effective} precedes version "
            f"{start.version}, the first this node holds",
        )
    roster = rosters.at(proposed.effective)
    if roster.building != proposed.building:
        raise SpecError("wrong_building", "the proposal is for another building")
    keys = KeyRing()
    for member in roster.members:
        keys.add(member.key)
    approvers: set[bytes] = set()
    for author, sig in approvals:
        if author not in keys:
            raise SpecError("non_member", f"{author.hex()[:16]} is not a member")
        if signature_problem(sig) is not None or not keys.verify(
            author, proposed.digest, sig
        ):
            raise SpecError("forged", f"the approval of {author.hex()[:16]} fails")
        approvers.add(author)
    if len(approvers) < roster.majority:
        raise SpecError(
            "no_majority",
            f"{len(approvers)} of {len(roster.members)} members approved; "
            f"{roster.majority} are needed",
        )


class CurrencyChain:
    """The valid versions of the building's currency, oldest first."""

    def __init__(self, rosters: RosterChain) -> None:
        self.rosters = rosters
        self.versions: list[Currency] = []
        self._offers: dict[bytes, tuple[Currency, list[Approval]]] = {}
        self.refused = 0

    def offer(self, entry: Entry) -> None:
        """Take a ``currency`` entry from any member's feed.

        An entry written at or after its version's ``effective`` time is refused: a
        version only ever applies to time after it was on record.
        """
        if entry.kind != kinds.CURRENCY:
            return
        try:
            proposed, approvals = kinds.from_entry_body(entry.content)
        except SpecError:
            self.refused += 1
            return
        if entry.ts >= proposed.effective:
            # Recorded after it would have taken effect: it would rewrite the past.
            self.refused += 1
            return
        self._offers.setdefault(proposed.digest, (proposed, approvals))
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the chain from every offer (also after the roster changed)."""
        # Rebuilt from nothing each time, so whatever order offers came in, every node
        # ends with the same chain.
        self.versions = []
        while True:
            valid = [
                proposed
                for proposed, approvals in self._offers.values()
                if self._valid(proposed, approvals)
            ]
            if not valid:
                return
            self.versions.append(min(valid, key=lambda c: (c.effective, c.digest)))

    def _valid(self, proposed: Currency, approvals: list[Approval]) -> bool:
        if self.versions:
            if proposed.version != self.versions[-1].version + 1:
                return False
        elif proposed.version != 1:
            return False
        try:
            if self.versions:
                spec.check_follows(self.versions[-1], proposed)
            check_approvals(self.rosters, proposed, approvals)
        except SpecError:
            return False
        return True

    def at(self, ts: int) -> Currency | None:
        """The version in force at ``ts`` (ms); None before the first takes effect."""
        chosen = None
        for item in self.versions:
            if item.effective <= ts:
                chosen = item
        return chosen

    def latest(self) -> Currency | None:
        """The newest valid version, in force or scheduled."""
        return self.versions[-1] if self.versions else None


def check_proposal(
    chain: CurrencyChain, document: object, approvals: list[JsonValue], now_ms: int
) -> tuple[Currency, JsonObject]:
    """A proposed version with its approvals, checked as a node records it.

    Returns the version and its entry body; raises :class:`SpecError` with the
    reason, in this order: ``bad_currency``, ``effective_passed``, then the rules of
    following the newest version (``wrong_building``, ``not_next``, ``bad_currency``)
    and of approvals (``no_roster``, ``wrong_building``, ``non_member``, ``forged``,
    ``no_majority``). A malformed approval raises a :class:`ValueError`.
    """
    proposed = spec.parse(document)
    body = kinds.entry_body(proposed, approvals)
    _proposed, signed = kinds.from_entry_body({**body, "building": proposed.building})
    if proposed.effective <= now_ms:
        raise SpecError("effective_passed", "effective must be in the future")
    latest = chain.latest()
    if latest is not None:
        spec.check_follows(latest, proposed)
    elif proposed.version != 1:
        raise SpecError("not_next", "the first version is version 1")
    check_approvals(chain.rosters, proposed, signed)
    return proposed, body


def chain_of(rosters: RosterChain, entries: Iterable[Entry]) -> CurrencyChain:
    """The currency chain from every ``currency`` entry among ``entries``."""
    chain = CurrencyChain(rosters)
    for entry in entries:
        chain.offer(entry)
    return chain
