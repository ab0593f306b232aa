"""One ledger's WAT settlement, kept up to date as entries arrive and time passes.

The pure function of (ledger, time): :class:`Settlement` takes entries in any order and
a time, and its balances equal those of a settlement built from scratch over the same
entries at that time. It is incremental while entries only touch what is not settled
yet; an entry reaching back into settled time (a roster change, a late meter that
still counts) makes it settle again from the first interval.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.apps.wat.book import Book, Interval
from sidecar.apps.wat.inputs import Inputs
from sidecar.apps.wat.spec import Currency
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.tools.members import RosterChain


class Settlement:
    """Balances and settled intervals of one building's ledger."""

    def __init__(
        self, first: Roster | RosterChain, entries: Iterable[Entry] = ()
    ) -> None:
        """Start from the building's first roster, or a chain a node could rebuild."""
        self.rosters = first if isinstance(first, RosterChain) else RosterChain(first)
        self.inputs = Inputs(self.rosters)
        self.book = Book(self.inputs)
        self.now_ms = 0
        self.rebuilds = 0
        for entry in entries:
            self.offer(entry)

    def offer(self, entry: Entry) -> None:
        """Take one entry of any kind; kinds settlement does not read are ignored."""
        if entry.kind == roster_module.ROSTER:
            self.rosters.offer(entry)
            self.inputs.currencies.refresh()
            self._rebuild()
            return
        since = self.inputs.offer(entry)
        settled = self.book.settled_until
        if since is not None and settled is not None and since < settled:
            self._rebuild()

    def advance(self, now_ms: int) -> list[Interval]:
        """Settle what is ready at ``now_ms``; the intervals newly settled."""
        self.now_ms = max(self.now_ms, now_ms)
        return self.book.advance(self.now_ms)

    def currency(self, at_ms: int) -> Currency | None:
        """The currency version in force at ``at_ms``."""
        return self.inputs.currencies.at(at_ms)

    def interval_ms(self, at_ms: int, default_ms: int) -> int:
        """The settlement interval in force at ``at_ms`` (``default_ms`` before any)."""
        version = self.currency(at_ms) or self.inputs.currencies.latest()
        return default_ms if version is None else version.interval_ms

    def _rebuild(self) -> None:
        self.rebuilds += 1
        self.book = Book(self.inputs)
        if self.now_ms:
            self.book.advance(self.now_ms)
