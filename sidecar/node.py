"""The running sidecar: storage, the feed, the local API and the periodic work.

It wires the parts together and owns the clock-driven duties: rollups at period
boundaries, checkpoints while the feed grows, and retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from aiohttp import web

from sidecar import __version__
from sidecar.api.server import LocalApi
from sidecar.config import DAY_MS, HOUR_MS, Config
from sidecar.coordination import kinds as coordination_kinds
from sidecar.coordination.bus.ledger import BusLedger
from sidecar.coordination.planner import (
    AvailabilityRejected,
    Coordinator,
    DispatchRejected,
    Settings,
    dispatch_content,
)
from sidecar.coordination.view import CoordinationView
from sidecar.ledger import canonical, etp, kinds, merkle
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.identity import Identity, KeyRing
from sidecar.ledger.samples import Rejection, SampleChecker, SampleRejected
from sidecar.mesh import roster as roster_module
from sidecar.mesh.announce import Announcer
from sidecar.mesh.mesh import Limits, Mesh
from sidecar.mesh.replica import Replica
from sidecar.mesh.roster import Member, Roster, RosterError
from sidecar.mesh.witness import TreeHead, Witness
from sidecar.storage import retention, store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import StorageError, Writer

_LOGGER = logging.getLogger(__name__)
TICK_S: Final = 0.5
RETENTION_EVERY_S: Final = 60.0
MESH_REPORT_EVERY_S: Final = 10.0
MESH_REPORT_MIN_S: Final = 1.0
SHUTDOWN_TIMEOUT_S: Final = 2.0
DECLARE_EVERY_S: Final = 30.0
PUBLISH_AFTER_S: Final = 0.02  # into a round: after the boundary, on every clock


class MembershipError(Exception):
    """The node's key or building does not match the roster it was given."""


