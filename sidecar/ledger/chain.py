"""The one rule for taking an entry into an author's feed: its place, link and time.

A feed is a hash chain (PROTOCOL.md section 5): entry ``seq`` names the id of entry
``seq - 1`` as its ``prev`` and is not older than it; two entries with one seq are
equivocation. Everything that takes entries in asks this module: the replica (entries
from peers), the importer (exchange-format lines) and the verifier (a whole database).

Where they differ, the difference is a parameter, not another copy of the rule:

* What each holds of the feed's end, its :class:`Tip`. A replica that started an
  author's feed at a pruned frontier does not know the id of the entry at the frontier,
  so the entry after it is not linked; the importer links it to the last entry it has
  stored, if any.
* ``authenticate``: the replica checks an entry (building, clock, signature) only when
  the verdict depends on it being genuine, so duplicates and early entries, which peers
  send a lot, cost no signature check. The importer checks every line before placing
  it and passes None.
* The rule a flow's schema cannot state alone: an unmetered flow's ``home``
  (:func:`home_problem`), which every taker checks once the entry is genuine.
* ``keep_folded_history``: below the pruned frontier the replica does not take the kinds
  retention folds into rollups (it pruned them itself); the importer stores what the
  exporting node kept.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sidecar.ledger import kinds, merkle
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry


class Place(enum.Enum):
    """Where an entry falls against the feed held."""

    NEXT = "next"  # right after the tip, and linked to it: it extends the feed
    GAP = "gap"  # entries are missing between the tip and it
    DUPLICATE = "duplicate"  # the entry held at its seq, or one not wanted
    HISTORY = "history"  # below the pruned frontier and not held: nothing to link to
    CONFLICT = "conflict"  # another entry is held at its seq: equivocation


@dataclass(slots=True)
class Tip:
    """What a taker holds of the end of an author's feed."""

    seq: int  # the highest seq held, or the pruned frontier's size if that is higher
    id: bytes | None  # the id of entry ``seq``; None if nothing can be linked to it
    ts: int  # the time the next entry may not be older than
    pruned: int = 0  # the pruned frontier's size: entries up to it may be history


def link_problems(tip: Tip, entry: Entry) -> list[tuple[str, str]]:
    """Every way ``entry`` fails to follow ``tip``: ``(reason, detail)`` pairs."""
    problems: list[tuple[str, str]] = []
    if tip.id is not None and entry.prev != tip.id:
        problems.append(("broken_chain", "prev is not the id of seq - 1"))
    if entry.ts < tip.ts:
        problems.append(("time_backwards", "ts is before seq - 1's"))
    return problems


def anchor_problem(frontier: merkle.Frontier, anchor: Entry) -> str | None:
    """Why ``anchor`` does not anchor a feed that starts at ``frontier``, or None.

    A pruned feed starts at a frontier; the entry right after it must be a level-1
    rollup whose signed root is the frontier's root (PROTOCOL.md section 9.3), so
    nobody can hand over a made-up past. Refused as ``bad_frontier``.
    """
    if anchor.seq != frontier.size + 1:
        return f"the anchor is seq {anchor.seq}, not {frontier.size + 1}"
    if anchor.key != kinds.rollup_key(1):
        return f"seq {anchor.seq} after the frontier is not a level-1 rollup"
    if anchor.content.get("root") != frontier.root().hex():
        return "the frontier's root is not the root its anchoring rollup signs"
    return None


def home_problem(entry: Entry) -> str | None:
    """Why an unmetered flow's ``home`` is not what its totals leave; None if it is.

    PROTOCOL.md section 7.1: with ``metered = 0`` the node derived ``home`` as
    ``max(0, pv + grid_in + bat_out - bat_in - grid_out)``; a ``gap`` flow may state 0
    instead (a counter not read across the break leaves the home's share unknown).
    Reported as ``balance_mismatch``.
    """
    if entry.kind != kinds.FLOW:
        return None
    balance = entry.content["balance"]
    assert isinstance(balance, dict)  # schema-checked
    if balance["metered"] != 0:
        return None
    supplied = sum(_mwh(balance, key) for key in ("pv", "grid_in", "bat_out"))
    left = supplied - _mwh(balance, "bat_in") - _mwh(balance, "grid_out")
    home = balance["home"]
    if home == max(0, left) or (entry.content.get("gap") == 1 and home == 0):
        return None
    return f"metered is 0 but home is {home}, not max(0, {left})"


def _mwh(balance: Mapping[str, object], key: str) -> int:
    value = balance[key]
    assert isinstance(value, int)  # schema-checked
    return value


def _genuine(entry: Entry, authenticate: Callable[[Entry], None] | None) -> None:
    """Authenticate ``entry`` if asked to, then apply the unmetered-home rule."""
    if authenticate is not None:
        authenticate(entry)
    problem = home_problem(entry)
    if problem is not None:
        raise InvalidData("balance_mismatch", f"seq {entry.seq}: {problem}")


def check_link(tip: Tip, entry: Entry) -> None:
    """Raise :class:`InvalidData` unless ``entry`` follows ``tip`` in chain and time."""
    for reason, detail in link_problems(tip, entry):
        raise InvalidData(reason, f"seq {entry.seq}: {detail}")


def place(
    tip: Tip,
    entry: Entry,
    held_id: Callable[[int], bytes | None],
    authenticate: Callable[[Entry], None] | None,
    *,
    keep_folded_history: bool,
) -> Place:
    """Where ``entry`` falls in its author's feed, held up to ``tip``.

    ``held_id(seq)`` is the id of the entry held at ``seq`` (None if none);
    ``authenticate`` raises if the entry is not genuine. An entry taken or kept as
    evidence must also pass :func:`home_problem` (``balance_mismatch``); one that
    does not link to the tip raises :class:`InvalidData` (``broken_chain``,
    ``time_backwards``).
    """
    if entry.seq > tip.seq + 1:
        return Place.GAP
    if entry.seq == tip.seq + 1:
        _genuine(entry, authenticate)
        check_link(tip, entry)
        return Place.NEXT
    known = held_id(entry.seq)
    if known == entry.id:
        return Place.DUPLICATE
    if known is None and entry.seq <= tip.pruned:
        if not keep_folded_history and kinds.folded(entry.key):
            return Place.DUPLICATE  # pruned here, or never wanted below the frontier
        _genuine(entry, authenticate)
        return Place.HISTORY
    _genuine(entry, authenticate)
    return Place.CONFLICT
