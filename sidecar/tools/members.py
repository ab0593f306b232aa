"""Who was a member when: the roster chain an export carries, for import and verify.

The chain starts at the building's first roster (a file, or the ``roster`` line of an
export) and continues with the ``roster`` entries found in the feeds; the rule that
builds it is the node's own (:mod:`sidecar.mesh.roster_chain`, PROTOCOL.md 13.5).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError
from sidecar.mesh.roster_chain import Change, RosterChain

__all__ = [
    "Change",
    "RosterChain",
    "chain_of",
    "change_line",
    "first_roster",
    "load_chain",
    "parse_line",
]


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
