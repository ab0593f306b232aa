"""What the local API's messages do: the node's services to its Home Assistant.

Each method answers one message of PROTOCOL.md section 12 (see
:class:`~sidecar.api.server.Services`) with the node's parts: samples become flows in
the own feed, checkpoints and proofs come from it, roster changes and group requests
are appended to it, and the state of the mesh is reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import NoReturn

from sidecar import __version__
from sidecar.api import messages
from sidecar.api.proofs import prove
from sidecar.config import Config
from sidecar.coordination.clock import CoordinationClock
from sidecar.coordination.intake import DispatchRejected
from sidecar.ledger import kinds, resume
from sidecar.ledger.battery_state import BATTERY_STATE, BatteryStates
from sidecar.ledger.canonical import CanonicalError
from sidecar.ledger.etp import Entry
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.identity import Identity
from sidecar.ledger.kinds.periods import zone
from sidecar.ledger.quality import FlowQuality, QualityTally
from sidecar.ledger.samples import Rejection, SampleChecker, SampleRejected
from sidecar.mesh import roster as roster_module
from sidecar.mesh.checkpoints import Checkpoints
from sidecar.mesh.membership import Membership
from sidecar.mesh.peers import Peers
from sidecar.mesh.roster import RosterError
from sidecar.storage import store
from sidecar.storage.faults import StorageFault, describe
from sidecar.storage.gate import Gate

_LOG = logging.getLogger(__name__)


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
    battery_states: BatteryStates = field(default_factory=BatteryStates)
    # Days of the building's time zone (``[node] timezone``), set from the config.
    tally: QualityTally = field(init=False)

    def __post_init__(self) -> None:
        """Count flow quality per day of the configured time zone."""
        self.tally = QualityTally(zone=zone(self.config.timezone))

    def welcome(self, hello: messages.Hello) -> messages.Welcome:
        """The ``welcome`` reply; remembers the device serial the hello names."""
        if hello.serial:
            self.builder.serial = hello.serial
        return messages.Welcome(
            author=self.identity.author.hex(),
            building=self.config.building,
            floor=self.config.floor,
            flat=self.config.flat,
            interval_ms=self.config.interval_ms,
            next_seq=self.gate.feed.seq + 1,
            sidecar=__version__,
        )

    async def sample(
        self, message: dict[str, object]
    ) -> tuple[list[Rejection], list[Entry]]:
        """Check a sample, append completed intervals as flows, wait until durable.

        While the disk cannot be written the sample is refused with the fault's
        reason (``storage_full``, ``storage_readonly``). A sample whose flows were
        queued when the fault began is refused too, but its flows are not lost:
        they are written, and then served, once the disk takes them.
        """
        now = self.clock()
        if (fault := self.gate.fault) is not None:
            self._refuse_for_storage(fault)
        try:
            accepted = messages.parse_sample(message, self.checker, now)
        except SampleRejected as refused:
            self.count_rejection(refused.rejection.reason)
            raise
        for rejection in accepted.dropped:
            self.count_rejection(rejection.reason)
        self.samples_accepted += 1
        self.coordination.observe(accepted.sample)
        entries: list[Entry] = []
        ticket = 0
        for content in self.builder.add(accepted.sample):
            entry, ticket = self.gate.append(kinds.FLOW, content, now)
            entries.append(entry)
            self.tally.note(content)
        state = self.battery_states.take(
            message, accepted.sample.ts, self.builder.serial
        )
        if state is not None:
            # Durable with the flows; acknowledged to Home Assistant as they are not.
            _state, ticket = self.gate.append(BATTERY_STATE, state, now)
        if ticket:
            try:
                await self.gate.durable(ticket, tell_fault=True)
            except StorageFault as held:
                self._refuse_for_storage(held.reason)
            self.entries_written += len(entries)
            self._keep_position()
        return list(accepted.dropped), entries

    def _refuse_for_storage(self, reason: str) -> NoReturn:
        self.count_rejection(reason)
        raise SampleRejected(Rejection(reason, describe(reason)))

    def _keep_position(self) -> None:
        """Remember where the durable flows end, for the next start (ledger.resume)."""
        closed = self.builder.closed
        if closed is None:
            return
        try:
            resume.save(resume.path_in(self.config.data_dir), closed)
        except OSError as err:
            # Without it a restart books the time until the next sample as unknown.
            self.count_rejection("position_not_saved")
            _LOG.warning("cannot keep the flow position: %s", err)

    async def checkpoint(self) -> messages.CheckpointReply:
        """A signed checkpoint of the current tree; the same while it has not grown."""
        return messages.CheckpointReply(await self.checkpoints.sign())

    async def proof(self, request: messages.ProofRequest) -> messages.ProofReply:
        """An inclusion or consistency proof against the latest checkpoint."""
        return await asyncio.to_thread(self._proof, request)

    def status(self) -> messages.Status:
        """Counters for the ``status`` reply, and the mesh as this node sees it."""
        feed = self.gate.feed
        peers = self.peers
        mesh = self.mesh_report()
        return messages.Status(
            author=self.identity.author.hex(),
            next_seq=feed.seq + 1,
            samples_accepted=self.samples_accepted,
            # The writer's refusals too (rows it left out); a copy taken at once,
            # as the writer thread counts them.
            rejected=dict(self.rejected + Counter(dict(self.gate.writer.rejected))),
            entries_written=self.entries_written,
            checkpoint_size=feed.checkpoint_size,
            storage=self.gate.fault,
            flow_quality=self.flow_quality(),
            mesh=messages.StatusMesh(
                **{item.name: getattr(mesh, item.name) for item in fields(mesh)},
                heads=peers.replica.vector(),
                counters=dict(peers.mesh.counters),
                cosigned=peers.witness.cosigned,
                dropped_frames=sum(link.dropped for link in peers.mesh.links.values()),
            ),
        )

    def flow_quality(self) -> FlowQuality:
        """Today's flows by quality, and since when the flat's ledger estimates."""
        return self.tally.report()

    def mesh_report(self) -> messages.Mesh:
        """The ``mesh`` message: members online, the witnessed head, integrity."""
        roster = self.membership.roster
        me = self.identity.author
        online = self.peers.mesh.online()
        own = self.peers.witness.witnessed.get(me)
        integrity = self.peers.integrity
        return messages.Mesh(
            roster_version=roster.version,
            roster_size=len(roster.members),
            peers_online=len(online),
            peers=tuple(
                messages.Peer(
                    member.flat,
                    member.floor,
                    member.author.hex(),
                    member.author in online,
                )
                for member in roster.members
                if member.author != me
            ),
            witnessed=None
            if own is None
            else messages.Witnessed(own.size, own.ts, max(0, self.clock() - own.ts)),
            integrity=integrity.verdict(),
            storage=self.gate.fault,
            problems=tuple(
                messages.Problem(
                    item.kind, item.author.hex(), item.flat, item.seq, item.detail
                )
                for item in integrity.problems.values()
            ),
        )

    def greeting(self) -> list[messages.Outgoing]:
        """Messages sent to Home Assistant right after ``welcome``."""
        return [self.mesh_report()]

    def availability(self, message: dict[str, object]) -> None:
        """Keep Home Assistant's newest availability for the next round's entry."""
        messages.parse_availability(message, self.coordination.coordinator)
        self.coordination.keep_availability(message)

    async def dispatch_request(
        self, message: dict[str, object]
    ) -> messages.DispatchReply:
        """Record a group discharge (or charge) request; the ``dispatch`` reply."""
        if not self.peers.connected():
            raise DispatchRejected(
                "no_mesh", "no other flat is reachable; the request would reach no one"
            )
        now = self.clock()
        request = messages.parse_dispatch_request(
            message, now_ms=now, group_w=self.coordination.coordinator.group_w(now)
        )
        entry = await self.coordination.dispatch(request.content, now)
        until = request.content["end"]
        assert isinstance(until, int)  # dispatch_content makes it
        return messages.DispatchReply(entry.id.hex(), until)

    async def dispatch_cancel(
        self, message: dict[str, object]
    ) -> messages.DispatchCancelled:
        """Cancel the named (or the running) group event; the reply."""
        event = messages.parse_dispatch_cancel(message).event
        if event is None:
            event = self.coordination.coordinator.running_event()
            if event is None:
                return messages.DispatchCancelled(None)
        await self.coordination.cancel(event)
        return messages.DispatchCancelled(event.hex())

    def mesh_stats(self) -> messages.MeshStats:
        """Replication latencies measured here (for benchmarks and diagnosis)."""
        return messages.MeshStats(tuple(self.peers.mesh.latencies))

    async def submit_roster(
        self, request: messages.RosterSubmit
    ) -> messages.RosterReply:
        """Append an approved roster change to this node's feed."""
        proposed, body = self.membership.proposal(
            request.proposal, list(request.approvals), self.clock()
        )
        try:
            entry, ticket = self.gate.append(roster_module.ROSTER, body, self.clock())
        except CanonicalError as err:
            raise RosterError(
                "too_large", f"{err.detail}; approvals beyond a majority can go"
            ) from err
        await self.gate.durable(ticket)
        self.membership.seen(entry)
        return messages.RosterReply(proposed.version, proposed.effective, entry.seq)

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    def _proof(self, request: messages.ProofRequest) -> messages.ProofReply:
        conn = store.connect(self.config.db_path, readonly=True)
        try:
            return prove(conn, self.gate.feed.author_no, request)
        finally:
            conn.close()
