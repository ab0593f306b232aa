"""The coordination entries the node holds, indexed for the coordinator each round.

Entries arrive from this node's own feed and from peers; the index keeps each
member's few newest availabilities and the dispatches and cancels that can still
matter, so a round reads memory, never the database.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Final

from sidecar.coordination import kinds as coordination_kinds
from sidecar.ledger.etp import Entry
from sidecar.storage import store

AVAILABILITIES_KEPT: Final = 16  # per member: several rounds of a slow peer
KEEP_ENDED_MS: Final = 3_600_000  # dispatches and cancels stay an hour past their end


class CoordinationView:
    """A :class:`sidecar.coordination.planner.LedgerView` over the node's ledger."""

    def __init__(
        self,
        members: Callable[[], Collection[bytes]],
        mesh_up: Callable[[], bool],
        own_grid_w: Callable[[], int | None],
        clock: Callable[[], int],
    ) -> None:
        self._members = members
        self._mesh_up = mesh_up
        self._own_grid_w = own_grid_w
        self._clock = clock
        self._availability: dict[bytes, deque[Entry]] = {}
        self._dispatches: dict[bytes, Entry] = {}
        self._cancels: dict[bytes, Entry] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        """Index the dispatches and cancels stored before a restart."""
        for entry in store.entries_of_kinds(
            conn, (coordination_kinds.DISPATCH, coordination_kinds.DISPATCH_CANCEL)
        ):
            self.add(entry)

    def add(self, entry: Entry) -> None:
        """Index one entry (other kinds are ignored)."""
        kind = entry.kind
        if kind == coordination_kinds.AVAILABILITY:
            kept = self._availability.setdefault(
                entry.author, deque(maxlen=AVAILABILITIES_KEPT)
            )
            kept.append(entry)
        elif kind == coordination_kinds.DISPATCH:
            self._dispatches[entry.id] = entry
            self._forget_ended()
        elif kind == coordination_kinds.DISPATCH_CANCEL:
            self._cancels[entry.id] = entry

    def members(self) -> Collection[bytes]:
        """The roster's author ids."""
        return self._members()

    def availability(self, author: bytes, at_ms: int) -> Entry | None:
        """The member's newest availability with ``ts`` ≤ ``at_ms``."""
        for entry in reversed(self._availability.get(author, ())):
            if entry.ts <= at_ms:
                return entry
        return None

    def dispatches(self) -> Iterable[Entry]:
        """Dispatch entries that have not ended long ago."""
        return self._dispatches.values()

    def cancels(self) -> Iterable[Entry]:
        """Every cancel of a dispatch still held."""
        return self._cancels.values()

    def mesh_up(self) -> bool:
        """Whether a peer is linked (or the node is alone in its roster)."""
        return self._mesh_up()

    def own_grid_w(self) -> int | None:
        """The flat's grid power (+ import) from its newest sample."""
        return self._own_grid_w()

    def _forget_ended(self) -> None:
        horizon = self._clock() - KEEP_ENDED_MS
        ended = [
            eid
            for eid, entry in self._dispatches.items()
            if int(str(entry.content["end"])) < horizon
        ]
        for eid in ended:
            del self._dispatches[eid]
        live = {eid.hex() for eid in self._dispatches}
        for eid, entry in list(self._cancels.items()):
            if entry.content["event"] not in live:
                del self._cancels[eid]
