"""The node's side of the mesh: what it does with what its peers send.

Entries from peers are committed in groups and handed on to the node; a peer's
checkpoint is stored and cosigned once the entries it signs are held here, and a
cosignature of this node's checkpoint counts towards it being witnessed; proof that a
member equivocated, or signed a checkpoint its entries contradict, is reported.
PROTOCOL.md section 14.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import Identity
from sidecar.mesh.link import Limits
from sidecar.mesh.membership import Membership
from sidecar.mesh.mesh import Mesh
from sidecar.mesh.replica import Replica
from sidecar.mesh.report import EQUIVOCATION, VERIFICATION_FAILED, Integrity, Schedule
from sidecar.mesh.roster import Roster
from sidecar.mesh.witness import Witness
from sidecar.storage.faults import StorageFault
from sidecar.storage.gate import Gate
from sidecar.storage.writer import StorageError

_LOGGER = logging.getLogger(__name__)
# Peers' entries are committed at most this often: at building scale entries arrive
# one by one from many peers, and one commit (and fsync) for each would cost more than
# taking them in. A few entries a commit at 50 flats, dozens at 200, for ≤ 20 ms.
ARRIVALS_COMMIT_GAP_S: Final = 0.02


class Peers:
    """The mesh's host: links to the members, and what arrives over them."""

    def __init__(
        self,
        *,
        identity: Identity,
        membership: Membership,
        replica: Replica,
        witness: Witness,
        gate: Gate,
        integrity: Integrity,
        reports: Schedule,
        clock: Callable[[], int],
        rejected: Counter[str],
        arrived: Callable[[Entry], None],
        limits: Limits,
        dial: dict[str, str],
    ) -> None:
        self.identity = identity
        self.membership = membership
        self.replica = replica
        self.witness = witness
        self.gate = gate
        self.integrity = integrity
        self.reports = reports
        self.clock = clock
        self.rejected = rejected
        self.arrived = arrived
        self.mesh = Mesh(self, limits, dial)
        self._committing: list[tuple[list[Entry], int]] = []
        self._commit_soon: asyncio.Handle | None = None
        self._commit_running = False
        self._last_commit = 0.0
        self._background: set[asyncio.Task[None]] = set()

    # -- what the mesh asks of its host ------------------------------------------------

    def roster(self) -> Roster:
        """The roster in force."""
        return self.membership.roster

    def now_ms(self) -> int:
        """The node's clock, ms."""
        return self.clock()

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    def stored(self, entries: list[Entry], ticket: int, pushed: bool) -> None:
        """Entries from peers were queued; hand them on, cosign what they complete."""
        self._committing.append((entries if pushed else [], ticket))
        self._schedule_commit()
        now = self.clock()
        authors: set[bytes] = set()
        for entry in entries:
            authors.add(entry.author)
            self.arrived(entry)
        for author in authors:
            for cosign in self.witness.caught_up(author, now):
                self._store_cosign(cosign)
        self._report_failures()

    def statement(self, statement: Statement, peer: bytes) -> None:
        """A checkpoint or cosignature from a peer."""
        del peer
        author_no = self.replica.heads[statement.author].number
        writer = self.gate.writer
        if statement.kind == kinds.CHECKPOINT:
            self.gate.guarded(
                lambda: writer.add_statement(author_no, author_no, statement)
            )
            cosign = self.witness.checkpoint(statement, self.clock())
            if cosign is not None:
                self._store_cosign(cosign)
            self._report_failures()
        elif statement.kind == kinds.COSIGN:
            log = bytes.fromhex(str(statement.content["log"]))
            held = self.replica.heads.get(log)
            if held is None:
                raise InvalidData("non_member", "a cosignature of an unknown log")
            self.gate.guarded(
                lambda: writer.add_statement(author_no, held.number, statement)
            )
            if self.witness.cosignature(statement):
                self.reports.soon()

    def equivocation(self, held: Entry, other: Entry) -> None:
        """Record and spread proof that a member signed two entries with one seq."""
        roster = self.membership.roster
        if self.integrity.add(EQUIVOCATION, held.author, roster, seq=held.seq):
            member = roster.member(held.author)
            _LOGGER.error(
                "Flat %s signed two different entries with seq %d; kept as evidence",
                member.flat if member else held.author.hex()[:16],
                held.seq,
            )
            self.reports.soon()
        self.mesh.gossip_evidence(held, other)

    def links_changed(self) -> None:
        """A peer link came up or went down."""
        self.reports.soon()

    # -- what the node asks ------------------------------------------------------------

    def connected(self) -> bool:
        """Whether this node reaches its group: a peer is linked, or it is alone."""
        return len(self.membership.roster.members) < 2 or bool(self.mesh.links)

    def stop(self) -> None:
        """Leave what arrived to the writer, which stores all that is queued."""
        if self._commit_soon is not None:
            self._commit_soon.cancel()

    # -- internals ---------------------------------------------------------------------

    def _report_failures(self) -> None:
        """Report checkpoints the witness found contradicting their entries."""
        while self.witness.failures:
            author, detail = self.witness.failures.pop()
            roster = self.membership.roster
            if self.integrity.add(VERIFICATION_FAILED, author, roster, detail=detail):
                member = roster.member(author)
                _LOGGER.error("Flat %s: %s", member.flat if member else "?", detail)
                self.reports.soon()

    def _store_cosign(self, cosign: Statement) -> None:
        log = bytes.fromhex(str(cosign.content["log"]))
        own_no = self.gate.feed.author_no
        log_no = self.replica.heads[log].number
        writer = self.gate.writer
        self.gate.guarded(lambda: writer.add_statement(own_no, log_no, cosign))
        self.mesh.send_statement(log, cosign)

    def _schedule_commit(self) -> None:
        """Group commit for peers' entries.

        With no commit of arrivals under way, what came in is committed at the end of
        this loop turn, or ``ARRIVALS_COMMIT_GAP_S`` after the previous commit of
        arrivals began if that is later; while one is under way, arrivals wait for it
        and then go together in the next. A node that receives little adds no delay,
        and a busy one makes one commit (and fsync) per batch instead of per frame.
        """
        if self._committing and self._commit_soon is None and not self._commit_running:
            loop = asyncio.get_running_loop()
            wait = self._last_commit + ARRIVALS_COMMIT_GAP_S - loop.time()
            self._commit_soon = loop.call_later(max(0.0, wait), self._commit)

    def _commit(self) -> None:
        self._commit_soon = None
        self._last_commit = asyncio.get_running_loop().time()
        arrived, self._committing = self._committing, []
        self._commit_running = True
        task = asyncio.create_task(self._durable(arrived))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _durable(self, arrived: list[tuple[list[Entry], int]]) -> None:
        try:
            # Held back by a full disk, they commit later: no latency to note then.
            with contextlib.suppress(StorageError, StorageFault):
                await self.gate.writer.durable(max(ticket for _, ticket in arrived))
                for pushed, _ in arrived:
                    self.mesh.note_latency(pushed)
        finally:
            self._commit_running = False
            self._schedule_commit()
