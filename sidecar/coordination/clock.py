"""The coordination clock: the node's side of group discharge and outage support.

docs/COORDINATION.md sections 7-9 and 13. Just after each round boundary the node
publishes the newest availability its Home Assistant sent; at mid-round it computes the
plan and hands the setpoint to Home Assistant, then settles outage support over the
building bus (its transfers and receipts). A new dispatch is acted on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Collection
from functools import partial
from typing import Any, Final

from sidecar.coordination import kinds as coordination_kinds
from sidecar.coordination.bus.ledger import BusLedger
from sidecar.coordination.intake import (
    AvailabilityRejected,
)
from sidecar.coordination.planner import Coordinator, Settings
from sidecar.coordination.view import CoordinationView
from sidecar.ledger import canonical
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.samples import Sample
from sidecar.storage import node_state, store
from sidecar.storage.gate import Gate
from sidecar.storage.writer import StorageError

_LOGGER = logging.getLogger(__name__)

PUBLISH_AFTER_S: Final = 0.02  # into a round: after the boundary, on every clock
# Own transfers and receipts read back at a start: far more than the kept intervals
# can hold (a few per interval).
_SETTLED_LOOKBACK: Final = 4096

type Notify = Callable[[dict[str, Any]], Awaitable[None]]


class CoordinationClock:
    """The coordinator, driven round by round and by the entries the node sees."""

    def __init__(
        self,
        *,
        author: bytes,
        settings: Settings,
        gate: Gate,
        clock: Callable[[], int],
        members: Callable[[], Collection[bytes]],
        connected: Callable[[], bool],
        notify: Notify,
        count_rejection: Callable[[str], None],
    ) -> None:
        self.author = author
        self.round_ms = settings.round_ms
        self.gate = gate
        self.clock = clock
        self.notify = notify
        self.count_rejection = count_rejection
        self.view = CoordinationView(
            members=members, mesh_up=connected, own_grid_w=self.grid_w, clock=clock
        )
        self.coordinator = Coordinator(author, self.view, clock, settings)
        self.bus_ledger = BusLedger(author)
        self._availability: dict[str, object] | None = None
        self._grid_w: int | None = None
        self._background: set[asyncio.Task[None]] = set()

    def load(self, conn: sqlite3.Connection) -> None:
        """Index the coordination entries stored before a restart.

        Outage support takes back its open intervals, and which of them the feed
        already settled.
        """
        self.view.load(conn)
        number = store.author_no(conn, self.author)
        if number is None:
            return
        keys = (coordination_kinds.TRANSFER, coordination_kinds.RECEIPT)
        settled = []
        for body in node_state.recent_bodies(conn, number, keys, _SETTLED_LOOKBACK):
            content = canonical.decode(body)
            settled.append((str(content["kind"]), int(str(content["start"]))))
        self.bus_ledger.restore(node_state.bus_intervals(conn), settled)

    def grid_w(self) -> int | None:
        """The flat's grid power (+ import) from its newest sample, W."""
        return self._grid_w

    def observe(self, sample: Sample) -> None:
        """Note what an accepted sample says of the bus and the grid."""
        if sample.bus_w is not None:
            self.bus_ledger.observe(sample.ts, sample.bus_w)
        if "grid_in" in sample.power:
            self._grid_w = round(
                sample.power["grid_in"] - sample.power.get("grid_out", 0.0)
            )

    def appended(self, entry: Entry) -> None:
        """An entry of this node's own feed."""
        self.view.add(entry)

    def arrived(self, entry: Entry) -> None:
        """An entry from a peer, queued for storage."""
        self.view.add(entry)
        if entry.kind == coordination_kinds.DISPATCH:
            self._dispatch_arrived(entry)
        elif (
            entry.kind == coordination_kinds.TRANSFER
            and entry.content["to"] == self.author.hex()
        ):
            self.bus_ledger.transfer_in(entry)

    def keep_availability(self, message: dict[str, object]) -> None:
        """Keep Home Assistant's newest usable availability for the next round."""
        self._availability = message

    async def dispatch(self, content: JsonObject, now_ms: int) -> Entry:
        """Record a group request made at ``now_ms`` and act on it at once."""
        entry, ticket = self.gate.append(coordination_kinds.DISPATCH, content, now_ms)
        await self.gate.durable(ticket)
        self._dispatch_arrived(entry)
        return entry

    async def cancel(self, event: bytes) -> None:
        """Record the cancellation of a group event and act on it at once."""
        _, ticket = self.gate.append(
            coordination_kinds.DISPATCH_CANCEL, {"event": event.hex()}, self.clock()
        )
        await self.gate.durable(ticket)
        await self._step()

    async def run(self) -> None:
        """Each round: publish availability early, hand the setpoint over mid-round."""
        round_ms = self.round_ms
        while True:
            now = self.clock()
            next_round = (now // round_ms + 1) * round_ms
            await asyncio.sleep((next_round - now) / 1000 + PUBLISH_AFTER_S)
            self._publish_availability()
            now = self.clock()
            await asyncio.sleep(max(0.0, (next_round + round_ms // 2 - now) / 1000))
            await self._step()
            await self._bus_round()

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
            await self.notify(message)

    async def _bus_round(self) -> None:
        """Outage support: the bus setpoint, and the transfers and receipts due."""
        plan, message = self.coordinator.bus_step()
        now = self.clock()
        self.bus_ledger.planned(now, plan)
        if message is not None:
            await self.notify(message)
        tickets = [
            self.gate.append(coordination_kinds.TRANSFER, content, now)[1]
            for content in self.bus_ledger.transfers_due(now)
        ]
        tickets += [
            self.gate.append(coordination_kinds.RECEIPT, content, now, (transfer,))[1]
            for content, transfer in self.bus_ledger.receipts_due(now)
        ]
        rows, horizon = self.bus_ledger.changes(now)
        if rows:
            stored = self.gate.guarded(
                lambda: self.gate.writer.call(
                    partial(node_state.save_bus_intervals, rows=rows, horizon=horizon)
                )
            )
            try:
                await asyncio.wrap_future(stored)
            except (sqlite3.Error, StorageError) as err:
                # The entries are what counts; the state only helps after a restart.
                _LOGGER.warning("Outage support's intervals not stored: %s", err)
        if tickets:
            await self.gate.durable(tickets[-1])

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
            self.gate.append(coordination_kinds.AVAILABILITY, content, self.clock())
