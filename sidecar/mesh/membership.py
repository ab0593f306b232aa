"""Who is a member now: the roster in force, and an approved change until it holds.

PROTOCOL.md section 13. The first roster is the installer's file (without one, this
node alone). A change is a ``roster`` entry in any member's feed, approved by a majority
of the roster it replaces; every node puts it in force at the time it states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError

_LOGGER = logging.getLogger(__name__)


class MembershipError(Exception):
    """The node's key or building does not match the roster it was given."""


class Membership:
    """The roster in force, and the next one once a majority approved it."""

    def __init__(
        self, first: Roster, me: bytes, count_rejection: Callable[[str], None]
    ) -> None:
        self.roster = first
        self.pending: Roster | None = None
        self._me = me
        self._count_rejection = count_rejection

    def load(self, path: Path) -> None:
        """Take the installer's roster file, which must list this node."""
        roster = roster_module.load(path)
        if roster.building != self.roster.building:
            raise MembershipError(
                f"the roster is for building {roster.building!r}, this node is "
                f"configured for {self.roster.building!r}"
            )
        if roster.member(self._me) is None:
            raise MembershipError(
                f"this node's key (author {self._me.hex()[:16]}…) is not "
                "in the roster; add it with 'python -m sidecar roster'"
            )
        self.roster = roster

    def authors(self) -> frozenset[bytes]:
        """Every member's author id."""
        return self.roster.authors()

    def majority(self) -> int:
        """How many members make a majority."""
        return self.roster.majority

    @property
    def base(self) -> Roster:
        """The roster the next change must follow: the pending one, else in force."""
        return self.pending if self.pending is not None else self.roster

    def proposal(
        self, proposal: dict[str, Any], approvals: list[JsonValue], now_ms: int
    ) -> tuple[Roster, JsonObject]:
        """Check a change Home Assistant submits; the roster and its entry's members."""
        proposed = roster_module.parse(proposal)
        body = roster_module.entry_body(proposed, approvals)
        body["building"] = proposed.building
        _, parsed = roster_module.from_entry_body(body)
        roster_module.check_change(self.base, proposed, parsed)
        if proposed.effective <= now_ms:
            raise RosterError(
                "effective_passed",
                "the change must take effect in the future, for everyone",
            )
        del body["building"]
        return proposed, body

    def seen(self, entry: Entry) -> None:
        """A ``roster`` entry in any feed: schedule it if a majority approved it."""
        if entry.kind != roster_module.ROSTER:
            return
        base = self.base
        try:
            proposed, approvals = roster_module.from_entry_body(entry.content)
            pending = self.pending
            if pending is not None and proposed.version == pending.version:
                # Two valid changes for one version: every node keeps the same one.
                if roster_module.preferred([pending, proposed]) is pending:
                    return
                base = self.roster
            elif proposed.version <= base.version:
                return
            roster_module.check_change(base, proposed, approvals)
        except RosterError as err:
            self._count_rejection("roster_refused")
            _LOGGER.warning(
                "Ignoring roster change in seq %d of %s: %s",
                entry.seq,
                entry.author.hex()[:16],
                err,
            )
            return
        self.pending = proposed
        _LOGGER.info(
            "Roster version %d takes effect at %d ms",
            proposed.version,
            proposed.effective,
        )

    def take_due(self, now_ms: int) -> Roster | None:
        """The pending roster, once its time has come (it is then no longer pending)."""
        if self.pending is None or self.pending.effective > now_ms:
            return None
        due, self.pending = self.pending, None
        return due

    def put_in_force(self, roster: Roster) -> None:
        """Make a roster that has come due the one in force."""
        self.roster = roster
        _LOGGER.info(
            "Roster version %d in force: %d members",
            roster.version,
            len(roster.members),
        )
