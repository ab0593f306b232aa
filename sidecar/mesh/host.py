"""What the mesh needs from the node around it.

The node's :class:`~sidecar.mesh.peers.Peers` provides it; tests may provide their own.
"""

from __future__ import annotations

from typing import Protocol

from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import Identity
from sidecar.mesh.replica import Replica
from sidecar.mesh.roster import Roster


class MeshHost(Protocol):
    """What the mesh needs from the node around it."""

    @property
    def identity(self) -> Identity:
        """The node's key."""

    @property
    def replica(self) -> Replica:
        """Every member's feed as held here."""

    def roster(self) -> Roster:
        """The roster in force now."""

    def now_ms(self) -> int:
        """The node's clock."""

    def count_rejection(self, reason: str) -> None:
        """Count refused input by reason."""

    def stored(self, entries: list[Entry], ticket: int, pushed: bool) -> None:
        """Entries from peers were queued for storage (``ticket`` is the last)."""

    def statement(self, statement: Statement, peer: bytes) -> None:
        """A verified checkpoint or cosignature from a peer."""

    def equivocation(self, held: Entry, other: Entry) -> None:
        """Proof that a member signed two entries with one seq."""

    def links_changed(self) -> None:
        """A peer came or went."""
