"""The running sidecar: its parts, wired together, and the work the clock drives.

The parts live in their packages: the own feed behind the durability gate
(:mod:`sidecar.storage`), the members, their feeds and the links to them
(:mod:`sidecar.mesh`), group discharge and outage support (:mod:`sidecar.coordination`)
and the local API (:mod:`sidecar.api`). The node opens the database, builds the parts
in order, routes what one part produces to the others, and runs the periodic duties:
rollups at period boundaries, checkpoints while the feed grows, retention, roster
changes that come due, and the ``mesh`` reports.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from aiohttp import web

from sidecar.api.listener import listen
from sidecar.api.roster_routes import RosterVoting
from sidecar.api.server import LocalApi
from sidecar.api.services import NodeServices
from sidecar.apps.attached import Applications
from sidecar.config import DAY_MS, HOUR_MS, Config
from sidecar.coordination.clock import CoordinationClock
from sidecar.coordination.planner import Settings
from sidecar.ledger import resume
from sidecar.ledger.etp import Entry
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.identity import Identity, KeyRing
from sidecar.ledger.samples import SampleChecker
from sidecar.mesh.announce import Announcer
from sidecar.mesh.checkpoints import Checkpoints
from sidecar.mesh.link import Limits
from sidecar.mesh.membership import Membership
from sidecar.mesh.peers import Peers
from sidecar.mesh.replica import Replica
from sidecar.mesh.report import EQUIVOCATION, Integrity, Schedule
from sidecar.mesh.roster import ROSTER, Member, Roster
from sidecar.mesh.witness import Witness
from sidecar.storage import faults, retention, store
from sidecar.storage.faults import StorageFault
from sidecar.storage.feed import Feed
from sidecar.storage.gate import Gate
from sidecar.storage.writer import StorageError, Writer

_LOGGER = logging.getLogger(__name__)
TICK_S: Final = 0.5
RETENTION_EVERY_S: Final = 60.0
MESH_REPORT_MIN_S: Final = 1.0
START_WRITE_TIMEOUT_S: Final = 30.0


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Parts:
    """The parts a node builds once its database is open."""

    gate: Gate
    replica: Replica
    witness: Witness
    coordination: CoordinationClock
    peers: Peers
    checkpoints: Checkpoints
    services: NodeServices
    api: LocalApi


class Node:
    """One flat's ledger node."""

    def __init__(
        self,
        config: Config,
        identity: Identity,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config = config
        self.identity = identity
        self.clock = clock
        self.writer = Writer(config.db_path, sync=config.sync)
        self.failed = asyncio.Event()
        self.rejected: Counter[str] = Counter()
        self.policy = retention.Policy(
            flows_ms=round(config.flow_hours * HOUR_MS),
            hourly_ms=round(config.hourly_days * DAY_MS),
            daily_ms=round(config.daily_days * DAY_MS),
        )
        # Until a roster file says otherwise, the node is a building of one.
        own = Member(
            config.flat,
            config.floor,
            identity.public_key,
            f"{config.host}:{config.port}",
        )
        self.membership = Membership(
            Roster(config.building, 1, (own,)), identity.author, self.count_rejection
        )
        self.integrity = Integrity()
        self.reports = Schedule()
        self.announcer = Announcer()
        self.apps = Applications(config, identity, clock)
        self.port = 0
        self._parts: Parts | None = None
        self._reader: sqlite3.Connection | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def parts(self) -> Parts:
        """The node's parts (after start)."""
        assert self._parts is not None, "the node is not started"
        return self._parts

    @property
    def feed(self) -> Feed:
        """The node's own feed (after start)."""
        return self.parts.gate.feed

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    async def start(self) -> None:
        """Open the ledger, build the parts and start listening."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store.create(config.db_path, config.building, self.identity.public_key)
        self.writer.start()
        self._check_writable()
        self._reader = reader = store.connect(config.db_path, readonly=True)
        if config.roster_file is not None:
            self.membership.load(config.roster_file)
        self._parts = parts = await self._assemble(reader)
        # Roster proposals and approvals from Home Assistant, counted from every feed.
        self.voting = RosterVoting(parts.services, self.clock)
        self.voting.load(reader)
        parts.gate.on_durable.append(self.voting.seen)
        for author, seq in store.conflicted(reader):
            self.integrity.add(EQUIVOCATION, author, self.membership.roster, seq=seq)
        stored = store.entries_of_kinds(reader, (ROSTER,))
        for entry in sorted(stored, key=lambda item: int(str(item.content["version"]))):
            self.membership.seen(entry)
        self._apply_due_roster()
        parts.coordination.load(reader)
        self.apps.battery.attach(parts.gate.append)  # its daily summaries
        await self._listen(parts)
        await parts.peers.mesh.start()
        if config.announce:
            await self.announcer.start(
                host=config.host,
                port=self.port,
                building=config.building,
                floor=config.floor,
                flat=config.flat,
                author=self.identity.author,
                serial=config.device_serial,
            )
        self._tasks = [
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._retention()),
            asyncio.create_task(self._mesh_reports()),
            asyncio.create_task(parts.coordination.run()),
        ]
        _LOGGER.info(
            "Ledger of flat %s (building %s) at seq %d; author %s",
            config.flat,
            config.building,
            self.feed.seq,
            self.identity.author.hex(),
        )

    def _check_writable(self) -> None:
        """Make one real write before listening, so a bad disk is known at once.

        A full or read-only disk does not stop the node: it starts, serves reads and
        the mesh, refuses samples, and writes again once the disk takes writes.
        """
        self.writer.call(partial(store.note_start, now_ms=self.clock()))
        try:
            self.writer.flush(timeout=START_WRITE_TIMEOUT_S)
        except StorageFault as fault:
            _LOGGER.error("Starting with a store that cannot be written: %s", fault)

    async def stop(self) -> None:
        """Stop listening, write what is queued and close the database.

        Safe after a start that failed half-way. The database is closed whatever
        else fails: its writer thread would otherwise keep the process alive.
        """
        try:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks)
            if self._parts is not None:
                self._parts.peers.stop()  # the writer writes what is queued
            await self.announcer.stop()
            if self._parts is not None:
                await self._parts.peers.mesh.stop()
                await self._parts.api.close()
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            self.writer.close()
            if self._reader is not None:
                self._reader.close()

    async def serve(self, on_ready: Callable[[], None]) -> int:
        """Start, call ``on_ready``, serve until SIGTERM/SIGINT (0) or write error (1).

        The signal handlers are in place before anyone can learn that the node is
        ready, so a stop request can never arrive to find the default handler.
        """
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        on_ready()
        waiters = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self.failed.wait()),
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await self.stop()
        return 1 if self.failed.is_set() else 0

    # -- wiring ------------------------------------------------------------------------

    async def _assemble(self, reader: sqlite3.Connection) -> Parts:
        """Build the parts in the order they need each other."""
        config, identity, clock = self.config, self.identity, self.clock
        number = store.author_no(reader, identity.author)
        assert number is not None  # store.create registers the node's own key
        feed = Feed.load(
            reader, identity, config.building, self.writer, number, tz=config.timezone
        )
        gate = Gate(feed, self.failed)
        keys = [member.key for member in self.membership.roster.members]
        registered = self.writer.call(partial(store.add_authors, keys=keys))
        if self.writer.fault is None:  # else they are registered once it can write
            await asyncio.wrap_future(registered)
        ring = KeyRing()
        replica = Replica(
            reader, self.writer, config.building, ring, config.max_clock_skew_s * 1000
        )
        for author_no, author, key in store.authors(reader):
            ring.add(key)
            replica.load(author, author_no)
        witness = Witness(identity, config.building, replica, self.membership.majority)
        peers = Peers(
            identity=identity,
            membership=self.membership,
            replica=replica,
            witness=witness,
            gate=gate,
            integrity=self.integrity,
            reports=self.reports,
            clock=clock,
            rejected=self.rejected,
            arrived=self._from_peer,
            limits=Limits(
                max_frame_bytes=config.max_frame_bytes,
                frames_per_s=float(config.peer_frames_per_s),
                burst=4.0 * config.peer_frames_per_s,
                max_skew_ms=config.max_clock_skew_s * 1000,
            ),
            dial=dict(config.dial),
        )
        coordination = CoordinationClock(
            author=identity.author,
            settings=Settings(
                round_ms=config.round_ms,
                stale_ms=config.stale_ms,
                revert_s=config.revert_s,
                local_peak_w=config.local_peak_w,
                max_power_w=config.max_power_w,
                max_clock_skew_ms=config.max_clock_skew_s * 1000,
            ),
            gate=gate,
            clock=clock,
            members=self.membership.authors,
            connected=peers.connected,
            notify=self._notify,
            count_rejection=self.count_rejection,
        )
        checkpoints = Checkpoints(
            gate=gate,
            witness=witness,
            mesh=peers.mesh,
            membership=self.membership,
            clock=clock,
            interval_s=config.checkpoint_interval_s,
        )
        # Every own entry, once durable: the replica's head of it, coordination, the
        # peers. Before its commit no other part sees it.
        own = replica.heads[identity.author]
        replica.own = feed
        gate.on_durable = [own.advance, coordination.appended, peers.mesh.publish]
        self.apps.start(reader, gate, self.membership)
        share = None if feed.last_flow is None else feed.last_flow.get("bat_ren")
        last_end = None if feed.last_flow is None else feed.last_flow.get("end")
        resumed = (
            resume.load(resume.path_in(config.data_dir), last_end)
            if isinstance(last_end, int)
            else None
        )
        services = NodeServices(
            config=config,
            identity=identity,
            clock=clock,
            gate=gate,
            checker=SampleChecker(
                max_power_w=config.max_power_w,
                max_skew_ms=config.max_clock_skew_s * 1000,
                max_age_ms=config.max_sample_age_s * 1000,
                device_speed=config.device_speed,
                signed_until=None if resumed is None else resumed.end,
            ),
            builder=FlowBuilder(
                interval_ms=config.interval_ms,
                grid_ren_ppm=config.grid_renewable_ppm,
                floor=config.floor,
                flat=config.flat,
                serial=config.device_serial,
                battery_share_ppm=share if isinstance(share, int) else None,
                resume=resumed,
            ),
            rejected=self.rejected,
            membership=self.membership,
            peers=peers,
            checkpoints=checkpoints,
            coordination=coordination,
        )
        api = LocalApi(services, config.api_token)
        return Parts(
            gate, replica, witness, coordination, peers, checkpoints, services, api
        )

    async def _listen(self, parts: Parts) -> None:
        routes = [*self.apps.routes(parts.api.refusal), self.voting.add_routes]
        self._runner, self.port = await listen(
            self.config, parts.api, parts.peers.mesh, self.count_rejection, routes
        )

    def _from_peer(self, entry: Entry) -> None:
        """An entry a peer sent, queued for storage: hand it to whoever acts on it."""
        self.parts.coordination.arrived(entry)
        self.membership.seen(entry)
        self.voting.seen(entry)
        self.parts.witness.declared(entry)
        self.apps.arrived(entry)

    async def _notify(self, message: dict[str, Any]) -> None:
        await self.parts.api.notify(message)

    def _apply_due_roster(self) -> None:
        """Put a roster change in force once its time has come."""
        proposed = self.membership.take_due(self.clock())
        if proposed is None:
            return
        self.parts.replica.admit([member.key for member in proposed.members])
        self.membership.put_in_force(proposed)
        self.parts.peers.mesh.roster_changed()
        self.reports.soon()

    # -- the work the clock drives -----------------------------------------------------

    async def _ticker(self) -> None:
        feed, checkpoints = self.feed, self.parts.checkpoints
        checkpoints.schedule(random.random())
        while True:
            await asyncio.sleep(TICK_S)
            if self.writer.fault is not None:
                continue  # rollups and checkpoints wait until the disk takes them
            try:
                tickets = feed.roll(self.clock())
                self.apps.tick()
                due = checkpoints.due()
                if due:
                    checkpoints.declare_witnessed()
                if due and feed.seq > feed.checkpoint_size:
                    await checkpoints.sign()
                elif tickets:
                    await self.parts.gate.durable(tickets[-1])
            except StorageError as err:
                _LOGGER.error(
                    "Stopping: the ledger database cannot be written: %s", err
                )
                self.failed.set()
                return

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
            if self.writer.fault is not None:
                continue
            job = partial(retention.prune, now_ms=self.clock(), policy=self.policy)
            try:
                pruned = await asyncio.wrap_future(self.writer.call(job))
            except retention.RetentionError as err:
                _LOGGER.error("Retention skipped: %s", err)
                continue
            except StorageError as err:
                _LOGGER.error(
                    "Stopping: the ledger database cannot be written: %s", err
                )
                self.failed.set()
                return
            if pruned.entries:
                _LOGGER.info("Retention folded %d entries into rollups", pruned.entries)

    async def _mesh_reports(self) -> None:
        fault = self.writer.fault
        while True:
            await asyncio.sleep(MESH_REPORT_MIN_S)
            if self.writer.fault != fault:
                fault = self.writer.fault  # Home Assistant raises or clears a repair
                self.reports.soon()
            if fault == faults.READONLY and faults.writable_again(self.config.db_path):
                _LOGGER.error(
                    "Stopping: the store can be written again, but this process "
                    "opened it read-only; started afresh, the node writes again"
                )
                self.failed.set()
                return
            self._apply_due_roster()
            if self.reports.take():
                await self.parts.api.notify(self.parts.services.mesh_report())
