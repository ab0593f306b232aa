"""The running sidecar: storage, the feed, the local API and the periodic work.

It wires the parts together and owns the clock-driven duties: rollups at period
boundaries, checkpoints while the feed grows, and retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from aiohttp import web

from sidecar import __version__, etp, kinds, merkle, retention, store
from sidecar.config import DAY_MS, HOUR_MS, Config
from sidecar.etp import Entry
from sidecar.feed import Feed
from sidecar.flows import FlowBuilder
from sidecar.identity import Identity
from sidecar.local_api import LocalApi
from sidecar.samples import Rejection, SampleChecker, SampleRejected
from sidecar.writer import StorageError, Writer

_LOGGER = logging.getLogger(__name__)
TICK_S: Final = 0.5
RETENTION_EVERY_S: Final = 60.0


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
        self._last_checkpoint_at = 0.0
        self._latest_checkpoint: etp.Statement | None = None
        self.port = 0

    @property
    def feed(self) -> Feed:
        """The node's own feed (after start)."""
        assert self._feed is not None, "the node is not started"
        return self._feed

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
        number = store.author_no(self._reader, self.identity.author)
        assert number is not None  # store.create registers the node's own key
        self._feed = Feed.load(
            self._reader, self.identity, config.building, self.writer, number
        )
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
        app = web.Application()
        self.api.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, config.host, config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the real port when 0 was asked
        self._tasks = [
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._retention()),
        ]
        _LOGGER.info(
            "Ledger of flat %s (building %s) at seq %d; author %s",
            config.flat,
            config.building,
            self._feed.seq,
            self.identity.author.hex(),
        )

    async def stop(self) -> None:
        """Stop listening, write what is queued and close the database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.api.close()
        if self._runner is not None:
            await self._runner.cleanup()
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
        await self.start()
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

    # -- Services for the local API ---------------------------------------------------

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
        self._last_checkpoint_at = time.monotonic()
        await self._durable(ticket)
        self._latest_checkpoint = statement
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
        }

    def count_rejection(self, reason: str) -> None:
        """Count a refusal by reason."""
        self.rejected[reason] += 1

    # -- internals ---------------------------------------------------------------------

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

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                tickets = self.feed.roll(self.clock())
                elapsed = time.monotonic() - self._last_checkpoint_at
                grown = self.feed.seq > self.feed.checkpoint_size
                if grown and elapsed >= self.config.checkpoint_interval_s:
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
    row = conn.execute(
        "SELECT body, sig FROM statements WHERE author = ? AND kind = ? "
        "ORDER BY size DESC, rowid DESC LIMIT 1",
        (author, kinds.CHECKPOINT),
    ).fetchone()
    if row is None:
        return {
            "reason": "no_checkpoint",
            "detail": "no checkpoint has been signed yet",
        }
    aid = conn.execute("SELECT id FROM authors WHERE no = ?", (author,)).fetchone()[0]
    checkpoint = etp.open_statement(bytes(aid), bytes(row[0]), bytes(row[1]))
    size = checkpoint.content["size"]
    assert isinstance(size, int)
    pruned = store.pruned(conn, author)
    leaves = [
        merkle.leaf_hash(bytes(eid))
        for (eid,) in conn.execute(
            "SELECT id FROM entries WHERE author = ? AND seq > ? AND seq <= ? "
            "ORDER BY seq",
            (author, pruned.frontier.size, size),
        )
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
