"""Reading an exported ledger (PROTOCOL.md section 11) for certificate checks.

Only what certificates rest on is decoded and its signature checked: the authors'
keys, each author's first flow (its location and device), the hourly rollups, and
the checkpoints and cosignatures. The other flows are counted and passed over: the
hourly rollups sum them, and ``python -m sidecar verify`` checks those sums.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sidecar.ledger import etp, kinds
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import KeyRing, author_id

_FLOW_MARK: Final = '"kind":"flow"'
_AUTHOR_PREFIX: Final = '{"author":"'
_HEX64: Final = re.compile("[0-9a-f]{64}")
# Export lines certificates do not rest on (PROTOCOL.md section 11).
_PASSED: Final = frozenset({"ledger", "frontier", "equivocation"})


@dataclass(slots=True)
class FeedView:
    """What the export says that certificates rest on."""

    keys: KeyRing = field(default_factory=KeyRing)
    authors: set[bytes] = field(default_factory=set)
    members: int = 0
    first_flows: dict[bytes, Entry] = field(default_factory=dict)
    rollups: dict[bytes, list[Entry]] = field(default_factory=dict)
    signers: dict[tuple[bytes, int, str], set[bytes]] = field(default_factory=dict)
    checkpointed: set[tuple[bytes, int, str]] = field(default_factory=set)
    flows_passed: int = 0
    problems: list[str] = field(default_factory=list)

    def cosigned(self, log: bytes, size: int, root: str) -> int:
        """How many members signed this head, if its author checkpointed it."""
        head = (log, size, root)
        if head not in self.checkpointed:
            return 0
        return len(self.signers.get(head, set()))


def scan(lines: Iterable[str]) -> FeedView:
    """Read an export; problems with lines are noted, never raised."""
    view = FeedView()
    roster_members = 0
    for number, line in enumerate(lines, 1):
        if (
            _FLOW_MARK in line
            and line.startswith(_AUTHOR_PREFIX)
            and _HEX64.fullmatch(line, 11, 75)
            and bytes.fromhex(line[11:75]) in view.first_flows
        ):
            view.flows_passed += 1
            continue
        try:
            obj = json.loads(line)
            roster_members = _take(view, obj) or roster_members
        except (ValueError, InvalidData, KeyError, TypeError) as err:
            view.problems.append(f"line {number}: {err}")
    view.members = roster_members or len(view.authors)
    return view


def _take(view: FeedView, obj: dict[str, object]) -> int:
    """Account for one decoded line; returns the roster's size for a roster line."""
    kind = obj.get("type")
    if kind == "author":
        key = bytes.fromhex(str(obj["key"]))
        view.keys.add(key)
        view.authors.add(author_id(key))
    elif kind == "roster":
        roster = obj["roster"]
        assert isinstance(roster, dict)
        members = roster["members"]
        assert isinstance(members, list)
        return len(members)
    elif kind == "entry":
        entry = etp.entry_from_wire(obj)
        if entry.kind == kinds.FLOW and entry.author in view.first_flows:
            view.flows_passed += 1
        elif entry.kind == kinds.FLOW or entry.key == "rollup_1":
            etp.check_signature(entry, view.keys)
            if entry.kind == kinds.FLOW:
                view.first_flows[entry.author] = entry
            else:
                view.rollups.setdefault(entry.author, []).append(entry)
    elif kind in (kinds.CHECKPOINT, kinds.COSIGN):
        statement = etp.statement_from_wire(obj)
        etp.check_signature(statement, view.keys)
        size = statement.content["size"]
        root = str(statement.content["root"])
        assert isinstance(size, int)
        if kind == kinds.CHECKPOINT:
            head = (statement.author, size, root)
            view.checkpointed.add(head)
        else:
            head = (bytes.fromhex(str(statement.content["log"])), size, root)
        view.signers.setdefault(head, set()).add(statement.author)
    elif kind not in _PASSED:
        raise ValueError(f"unknown line type {kind!r}")
    return 0
