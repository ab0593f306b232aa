"""WAT inside a running node: keeps the settlement current and writes own meters.

It reads every entry of the kinds settlement needs once at start, then each own entry
once durable and each peer's entry as it arrives. Meters are written only once a
currency is adopted (before that nothing would read them), through the same gate as
every own entry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable

from sidecar.apps.wat import kinds
from sidecar.apps.wat.book import Interval
from sidecar.apps.wat.inputs import KINDS
from sidecar.apps.wat.meters import MeterBuilder
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.spec import DEFAULT_INTERVAL_MIN, MINUTE_MS
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.mesh.roster_chain import RosterChain
from sidecar.storage import store
from sidecar.storage.gate import Gate
from sidecar.storage.writer import StorageError

_LOGGER = logging.getLogger(__name__)
DEFAULT_INTERVAL_MS = DEFAULT_INTERVAL_MIN * MINUTE_MS


class WatApp:
    """The node's WAT settlement and its meter writer."""

    def __init__(
        self,
        first: Roster | RosterChain,
        gate: Gate,
        clock: Callable[[], int],
        me: bytes,
    ) -> None:
        self.settlement = Settlement(first)
        self.gate = gate
        self.clock = clock
        self.me = me
        self.meters = MeterBuilder(self._interval_at)
        self.listeners: list[Callable[[list[Interval]], None]] = []

    def load(self, conn: sqlite3.Connection, author_no: int) -> None:
        """Read what the database holds: every relevant entry, then own flows."""
        last_meter: Entry | None = None
        for entry in store.entries_of_kinds(conn, (*KINDS, roster_module.ROSTER)):
            self.settlement.offer(entry)
            own = entry.author == self.me and entry.kind == kinds.METER
            if own and (last_meter is None or entry.seq > last_meter.seq):
                last_meter = entry
        after = 0
        if last_meter is not None:
            # The flows after the last one it summed: the flow that closed it came
            # before the meter itself.
            end, last = last_meter.content["end"], last_meter.content["last"]
            assert isinstance(end, int)
            assert isinstance(last, int)
            after = last
            self.meters.resume(end)
        for seq, kind, *_rest, body, _sig in store.iter_entries(conn, author_no, after):
            if kind == ledger_kinds.FLOW:
                self._own_flow(seq, json.loads(body))
        self.settlement.advance(self.clock())

    def durable(self, entry: Entry) -> None:
        """An own entry is committed."""
        if entry.kind == ledger_kinds.FLOW:
            self._own_flow(entry.seq, entry.content)
        else:
            self.settlement.offer(entry)

    def arrived(self, entry: Entry) -> None:
        """A peer's entry arrived."""
        if entry.kind != ledger_kinds.FLOW:
            self.settlement.offer(entry)

    def tick(self) -> list[Interval]:
        """Settle what is due now; tell the listeners of intervals newly settled."""
        done = self.settlement.advance(self.clock())
        if done:
            for listener in self.listeners:
                listener(done)
        return done

    def _interval_at(self, at_ms: int) -> int:
        return self.settlement.interval_ms(at_ms, DEFAULT_INTERVAL_MS)

    def _own_flow(self, seq: int, body: JsonObject) -> None:
        closed = self.meters.add(seq, body)
        if closed is None:
            return
        versions = self.settlement.inputs.currencies.versions
        end = closed["end"]
        assert isinstance(end, int)
        if not versions or end <= versions[0].effective:
            return  # no currency yet: nothing reads meters
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._append(closed)  # loading at start, before the loop serves
            return
        loop.call_soon(self._append, closed)

    def _append(self, body: JsonObject) -> None:
        try:
            self.gate.append(kinds.METER, body, self.clock())
        except StorageError as err:
            _LOGGER.error("A meter could not be written: %s", err)
