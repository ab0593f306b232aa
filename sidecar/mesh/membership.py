"""Who is a member now: the roster in force, and an approved change until it holds.

PROTOCOL.md section 13. The first roster is the installer's file (without one, this
node alone). A change is a ``roster`` entry in any member's feed, approved by a majority
of the roster it replaces; every node puts it in force at the time it states. Which
changes count is decided by the same chain a verifier builds
(:class:`~sidecar.mesh.roster_chain.RosterChain`), so a preferred competing change
learned late replaces the one in force on every node alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sidecar import command_name
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError
from sidecar.mesh.roster_chain import RosterChain

_LOGGER = logging.getLogger(__name__)


class MembershipError(Exception):
    """The node's key or building does not match the roster it was given."""


class Membership:
    """The roster in force, and the chain of approved changes it follows."""

    def __init__(
        self, first: Roster, me: bytes, count_rejection: Callable[[str], None]
    ) -> None:
        self.roster = first
        self.chain = RosterChain(first, from_any_version=True)
        self._me = me
        self._count_rejection = count_rejection

    def load(self, path: Path) -> None:
        """Take the installer's roster file, which must list this node."""
        roster = roster_module.load(path)
        try:
            self.check_own(roster)
        except RosterError as err:
            raise MembershipError(err.detail) from err
        self.roster = roster
        self.chain = RosterChain(roster, from_any_version=True)

    def check_own(self, roster: Roster) -> None:
        """Raise unless ``roster`` is for this node's building and lists its key."""
        if roster.building != self.roster.building:
            raise RosterError(
                "wrong_building",
                f"the roster is for building {roster.building!r}, this node is "
                f"configured for {self.roster.building!r}",
            )
        if roster.member(self._me) is None:
            raise RosterError(
                "not_listed",
                f"this node's key (author {self._me.hex()[:16]}…) is not "
                f"in the roster; add it with {command_name.advice('roster')}",
            )

    def adopt_first(self, first: Roster, stored: Iterable[Entry] = ()) -> None:
        """Build on the building's first roster instead of this node alone.

        It is checked as a roster file is; the ``roster`` entries the node already
        holds (``stored``: a restored database, the neighbours' feeds) are then taken
        into the chain as at a start, so the node does not run on an older version
        than a restart would give it. :meth:`take_due` puts the result in force, the
        way a change that came due is.
        """
        if first.version != 1:
            raise RosterError("bad_roster", "a first roster is version 1")
        self.check_own(first)
        self.chain = RosterChain(first)
        for entry in sorted(stored, key=lambda item: int(str(item.content["version"]))):
            self.seen(entry)

    def authors(self) -> frozenset[bytes]:
        """Every member's author id."""
        return self.roster.authors()

    def majority(self) -> int:
        """How many members make a majority."""
        return self.roster.majority

    @property
    def pending(self) -> Roster | None:
        """The newest approved version, if it is not the one in force."""
        newest = self.chain.versions[-1]
        return None if newest == self.roster else newest

    @property
    def base(self) -> Roster:
        """The roster the next change must follow: the newest approved version."""
        return self.chain.versions[-1]

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
        """A ``roster`` entry in any feed: take it into the chain if it is valid.

        An invalid change is counted (``roster_refused``) and never affects the
        roster; of two valid changes for one version the chain keeps the preferred
        one (PROTOCOL.md 13.5), however late it is learned.
        """
        if entry.kind != roster_module.ROSTER:
            return
        try:
            change = roster_module.from_entry_body(entry.content)
            problem = self.chain.problem(change)
            if problem is not None:
                raise problem
        except RosterError as err:
            self._count_rejection("roster_refused")
            _LOGGER.warning(
                "Ignoring roster change in seq %d of %s: %s",
                entry.seq,
                entry.author.hex()[:16],
                err,
            )
            return
        before = list(self.chain.versions)
        self.chain.add(change)
        if self.chain.versions != before:
            newest = self.chain.versions[-1]
            _LOGGER.info(
                "Roster version %d takes effect at %d ms",
                newest.version,
                newest.effective,
            )

    def take_due(self, now_ms: int) -> Roster | None:
        """The roster the chain puts in force at ``now_ms``, if it is not the current.

        A change comes due at its ``effective`` time, or at once when it is learned
        later; a preferred competing change replaces the one in force.
        """
        due = self.chain.at(now_ms)
        return None if due == self.roster else due

    def put_in_force(self, roster: Roster) -> None:
        """Make a roster that has come due the one in force."""
        self.roster = roster
        _LOGGER.info(
            "Roster version %d in force: %d members",
            roster.version,
            len(roster.members),
        )
