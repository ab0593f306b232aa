"""The versions of a building's roster, built by one rule wherever changes come from.

PROTOCOL.md section 13.5. The chain starts at a roster the node or verifier was given
and continues with the changes offered to it (``roster`` entries of any feed, an
export's roster lines), each checked against the version it replaces. Of several valid
changes for one version, :func:`sidecar.mesh.roster.preferred` picks the one every node
and verifier keeps, whenever it is learned: the chain is rebuilt from its start, so a
preferred change learned late replaces the one in the chain, and whatever was built on
that one. A roster is in force from its ``effective`` time until the next one's.
"""

from __future__ import annotations

from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError

type Change = tuple[Roster, list[tuple[bytes, bytes]]]
"""A proposed roster version with its (author, signature) approvals."""


class RosterChain:
    """The versions of a building's roster, oldest first."""

    def __init__(self, first: Roster, *, from_any_version: bool = False) -> None:
        """A building's chain starts at version 1; a node's may start later.

        A node whose roster file is a later version (a member added by it) builds on
        that version; a verifier and an importer start at the first roster.
        """
        if first.version != 1 and not from_any_version:
            raise RosterError("bad_roster", "the chain starts at roster version 1")
        self.versions = [first]
        self._offers: dict[bytes, Change] = {}

    @property
    def building(self) -> str:
        """The building the roster is for."""
        return self.versions[0].building

    def offer(self, entry: Entry) -> None:
        """Take a ``roster`` entry; one whose body is no change never takes effect."""
        if entry.kind != roster_module.ROSTER:
            return
        try:
            change = roster_module.from_entry_body(entry.content)
        except RosterError:
            return  # verify reports the body where it walks the feed
        self.add(change)

    def add(self, change: Change) -> None:
        """Take a proposed version with its approvals; rebuild the chain with it."""
        proposed = change[0]
        if (
            proposed.digest in self._offers
            or proposed.version <= self.versions[0].version
        ):
            return
        self._offers[proposed.digest] = change
        self._extend()

    def problem(self, change: Change) -> RosterError | None:
        """Why a change is not valid against the version it replaces, if known.

        None when it is valid, or when the version it would replace is not known (yet).
        """
        proposed, approvals = change
        index = proposed.version - self.versions[0].version - 1
        if index < 0 or index >= len(self.versions):
            return None
        try:
            roster_module.check_change(self.versions[index], proposed, approvals)
        except RosterError as err:
            return err
        return None

    def changes(self) -> list[Change]:
        """The versions after the first, each with the approvals that made it valid."""
        return [self._offers[item.digest] for item in self.versions[1:]]

    def _extend(self) -> None:
        del self.versions[1:]
        while True:
            current = self.versions[-1]
            valid = []
            for proposed, approvals in self._offers.values():
                if proposed.version != current.version + 1:
                    continue
                try:
                    roster_module.check_change(current, proposed, approvals)
                except RosterError:
                    continue
                valid.append(proposed)
            if not valid:
                return
            self.versions.append(roster_module.preferred(valid))

    def at(self, ts: int) -> Roster:
        """The roster in force at ``ts`` (ms)."""
        chosen = self.versions[0]
        for item in self.versions[1:]:
            if item.effective <= ts:
                chosen = item
        return chosen

    def member_at(self, author: bytes, ts: int) -> bool:
        """Whether ``author`` was a member at ``ts``."""
        return self.at(ts).member(author) is not None
