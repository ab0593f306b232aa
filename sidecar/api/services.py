"""What the local API's messages do: the node's services to its Home Assistant.

Each method answers one message of PROTOCOL.md section 12 (see
:class:`~sidecar.api.server.Services`) with the node's parts: samples become flows in
the own feed, checkpoints and proofs come from it, roster changes and group requests
are appended to it, and the state of the mesh is reported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar import __version__
from sidecar.api.proofs import prove
from sidecar.config import Config
from sidecar.coordination.clock import CoordinationClock
from sidecar.ledger import kinds
from sidecar.ledger.canonical import CanonicalError
from sidecar.ledger.etp import Entry
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.identity import Identity
from sidecar.ledger.samples import Rejection, SampleChecker, SampleRejected
from sidecar.mesh import roster as roster_module
from sidecar.mesh.checkpoints import Checkpoints
from sidecar.mesh.membership import Membership
from sidecar.mesh.peers import Peers
from sidecar.mesh.roster import RosterError
from sidecar.storage import store
from sidecar.storage.gate import Gate


@dataclass(slots=True)
class NodeServices:
    """The :class:`~sidecar.api.server.Services` of a running node."""

    config: Config
    identity: Identity
    clock: Callable[[], int]
    gate: Gate
    checker: SampleChecker
    builder: FlowBuilder
    rejected: Counter[str]
    membership: Membership
    peers: Peers
    checkpoints: Checkpoints
    coordination: CoordinationClock
    samples_accepted: int = 0
    entries_written: int = 0

    def welcome(self, serial: str | None) -> dict[str, Any]:
        """Members of the ``welcome`` reply; remembers the device serial."""
        if serial:
            self.builder.serial = serial
        return {
            "author": self.identity.author.hex(),
            "building": self.config.building,
            "floor": self.config.floor,
            "flat": self.config.flat,
            "interval_ms": self.config.interval_ms,
            "next_seq": self.gate.feed.seq + 1,
            "sidecar": __version__,
        }

    async def sample(
        self, message: dict[str, object]
    ) -> tuple[list[Rejection], list[Entry]]:
        """Check a sample, append completed intervals as flows, wait until durable."""
        now = self.clock()
        try:
            sample, dropped = self.checker.check(message, now)
        except SampleRejected as refused:
            self.count_rejection(refused.rejection.reason)
            raise
        for rejection in dropped:
            self.count_rejection(rejection.reason)
        self.samples_accepted += 1
        self.coordination.observe(sample)
        entries: list[Entry] = []
        ticket = 0
        for content in self.builder.add(sample):
            entry, ticket = self.gate.append(kinds.FLOW, content, now)
            entries.append(entry)
        if entries:
            await self.gate.durable(ticket)
            self.entries_written += len(entries)
        return dropped, entries

    async def checkpoint(self) -> dict[str, Any]:
        """A signed checkpoint of the current tree; the same while it has not grown."""
        return await self.checkpoints.sign()

    async def proof(self, request: dict[str, object]) -> dict[str, Any]:
        """An inclusion or consistency proof against the latest checkpoint."""
        return await asyncio.to_thread(self._proof, request)

    def status(self) -> dict[str, Any]:
        """Counters for the ``status`` reply."""
        feed = self.gate.feed
        return {
            "author": self.identity.author.hex(),
            "next_seq": feed.seq + 1,
            "samples_accepted": self.samples_accepted,
            "rejected": dict(self.rejected),
            "entries_written": self.entries_written,
            "checkpoint_size": feed.checkpoint_size,
            "mesh": self.peers.status(),
        }

    def greeting(self) -> list[dict[str, Any]]:
        """Messages sent to Home Assistant right after ``welcome``."""
        return [self.peers.report()]

    def availability(self, message: dict[str, object]) -> None:
        """Keep Home Assistant's newest availability for the next round's entry."""
        self.coordination.take_availability(message)

    async def dispatch_request(self, message: dict[str, object]) -> dict[str, Any]:
        """Record a group discharge (or charge) request; the ``dispatch`` reply."""
        return await self.coordination.request(message)

    async def dispatch_cancel(self, message: dict[str, object]) -> dict[str, Any]:
        """Cancel the named (or the running) group event; the reply."""
        return await self.coordination.cancel(message)

    def mesh_stats(self) -> dict[str, Any]:
        """Replication latencies measured here (for benchmarks and diagnosis)."""
        return {"latencies_ms": list(self.peers.mesh.latencies)}

    async def submit_roster(self, message: dict[str, object]) -> dict[str, Any]:
        """Append an approved roster change to this node's feed."""
        proposed, body = self.membership.proposal(message, self.clock())
        try:
            entry, ticket = self.gate.append(roster_module.ROSTER, body, self.clock())
        except CanonicalError as err:
            raise RosterError(
                "too_large", f"{err.detail}; approvals beyond a majority can go"
            ) from err
        await self.gate.durable(ticket)
        self.membership.seen(entry)
        return {
            "type": "roster",
            "version": proposed.version,
            "effective": proposed.effective,
            "seq": entry.seq,
        }

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    def _proof(self, request: dict[str, object]) -> dict[str, Any]:
        conn = store.connect(self.config.db_path, readonly=True)
        try:
            return prove(conn, self.gate.feed.author_no, request)
        finally:
            conn.close()
