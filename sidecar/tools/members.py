"""Who was a member when: the roster chain an export carries, for import and verify.

The chain starts at the building's first roster (a file, or the ``roster`` line of an
export) and continues with the ``roster`` entries found in the feeds, each checked
against the roster it replaces. Of several valid changes for one version, the one
:func:`sidecar.mesh.roster.preferred` picks wins (PROTOCOL.md section 13). A roster is
in force from its ``effective`` time until the next one's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError

type Change = tuple[Roster, list[tuple[bytes, bytes]]]
"""A proposed roster version with its (author, signature) approvals."""


class RosterChain:
    """The versions of a building's roster, oldest first."""

    def __init__(self, first: Roster) -> None:
        if first.version != 1:
            raise RosterError("bad_roster", "the chain starts at roster version 1")
        self.versions = [first]
        self._offers: list[Change] = []

    @property
    def building(self) -> str:
        """The building the roster is for."""
        return self.versions[0].building

    def offer(self, entry: Entry) -> None:
        """Take a ``roster`` entry; it joins the chain once its base is known."""
        if entry.kind != roster_module.ROSTER:
            return
        try:
            change = roster_module.from_entry_body(entry.content)
        except RosterError:
            return  # an invalid change never takes effect; verify reports its body
        self.add(change)

    def add(self, change: Change) -> None:
        """Take a proposed version with its approvals (from an entry or an export)."""
        self._offers.append(change)
        self._extend()

    def changes(self) -> list[Change]:
        """The versions after the first, each with the approvals that made it valid."""
        approvals = {proposed.digest: signed for proposed, signed in self._offers}
        return [(item, approvals[item.digest]) for item in self.versions[1:]]

    def _extend(self) -> None:
        # Rebuilt from the first roster, so a change preferred over one already in the
        # chain replaces it (and whatever was built on it).
        del self.versions[1:]
        while True:
            current = self.versions[-1]
            valid = []
            for proposed, approvals in self._offers:
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


def chain_of(entries: Iterable[Entry], first: Roster) -> RosterChain:
    """The chain from ``first`` and every ``roster`` entry among ``entries``."""
    chain = RosterChain(first)
    for entry in entries:
        chain.offer(entry)
    return chain


def first_roster(path: Path) -> Roster:
    """The first roster in a roster file or in an export's ``roster`` line."""
    return load_chain(path).versions[0]


def change_line(change: Change) -> JsonObject:
    """The export's ``roster`` line of a later version (PROTOCOL.md section 11)."""
    proposed, approvals = change
    return {
        "type": "roster",
        "roster": proposed.document(),
        "approvals": [
            {"author": author.hex(), "sig": sig.hex()} for author, sig in approvals
        ],
    }


def parse_line(obj: dict[str, object]) -> Roster | Change:
    """A ``roster`` line: the first roster, or a later version with its approvals."""
    document = obj.get("roster")
    if "approvals" not in obj:
        return roster_module.parse(document)
    if not isinstance(document, dict):
        raise RosterError("bad_roster", "a roster line carries a roster document")
    body: JsonObject = {**document, "approvals": obj["approvals"]}  # type: ignore[dict-item]
    return roster_module.from_entry_body(body)


def load_chain(path: Path) -> RosterChain:
    """The roster chain of a roster file (its first version) or of an export."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RosterError("no_roster", f"{path}: {err}") from err
    try:
        document = json.loads(text)
    except ValueError:
        document = None  # not one JSON document: an export, read line by line
    if document is not None:
        return RosterChain(roster_module.parse(document))
    chain: RosterChain | None = None
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("type") != "roster":
            continue
        item = parse_line(obj)
        if isinstance(item, Roster):
            chain = RosterChain(item)
        elif chain is not None:
            chain.add(item)
    if chain is None:
        raise RosterError(
            "no_roster", f"{path} holds neither a roster nor a roster line"
        )
    return chain