class ListenError(Exception):
    """The node cannot listen where its configuration says (port taken, bad host)."""


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


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
        self.checker = SampleChecker(
            max_power_w=config.max_power_w,
            max_skew_ms=config.max_clock_skew_s * 1000,
            max_age_ms=config.max_sample_age_s * 1000,
        )
        self.policy = retention.Policy(
            flows_ms=round(config.flow_hours * HOUR_MS),
            hourly_ms=round(config.hourly_days * DAY_MS),
        )
        self.api = LocalApi(self, config.api_token)
        self.rejected: Counter[str] = Counter()
        self.samples_accepted = 0
        self.entries_written = 0
        self.failed = asyncio.Event()
        self._reader: sqlite3.Connection | None = None
        self._feed: Feed | None = None
        self._builder: FlowBuilder | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._checkpoint_due_at = 0.0
        self._latest_checkpoint: etp.Statement | None = None
        self.port = 0
        self.keys = KeyRing()
        self._roster: Roster = Roster(
            config.building,
            1,
            (
                Member(
                    config.flat,
                    config.floor,
                    identity.public_key,
                    f"{config.host}:{config.port}",
                ),
            ),
        )
        self._next_roster: tuple[Roster, int] | None = None
        self._replica: Replica | None = None
        self._witness: Witness | None = None
        self.mesh = Mesh(
            self,
            Limits(
                max_frame_bytes=config.max_frame_bytes,
                frames_per_s=float(config.peer_frames_per_s),
                burst=4.0 * config.peer_frames_per_s,
                max_skew_ms=config.max_clock_skew_s * 1000,
            ),
            dict(config.dial),
        )
        self.problems: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._declared: dict[str, Any] | None = None
        self._declared_at_seq = 0
        self._declared_at = -DECLARE_EVERY_S
        self._background: set[asyncio.Task[None]] = set()
        self._arrived: list[tuple[list[Entry], int]] = []
        self._arrival_flush: asyncio.Handle | None = None
        self._arrivals_committing = False
        self.view = CoordinationView(
            members=self._member_authors,
            mesh_up=lambda: len(self._roster.members) < 2 or bool(self.mesh.links),
            own_grid_w=lambda: self._grid_w,
            clock=clock,
        )
        self.coordinator = Coordinator(
            identity.author,
            self.view,
            clock,
            Settings(
                round_ms=config.round_ms,
                stale_ms=config.stale_ms,
                revert_s=config.revert_s,
                local_peak_w=config.local_peak_w,
                max_power_w=config.max_power_w,
                max_clock_skew_ms=config.max_clock_skew_s * 1000,
            ),
        )
        self._availability: dict[str, object] | None = None
        self.bus_ledger = BusLedger(identity.author)
        self.announcer = Announcer()
        self._grid_w: int | None = None
        self._mesh_report_at = 0.0
        self._mesh_report_due = False

    @property
    def feed(self) -> Feed:
        """The node's own feed (after start)."""
        assert self._feed is not None, "the node is not started"
        return self._feed

    @property
    def replica(self) -> Replica:
        """Every member's feed as held here (after start)."""
        assert self._replica is not None, "the node is not started"
        return self._replica

    @property
    def witness(self) -> Witness:
        """Checkpoint witnessing (after start)."""
        assert self._witness is not None, "the node is not started"
        return self._witness

    def roster(self) -> Roster:
        """The roster in force."""
        return self._roster

    def _member_authors(self) -> frozenset[bytes]:
        return self._roster.authors()

    def now_ms(self) -> int:
        """The node's clock, ms."""
        return self.clock()

    @property
    def builder(self) -> FlowBuilder:
        """The flow builder (after start)."""
        assert self._builder is not None, "the node is not started"
        return self._builder

    async def start(self) -> None:
        """Open the ledger, restore the feed and start listening."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store.create(config.db_path, config.building, self.identity.public_key)
        self.writer.start()
        self._reader = store.connect(config.db_path, readonly=True)
        if config.roster_file is not None:
            self._roster = self._check_membership(
                roster_module.load(config.roster_file)
            )
        number = store.author_no(self._reader, self.identity.author)
        assert number is not None  # store.create registers the node's own key
        self._feed = Feed.load(
            self._reader, self.identity, config.building, self.writer, number
        )
        await self._open_replica()
        share = (
            None
            if self._feed.last_flow is None
            else self._feed.last_flow.get("bat_ren")
        )
        self._builder = FlowBuilder(
            interval_ms=config.interval_ms,
            grid_ren_ppm=config.grid_renewable_ppm,
            floor=config.floor,
            flat=config.flat,
            serial=config.device_serial,
            battery_share_ppm=share if isinstance(share, int) else None,
        )
        app = web.Application(client_max_size=config.max_frame_bytes)
        self.api.add_routes(app)
        self.mesh.add_routes(app)
        # Handlers of links whose peer vanished must not hold a stop for a minute.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, config.host, config.port)
        try:
            await site.start()
        except OSError as err:
            reason = os.strerror(err.errno) if err.errno else str(err)
            raise ListenError(
                f"cannot listen on {config.host}:{config.port} ({reason}); "
                "is another sidecar running, or is [node] listen wrong?"
            ) from err
        self.port = int(self._runner.addresses[0][1])  # the real port when 0 was asked
        await self.mesh.start()
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
            asyncio.create_task(self._coordination()),
        ]
        _LOGGER.info(
            "Ledger of flat %s (building %s) at seq %d; author %s",
            config.flat,
            config.building,
            self._feed.seq,
            self.identity.author.hex(),
        )

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
            if self._arrival_flush is not None:
                self._arrival_flush.cancel()  # the writer writes what is queued
            await self.announcer.stop()
            await self.mesh.stop()
            await self.api.close()
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

    # -- Services for the local API ----------------------------------------------------

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
            "next_seq": self.feed.seq + 1,
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
        if sample.bus_w is not None:
            self.bus_ledger.observe(sample.ts, sample.bus_w)
        if "grid_in" in sample.power:
            self._grid_w = round(
                sample.power["grid_in"] - sample.power.get("grid_out", 0.0)
            )
        entries: list[Entry] = []
        ticket = 0
        for content in self.builder.add(sample):
            entry, ticket = self._guarded(
                partial(self.feed.append, kinds.FLOW, content, now)
            )
            entries.append(entry)
        if entries:
            await self._durable(ticket)
            self.entries_written += len(entries)
        return dropped, entries

    async def checkpoint(self) -> dict[str, Any]:
        """A signed checkpoint of the current tree, made now if the tree has grown.

        Asking again while nothing was appended returns the same checkpoint, so
        requests cannot fill the database with identical tree heads.
        """
        latest = self._latest_checkpoint
        if latest is not None and latest.content["size"] == self.feed.seq:
            return etp.statement_to_wire(latest)
        statement, ticket = self._guarded(lambda: self.feed.checkpoint(self.clock()))
        self._schedule_checkpoint(random.uniform(0.8, 1.2))
        await self._durable(ticket)
        self._latest_checkpoint = statement
        self.witness.own_checkpoint(statement)
        self.mesh.broadcast_statement(statement)
        return etp.statement_to_wire(statement)

    async def proof(self, request: dict[str, object]) -> dict[str, Any]:
        """An inclusion or consistency proof against the latest checkpoint."""
        return await asyncio.to_thread(self._proof, request)

    def status(self) -> dict[str, Any]:
        """Counters for the ``status`` reply."""
        return {
            "author": self.identity.author.hex(),
            "next_seq": self.feed.seq + 1,
            "samples_accepted": self.samples_accepted,
            "rejected": dict(self.rejected),
            "entries_written": self.entries_written,
            "checkpoint_size": self.feed.checkpoint_size,
            "mesh": {
                **self.mesh_report(),
                "heads": self.replica.vector(),
                "counters": dict(self.mesh.counters),
                "cosigned": self.witness.cosigned,
                "dropped_frames": sum(
                    link.dropped for link in self.mesh.links.values()
                ),
            },
        }

    def mesh_report(self) -> dict[str, Any]:
        """The ``mesh`` message for Home Assistant (PROTOCOL.md 12.6)."""
        online = self.mesh.online()
        me = self.identity.author
        own = self.witness.witnessed.get(me)
        now = self.clock()
        problems = list(self.problems.values())
        integrity = "ok"
        if any(p["kind"] == "verification_failed" for p in problems):
            integrity = "verification_failed"
        if any(p["kind"] == "equivocation" for p in problems):
            integrity = "equivocation"
        return {
            "type": "mesh",
            "roster_version": self._roster.version,
            "roster_size": len(self._roster.members),
            "peers_online": len(online),
            "peers": [
                {
                    "flat": member.flat,
                    "floor": member.floor,
                    "author": member.author.hex(),
                    "online": member.author in online,
                }
                for member in self._roster.members
                if member.author != me
            ],
            "witnessed": None
            if own is None
            else {"size": own.size, "ts": own.ts, "age_ms": max(0, now - own.ts)},
            "integrity": integrity,
            "problems": problems,
        }

    def greeting(self) -> list[dict[str, Any]]:
        """Messages sent to Home Assistant right after ``welcome``."""
        return [self.mesh_report()]

    def availability(self, message: dict[str, object]) -> None:
        """Keep Home Assistant's newest availability for the next round's entry."""
        self.coordinator.availability_content(message)  # refuse bad input now
        self._availability = message

    async def dispatch_request(self, message: dict[str, object]) -> dict[str, Any]:
        """Record a group discharge (or charge) request; the ``dispatch`` reply."""
        if len(self._roster.members) > 1 and not self.mesh.links:
            raise DispatchRejected(
                "no_mesh", "no other flat is reachable; the request would reach no one"
            )
        now = self.clock()
        content = dispatch_content(
            message, now_ms=now, group_w=self.coordinator.group_w(now)
        )
        entry, ticket = self._guarded(
            partial(self.feed.append, coordination_kinds.DISPATCH, content, now)
        )
        await self._durable(ticket)
        self._dispatch_arrived(entry)
        return {"type": "dispatch", "event": entry.id.hex(), "until": content["end"]}

    async def dispatch_cancel(self, message: dict[str, object]) -> dict[str, Any]:
        """Cancel the named (or the running) group event; the reply."""
        named = message.get("event")
        if named is None:
            event = self.coordinator.running_event()
            if event is None:
                return {"type": "dispatch_cancelled", "event": None}
        elif isinstance(named, str) and len(named) == 64:
            try:
                event = bytes.fromhex(named)
            except ValueError as err:
                raise DispatchRejected("bad_request", "event is hex") from err
        else:
            raise DispatchRejected("bad_request", "event is a 64-hex id or null")
        now = self.clock()
        entry, ticket = self._guarded(
            partial(
                self.feed.append,
                coordination_kinds.DISPATCH_CANCEL,
                {"event": event.hex()},
                now,
            )
        )
        await self._durable(ticket)
        del entry
        await self._step()
        return {"type": "dispatch_cancelled", "event": event.hex()}

    def mesh_stats(self) -> dict[str, Any]:
        """Replication latencies measured here (for benchmarks and diagnosis)."""
        return {"latencies_ms": list(self.mesh.latencies)}

    async def submit_roster(self, message: dict[str, object]) -> dict[str, Any]:
        """Append an approved roster change to this node's feed."""
        proposal, approvals = message.get("proposal"), message.get("approvals")
        if not isinstance(proposal, dict) or not isinstance(approvals, list):
            raise RosterError("bad_request", "send proposal and approvals")
        proposed = roster_module.parse(proposal)
        body = roster_module.entry_body(proposed, approvals)
        body["building"] = proposed.building
        _, parsed = roster_module.from_entry_body(body)
        base = self._next_roster[0] if self._next_roster else self._roster
        roster_module.check_change(base, proposed, parsed)
        if proposed.effective <= self.clock():
            raise RosterError(
                "stale", "the change must take effect in the future, for everyone"
            )
        del body["building"]
        try:
            entry, ticket = self._guarded(
                partial(self.feed.append, roster_module.ROSTER, body, self.clock())
            )
        except canonical.CanonicalError as err:
            raise RosterError(
                "too_large", f"{err.detail}; approvals beyond a majority can go"
            ) from err
        await self._durable(ticket)
        self._roster_entry(entry)
        return {
            "type": "roster",
            "version": proposed.version,
            "effective": proposed.effective,
            "seq": entry.seq,
        }

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    # -- the mesh's host ---------------------------------------------------------------

    def stored(self, entries: list[Entry], ticket: int, pushed: bool) -> None:
        """Entries from peers were queued; act on the kinds that mean something here."""
        self._arrived.append((entries if pushed else [], ticket))
        self._schedule_arrivals_commit()
        now = self.clock()
        authors: set[bytes] = set()
        for entry in entries:
            authors.add(entry.author)
            self.view.add(entry)
            if entry.kind == coordination_kinds.DISPATCH:
                self._dispatch_arrived(entry)
            elif (
                entry.kind == coordination_kinds.TRANSFER
                and entry.content["to"] == self.identity.author.hex()
            ):
                self.bus_ledger.transfer_in(entry)
            elif entry.kind == roster_module.ROSTER:
                self._roster_entry(entry)
            elif entry.kind == kinds.WITNESSED:
                self._learn_witnessed(entry)
        for author in authors:
            for cosign in self.witness.caught_up(author, now):
                self._store_cosign(cosign)
        self._report_failures()

    def statement(self, statement: Statement, peer: bytes) -> None:
        """A checkpoint or cosignature from a peer."""
        del peer
        author_no = self.replica.heads[statement.author].number
        if statement.kind == kinds.CHECKPOINT:
            self._guarded(
                lambda: self.writer.add_statement(author_no, author_no, statement)
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
            self._guarded(
                lambda: self.writer.add_statement(author_no, held.number, statement)
            )
            if self.witness.cosignature(statement):
                self._mesh_report_due = True

    def equivocation(self, held: Entry, other: Entry) -> None:
        """Record and spread proof that a member signed two entries with one seq."""
        member = self._roster.member(held.author)
        key = ("equivocation", held.author.hex(), held.seq)
        if key not in self.problems:
            _LOGGER.error(
                "Flat %s signed two different entries with seq %d; kept as evidence",
                member.flat if member else held.author.hex()[:16],
                held.seq,
            )
            self.problems[key] = {
                "kind": "equivocation",
                "author": held.author.hex(),
                "flat": member.flat if member else "",
                "seq": held.seq,
            }
            self._mesh_report_due = True
        self.mesh.gossip_evidence(held, other)

    def links_changed(self) -> None:
        """A peer link came up or went down."""
        self._mesh_report_due = True

    # -- internals ---------------------------------------------------------------------

    def _check_membership(self, roster: Roster) -> Roster:
        if roster.building != self.config.building:
            raise MembershipError(
                f"the roster is for building {roster.building!r}, this node is "
                f"configured for {self.config.building!r}"
            )
        if roster.member(self.identity.author) is None:
            raise MembershipError(
                f"this node's key (author {self.identity.author.hex()[:16]}…) is not "
                "in the roster; add it with 'python -m sidecar roster'"
            )
        return roster

    async def _open_replica(self) -> None:
        keys = [member.key for member in self._roster.members]
        numbers = await asyncio.wrap_future(
            self.writer.call(lambda conn: [store.add_author(conn, k) for k in keys])
        )
        del numbers
        assert self._reader is not None
        self._replica = Replica(
            self._reader,
            self.writer,
            self.config.building,
            self.keys,
            self.config.max_clock_skew_s * 1000,
        )
        for number, author, key in store.authors(self._reader):
            self.keys.add(key)
            self._replica.load(author, number)
        self._witness = Witness(
            self.identity,
            self.config.building,
            self._replica,
            lambda: self._roster.majority,
        )
        own = self._replica.heads[self.identity.author]

        def appended(entry: Entry) -> None:
            own.advance(entry)
            self.view.add(entry)
            self.mesh.publish(entry)

        self.feed.on_append = appended
        for author_hex, seq in self._conflicts():
            member = self._roster.member(bytes.fromhex(author_hex))
            self.problems[("equivocation", author_hex, seq)] = {
                "kind": "equivocation",
                "author": author_hex,
                "flat": member.flat if member else "",
                "seq": seq,
            }
        for entry in self._stored_rosters():
            self._roster_entry(entry)
        self._apply_due_roster()
        self.view.load(self._reader)

    def _conflicts(self) -> list[tuple[str, int]]:
        assert self._reader is not None
        return [(aid.hex(), seq) for aid, seq in store.conflicted(self._reader)]

    def _stored_rosters(self) -> list[Entry]:
        assert self._reader is not None
        found = store.entries_of_kinds(self._reader, (roster_module.ROSTER,))
        return sorted(found, key=lambda entry: int(str(entry.content["version"])))

    def _roster_entry(self, entry: Entry) -> None:
        """A roster change seen in a feed: schedule it if a majority approved it."""
        base = self._next_roster[0] if self._next_roster else self._roster
        try:
            proposed, approvals = roster_module.from_entry_body(entry.content)
            if proposed.version <= base.version:
                return
            roster_module.check_change(base, proposed, approvals)
        except RosterError as err:
            self.count_rejection("roster_refused")
            _LOGGER.warning(
                "Ignoring roster change in seq %d of %s: %s",
                entry.seq,
                entry.author.hex()[:16],
                err,
            )
            return
        self._next_roster = (proposed, proposed.effective)
        _LOGGER.info(
            "Roster version %d takes effect at %d ms",
            proposed.version,
            proposed.effective,
        )

    def _apply_due_roster(self) -> None:
        if self._next_roster is None or self._next_roster[1] > self.clock():
            return
        proposed = self._next_roster[0]
        self._next_roster = None
        keys = [member.key for member in proposed.members]
        future = self.writer.call(
            lambda conn: [store.add_author(conn, k) for k in keys]
        )
        numbers = future.result()
        for member, number in zip(proposed.members, numbers, strict=True):
            self.keys.add(member.key)
            if member.author not in self.replica.heads:
                self.replica.load(member.author, number)
        self._roster = proposed
        _LOGGER.info(
            "Roster version %d in force: %d members",
            proposed.version,
            len(proposed.members),
        )
        self.mesh.roster_changed()
        self._mesh_report_due = True

    def _learn_witnessed(self, entry: Entry) -> None:
        logs = entry.content["logs"]
        assert isinstance(logs, list)
        heads = []
        for item in logs:
            assert isinstance(item, dict)
            heads.append(
                TreeHead(
                    bytes.fromhex(str(item["log"])),
                    int(str(item["size"])),
                    bytes.fromhex(str(item["root"])),
                    entry.ts,
                )
            )
        # Only what an author says of its own log, and only if it matches the copy
        # held here: nobody can spread a made-up head of someone else's log.
        self.witness.learn(
            [
                head
                for head in heads
                if head.log == entry.author
                and self.replica.root_at(head.log, head.size) in (None, head.root)
            ]
        )

    def _store_cosign(self, cosign: Statement) -> None:
        log = bytes.fromhex(str(cosign.content["log"]))
        own_no = self.feed.author_no
        log_no = self.replica.heads[log].number
        self._guarded(lambda: self.writer.add_statement(own_no, log_no, cosign))
        self.mesh.send_statement(log, cosign)

    def _report_failures(self) -> None:
        while self.witness.failures:
            author, detail = self.witness.failures.pop()
            member = self._roster.member(author)
            key = ("verification_failed", author.hex(), 0)
            if key not in self.problems:
                _LOGGER.error("Flat %s: %s", member.flat if member else "?", detail)
                self.problems[key] = {
                    "kind": "verification_failed",
                    "author": author.hex(),
                    "flat": member.flat if member else "",
                    "detail": detail,
                }
                self._mesh_report_due = True

    def _schedule_arrivals_commit(self) -> None:
        """Group commit for peers' entries.

        With no commit of arrivals under way, what came in during this loop turn is
        committed at once; while one is under way, arrivals wait for it and then go
        together in the next. An idle node adds no delay, and a busy one makes one
        commit (and fsync) per batch instead of per frame.
        """
        if (
            self._arrived
            and self._arrival_flush is None
            and not self._arrivals_committing
        ):
            self._arrival_flush = asyncio.get_running_loop().call_soon(
                self._flush_arrivals
            )

    def _flush_arrivals(self) -> None:
        self._arrival_flush = None
        arrived, self._arrived = self._arrived, []
        self._arrivals_committing = True
        task = asyncio.create_task(self._commit_arrivals(arrived))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _commit_arrivals(self, arrived: list[tuple[list[Entry], int]]) -> None:
        try:
            with contextlib.suppress(StorageError):
                await self.writer.durable(max(ticket for _, ticket in arrived))
                for pushed, _ in arrived:
                    self.mesh.note_latency(pushed)
        finally:
            self._arrivals_committing = False
            self._schedule_arrivals_commit()

    def _declare_witnessed(self) -> None:
        """Cross-reference the witnessed heads this node knows in its own feed."""
        # Only beside other news: declarations alone would make peers' feeds grow,
        # be checkpointed, witnessed and declared again, for ever.
        if len(self._roster.members) < 2 or self.feed.seq <= self._declared_at_seq:
            return
        # Every peer checks every declaration: a few per minute say enough.
        if time.monotonic() - self._declared_at < DECLARE_EVERY_S:
            return
        declaration = self.witness.declaration()
        if not declaration["logs"] or declaration == self._declared:
            return
        self._declared = declaration
        self._guarded(
            partial(self.feed.append, kinds.WITNESSED, declaration, self.clock())
        )
        self._declared_at_seq = self.feed.seq
        self._declared_at = time.monotonic()

    def _dispatch_arrived(self, entry: Entry) -> None:
        """Act on a new request at once instead of at the next round."""
        start = entry.content["start"]
        assert isinstance(start, int)
        task = asyncio.create_task(self._step(max(start, entry.ts)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _step(self, at_ms: int | None = None) -> None:
        message = self.coordinator.step(at_ms)
        if message is not None:
            await self.api.notify(message)

    async def _bus_round(self) -> None:
        """Outage support: the bus setpoint, and the transfers and receipts due."""
        plan, message = self.coordinator.bus_step()
        now = self.clock()
        self.bus_ledger.planned(now, plan)
        if message is not None:
            await self.api.notify(message)
        tickets = [
            self._guarded(
                partial(self.feed.append, coordination_kinds.TRANSFER, content, now)
            )[1]
            for content in self.bus_ledger.transfers_due(now)
        ]
        tickets += [
            self._guarded(
                partial(
                    self.feed.append,
                    coordination_kinds.RECEIPT,
                    content,
                    now,
                    (transfer,),
                )
            )[1]
            for content, transfer in self.bus_ledger.receipts_due(now)
        ]
        if tickets:
            await self._durable(tickets[-1])

    async def _coordination(self) -> None:
        """Each round: publish availability early, hand the setpoint over mid-round."""
        round_ms = self.config.round_ms
        while True:
            now = self.clock()
            next_round = (now // round_ms + 1) * round_ms
            await asyncio.sleep((next_round - now) / 1000 + PUBLISH_AFTER_S)
            self._publish_availability()
            now = self.clock()
            await asyncio.sleep(max(0.0, (next_round + round_ms // 2 - now) / 1000))
            await self._step()
            await self._bus_round()

    def _publish_availability(self) -> None:
        message = self._availability
        if message is None:
            return
        try:
            content = self.coordinator.availability_content(message)
        except AvailabilityRejected as err:
            if err.reason == "stale":
                self._availability = None  # Home Assistant went quiet
            else:
                self.count_rejection(err.reason)
            return
        with contextlib.suppress(StorageError):
            self._guarded(
                partial(
                    self.feed.append,
                    coordination_kinds.AVAILABILITY,
                    content,
                    self.clock(),
                )
            )

    async def _mesh_reports(self) -> None:
        while True:
            await asyncio.sleep(MESH_REPORT_MIN_S)
            self._apply_due_roster()
            elapsed = time.monotonic() - self._mesh_report_at
            if self._mesh_report_due or elapsed >= MESH_REPORT_EVERY_S:
                self._mesh_report_due = False
                self._mesh_report_at = time.monotonic()
                await self.api.notify(self.mesh_report())

    def _guarded[T](self, action: Callable[[], T]) -> T:
        try:
            return action()
        except StorageError:
            self.failed.set()
            raise

    async def _durable(self, ticket: int) -> None:
        try:
            await self.writer.durable(ticket)
        except StorageError:
            self.failed.set()
            raise

    def _schedule_checkpoint(self, intervals: float) -> None:
        """Sign the next checkpoint ``intervals`` checkpoint intervals from now.

        Never on a shared beat: every peer verifies and cosigns each checkpoint, and
        nodes started together would otherwise all ask for that at the same moment.
        """
        interval = self.config.checkpoint_interval_s
        self._checkpoint_due_at = time.monotonic() + interval * intervals

    async def _ticker(self) -> None:
        self._schedule_checkpoint(random.random())
        while True:
            await asyncio.sleep(TICK_S)
            try:
                tickets = self.feed.roll(self.clock())
                due = time.monotonic() >= self._checkpoint_due_at
                if due:
                    self._declare_witnessed()
                if due and self.feed.seq > self.feed.checkpoint_size:
                    await self.checkpoint()
                elif tickets:
                    await self.writer.durable(tickets[-1])
            except StorageError as err:
                _LOGGER.error(
                    "Stopping: the ledger database cannot be written: %s", err
                )
                self.failed.set()
                return

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
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

    def _proof(self, request: dict[str, object]) -> dict[str, Any]:
        conn = store.connect(self.config.db_path, readonly=True)
        try:
            return _prove(conn, self.feed.author_no, request)
        finally:
            conn.close()


def _prove(
    conn: sqlite3.Connection, author: int, request: dict[str, object]
) -> dict[str, Any]:
    row = store.latest_checkpoint(conn, author)
    if row is None:
        return {
            "reason": "no_checkpoint",
            "detail": "no checkpoint has been signed yet",
        }
    checkpoint = etp.open_statement(store.author_id_of(conn, author), *row)
    size = checkpoint.content["size"]
    assert isinstance(size, int)
    pruned = store.pruned(conn, author)
    leaves = [
        merkle.leaf_hash(eid)
        for _seq, eid in store.entry_ids(conn, author, pruned.frontier.size, size)
    ]
    tree = merkle.Tree(leaves, pruned.frontier)
    base: dict[str, Any] = {
        "size": size,
        "root": checkpoint.content["root"],
        "checkpoint": etp.statement_to_wire(checkpoint),
    }
    seq, first, second = request.get("seq"), request.get("from"), request.get("to")
    try:
        if isinstance(seq, int) and not isinstance(seq, bool):
            return {
                **base,
                "index": seq - 1,
                "path": _hexes(tree.inclusion_proof(seq - 1, size)),
            }
        if isinstance(first, int) and isinstance(second, int):
            path = tree.consistency_proof(first, second)
            return {**base, "from": first, "to": second, "path": _hexes(path)}
    except merkle.ProofUnavailable as err:
        return {**base, "reason": "unavailable", "detail": str(err)}
    return {"reason": "bad_request", "detail": "give seq, or from and to"}


def _hexes(hashes: list[bytes]) -> list[str]:
    return [item.hex() for item in hashes]
