"""Roster changes proposed and approved through the ledger itself.

A member proposes the next roster version with a ``roster_proposal`` entry, which
carries the proposed document and the proposer's approval; the other members approve
it with ``roster_approval`` entries. Both travel over the mesh like every entry, so
every node sees every open proposal and every approval. Once a node that has approved
sees approvals of a majority, it records the change as a ``roster`` entry, exactly as
``roster submit`` does (PROTOCOL.md sections 7.9 and 13.7); the same change recorded
by several approvers is kept once (section 13.6).

The approvals are the signatures of section 13.4 over the proposed roster's digest, so
they go into the ``roster`` entry unchanged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity, KeyRing, signature_problem
from sidecar.ledger.schema import BodyError
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Member, Roster, RosterError

PROPOSAL: Final = "roster_proposal"
APPROVAL: Final = "roster_approval"
KINDS: Final = (PROPOSAL, APPROVAL)
_COMMON: Final = frozenset({"v", "kind", "building", "ts"})
_PROPOSAL_KEYS: Final = _COMMON | {"version", "members", "prev", "effective", "sig"}
_APPROVAL_KEYS: Final = _COMMON | {"digest", "sig"}
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")
_HEX64: Final = re.compile(r"[0-9a-f]{128}\Z")

_LOGGER = logging.getLogger(__name__)


def register() -> None:
    """Give the ledger format the schemas of both kinds (kept for good)."""
    kinds.register(PROPOSAL, _check_proposal, fully_checked=False, folded=False)
    kinds.register(APPROVAL, _check_approval, fully_checked=False, folded=False)


def _check_proposal(body: JsonObject, refs: int) -> None:
    _no_refs(refs)
    _exact(body, _PROPOSAL_KEYS)
    proposed_of(body)
    _hex(body["sig"], "sig", _HEX64)


def _check_approval(body: JsonObject, refs: int) -> None:
    _no_refs(refs)
    _exact(body, _APPROVAL_KEYS)
    _hex(body["digest"], "digest", _HEX32)
    _hex(body["sig"], "sig", _HEX64)


def _no_refs(refs: int) -> None:
    if refs:
        raise BodyError("bad_refs", "roster proposals and approvals have no refs")


def _exact(body: JsonObject, keys: frozenset[str]) -> None:
    if set(body) != keys:
        missing, extra = sorted(keys - set(body)), sorted(set(body) - keys)
        raise RosterError("bad_roster", f"missing {missing}, unknown {extra}")


def _hex(value: object, name: str, pattern: re.Pattern[str]) -> bytes:
    if not isinstance(value, str) or not pattern.match(value):
        raise RosterError("bad_roster", f"{name} must be lowercase hex of its length")
    return bytes.fromhex(value)


def proposed_of(body: JsonObject) -> Roster:
    """The proposed roster a ``roster_proposal`` body (with ``building``) carries."""
    doc = {key: body[key] for key in ("building", "version", "members", "prev")}
    doc["effective"] = body["effective"]
    proposed = roster_module.parse(doc)
    if proposed.prev is None:
        raise RosterError("bad_roster", "a proposal replaces a roster: prev")
    return proposed


def proposal_body(identity: Identity, proposed: Roster) -> JsonObject:
    """The members of a ``roster_proposal`` entry (without the common members)."""
    body = proposed.document()
    del body["building"]
    body["sig"] = roster_module.approve(identity, proposed)["sig"]
    return body


def approval_body(identity: Identity, proposed: Roster) -> JsonObject:
    """The members of a ``roster_approval`` entry (without the common members)."""
    return {
        "digest": proposed.digest.hex(),
        "sig": roster_module.approve(identity, proposed)["sig"],
    }


def next_roster(
    base: Roster,
    add: list[Member],
    remove: list[str],
    effective_ms: int,
) -> Roster:
    """The version after ``base``: members of ``remove`` out, ``add`` in.

    A member added with the flat of a present member replaces it (a new key or
    address).
    """
    present = {member.flat for member in base.members}
    unknown = sorted(set(remove) - present)
    if unknown:
        raise RosterError("bad_request", f"no member flat {', '.join(unknown)}")
    if not add and not remove:
        raise RosterError("bad_request", "name members to add or flats to remove")
    replaced = set(remove) | {member.flat for member in add}
    members = [member for member in base.members if member.flat not in replaced]
    members += add
    doc = {
        "building": base.building,
        "version": base.version + 1,
        "members": [member.to_json() for member in members],
        "prev": base.digest.hex(),
        "effective": effective_ms,
    }
    return roster_module.parse(doc)


@dataclass(slots=True)
class Proposal:
    """An open proposal, with every approval seen for it (checked or not)."""

    roster: Roster
    proposer: bytes
    approvals: dict[bytes, bytes] = field(default_factory=dict)  # author → sig
    recorded: bool = False  # this node has put it on record


class Votes:
    """Every proposal and approval seen in any feed, and their tally."""

    def __init__(self) -> None:
        self._proposals: dict[bytes, Proposal] = {}
        # Approvals may arrive before their proposal (feeds replicate independently).
        self._early: dict[bytes, dict[bytes, bytes]] = {}

    def seen(self, entry: Entry) -> bool:
        """Take a proposal or approval from any feed; whether it was one."""
        try:
            if entry.kind == PROPOSAL:
                self._proposal(entry)
            elif entry.kind == APPROVAL:
                self._approval(entry)
            else:
                return False
        except (RosterError, KeyError) as err:
            _LOGGER.warning(
                "Ignoring %s in seq %d of %s: %s",
                entry.kind,
                entry.seq,
                entry.author.hex()[:16],
                err,
            )
        return True

    def _proposal(self, entry: Entry) -> None:
        proposed = proposed_of(entry.content)
        digest = proposed.digest
        found = self._proposals.setdefault(digest, Proposal(proposed, entry.author))
        found.approvals[entry.author] = _hex(entry.content["sig"], "sig", _HEX64)
        found.approvals.update(self._early.pop(digest, {}))

    def _approval(self, entry: Entry) -> None:
        digest = _hex(entry.content["digest"], "digest", _HEX32)
        sig = _hex(entry.content["sig"], "sig", _HEX64)
        found = self._proposals.get(digest)
        if found is None:
            self._early.setdefault(digest, {})[entry.author] = sig
        else:
            found.approvals[entry.author] = sig

    def get(self, digest: bytes) -> Proposal | None:
        """The proposal with this digest, if this node has seen it."""
        return self._proposals.get(digest)

    def open(
        self, base: Roster, now_ms: int
    ) -> list[tuple[Proposal, list[JsonObject]]]:
        """Proposals that may still replace ``base``, each with its valid approvals.

        A proposal is open while it is the next version after ``base``, names it as
        ``prev`` and takes effect in the future.
        """
        keys = KeyRing()
        for member in base.members:
            keys.add(member.key)
        result = []
        for digest, proposal in sorted(self._proposals.items()):
            roster = proposal.roster
            if (
                roster.version != base.version + 1
                or roster.prev != base.digest
                or roster.effective <= now_ms
            ):
                continue
            valid: list[JsonObject] = [
                {"author": author.hex(), "sig": sig.hex()}
                for author, sig in sorted(proposal.approvals.items())
                if author in keys
                and signature_problem(sig) is None
                and keys.verify(author, digest, sig)
            ]
            result.append((proposal, valid))
        return result
