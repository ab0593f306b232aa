"""Energy carried over the building bus: the giver's transfers, the receiver's receipts.

Time is cut into support intervals (10 s, aligned to the epoch). After an interval, a
flat that gave writes one ``transfer`` per receiver: its measured export (its bus power
integrated over the interval; the whole-Wh counters are too coarse for tens of watts
over seconds) shared in proportion to what the plans of that interval had each
receiver take. A receiver, a little later, answers every transfer addressed to it with
a ``receipt``: its own measured import shared in proportion to the transfers' energy.
Sent and received differ by the bus losses; both sides' words are in the ledger.
An interval no sample covered (Home Assistant was away) gets neither: there is no
measurement to vouch for.

The open intervals are kept in the database too (:meth:`BusLedger.changes`,
:meth:`BusLedger.restore`), so a restart during a power cut still settles them; which
of them were settled is read back from the feed's own transfers and receipts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from sidecar.coordination.bus.support import SupportPlan
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry

INTERVAL_MS: Final = 10_000
RECEIPT_GRACE_MS: Final = 5_000  # transfers need this long to arrive from the givers
# About 10 minutes, by the clock: transfers that reach a flat later are let go.
KEPT_INTERVALS: Final = 64
MAX_GAP_MS: Final = 5_000  # a longer silence is a gap, not a constant power


@dataclass(frozen=True, slots=True)
class Incoming:
    """A transfer addressed to this flat: who sent it, its id and its energy."""

    author: bytes
    id: bytes
    mwh: int


@dataclass(slots=True)
class _Interval:
    # Importer author -> planned import power summed over the interval's rounds.
    weights: dict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    gave: bool = False
    transfers_in: list[Incoming] = field(default_factory=list)
    settled_out: bool = False
    settled_in: bool = False


class BusLedger:
    """One flat's bookkeeping of what it gave and received over the bus."""

    def __init__(self, me: bytes, interval_ms: int = INTERVAL_MS) -> None:
        self.me = me
        self.interval_ms = interval_ms
        # mWh exported and imported in each interval, and the last sample.
        self.energy: dict[int, list[float]] = {}
        self._last: tuple[int, float] | None = None
        self.intervals: dict[int, _Interval] = defaultdict(_Interval)
        self._changed: set[int] = set()

    def start_of(self, ts_ms: int) -> int:
        """The start of the interval ``ts_ms`` falls in."""
        return ts_ms // self.interval_ms * self.interval_ms

    def observe(self, ts_ms: int, bus_w: float) -> None:
        """A sample's bus power (+ export): integrated since the previous sample."""
        last = self._last
        self._last = (ts_ms, bus_w)
        if last is None or not 0 < ts_ms - last[0] <= MAX_GAP_MS:
            return
        at, w = last
        while at < ts_ms:
            start = self.start_of(at)
            until = min(ts_ms, start + self.interval_ms)
            mwh = abs(w) * (until - at) / 3_600_000 * 1000
            self.energy.setdefault(start, [0.0, 0.0])[0 if w > 0 else 1] += mwh
            self._changed.add(start)
            at = until
        self._changed.add(self.start_of(ts_ms))

    def planned(self, at_ms: int, plan: SupportPlan) -> None:
        """A round's plan; a giver remembers whom it gave to, and how much."""
        if plan.setpoints.get(self.me, 0) <= 0:
            return
        start = self.start_of(at_ms)
        interval = self.intervals[start]
        interval.gave = True
        self._changed.add(start)
        for author, w in plan.importers.items():
            interval.weights[author] += w

    def transfer_in(self, entry: Entry) -> None:
        """A transfer addressed to this flat."""
        start = entry.content["start"]
        mwh = entry.content["mwh"]
        assert isinstance(start, int)
        assert isinstance(mwh, int)
        incoming = self.intervals[start].transfers_in
        # After a restart the peers may send again what the stored state holds.
        if all(item.id != entry.id for item in incoming):
            incoming.append(Incoming(entry.author, entry.id, mwh))
            self._changed.add(start)

    def transfers_due(self, now_ms: int) -> list[JsonObject]:
        """``transfer`` bodies for ended intervals this flat gave in."""
        self._forget(now_ms)
        made: list[JsonObject] = []
        for start, interval in sorted(self.intervals.items()):
            end = start + self.interval_ms
            if interval.settled_out or not interval.gave or end > now_ms:
                continue
            if not self._samples_past(end):
                continue  # the next interval's first reading has not come yet
            interval.settled_out = True
            if (exported := self._mwh(start, 0)) is None:
                continue
            total = sum(interval.weights.values())
            for author, weight in sorted(interval.weights.items()):
                mwh = round(exported * weight / total) if total else 0
                if mwh > 0:
                    made.append(
                        {"to": author.hex(), "mwh": mwh, "start": start, "end": end}
                    )
        return made

    def receipts_due(self, now_ms: int) -> list[tuple[JsonObject, bytes]]:
        """(``receipt`` body, transfer id) for intervals whose transfers are in."""
        self._forget(now_ms)
        made: list[tuple[JsonObject, bytes]] = []
        for start, interval in sorted(self.intervals.items()):
            end = start + self.interval_ms
            if interval.settled_in or not interval.transfers_in:
                continue
            if end + RECEIPT_GRACE_MS > now_ms or not self._samples_past(end):
                continue
            interval.settled_in = True
            if (imported := self._mwh(start, 1)) is None:
                continue
            total = sum(item.mwh for item in interval.transfers_in)
            for item in interval.transfers_in:
                received = round(imported * item.mwh / total) if total else 0
                made.append(
                    (
                        {
                            "from": item.author.hex(),
                            "mwh": max(0, received),
                            "start": start,
                            "end": end,
                        },
                        item.id,
                    )
                )
        return made

    def changes(self, now_ms: int) -> tuple[list[tuple[int, str]], int]:
        """The states of the intervals changed since the last call, and the horizon.

        Each state is a JSON text; intervals before the horizon are forgotten.
        """
        self._forget(now_ms)
        last = self._last
        rows = []
        for start in sorted(self._changed):
            interval = self.intervals.get(start)
            state: dict[str, Any] = {
                "energy": self.energy.get(start),
                "weights": {} if interval is None else _hex_keys(interval.weights),
                "gave": interval is not None and interval.gave,
                "in": []
                if interval is None
                else [
                    [item.author.hex(), item.id.hex(), item.mwh]
                    for item in interval.transfers_in
                ],
            }
            if last is not None and self.start_of(last[0]) == start:
                state["last"] = list(last)
            rows.append((start, json.dumps(state, separators=(",", ":"))))
        self._changed.clear()
        return rows, self._horizon(now_ms)

    def restore(
        self,
        rows: Iterable[tuple[int, str]],
        settled: Iterable[tuple[str, int]],
    ) -> None:
        """Take back stored interval states after a restart.

        ``settled`` holds (``transfer`` or ``receipt``, interval start) of the feed's
        own entries: those intervals are not settled again.
        """
        for start, text in rows:
            state = json.loads(text)
            if state["energy"] is not None:
                self.energy[start] = [float(v) for v in state["energy"]]
            interval = self.intervals[start]
            for author, w in state["weights"].items():
                interval.weights[bytes.fromhex(author)] = int(w)
            interval.gave = bool(state["gave"])
            interval.transfers_in = [
                Incoming(bytes.fromhex(author), bytes.fromhex(eid), int(mwh))
                for author, eid, mwh in state["in"]
            ]
            if "last" in state and (
                self._last is None or state["last"][0] > self._last[0]
            ):
                self._last = (int(state["last"][0]), float(state["last"][1]))
        for kind, start in settled:
            interval = self.intervals[start]
            if kind == "transfer":
                interval.settled_out = True
            else:
                interval.settled_in = True

    def _samples_past(self, end_ms: int) -> bool:
        """Whether the samples have reached ``end_ms``, so what came before is known."""
        return self._last is not None and self._last[0] >= end_ms

    def _mwh(self, start: int, which: int) -> float | None:
        """Energy out (0) or in (1) over an interval, mWh; None if no sample saw it."""
        measured = self.energy.get(start)
        return None if measured is None else measured[which]

    def _forget(self, now_ms: int) -> None:
        # By time, not by count: transfers keep arriving while Home Assistant, and with
        # it the samples, is away.
        horizon = self._horizon(now_ms)
        for start in [start for start in self.energy if start < horizon]:
            del self.energy[start]
        for start in [start for start in self.intervals if start < horizon]:
            del self.intervals[start]
        self._changed = {start for start in self._changed if start >= horizon}

    def _horizon(self, now_ms: int) -> int:
        return self.start_of(now_ms) - KEPT_INTERVALS * self.interval_ms


def _hex_keys(weights: dict[bytes, int]) -> dict[str, int]:
    return {author.hex(): w for author, w in sorted(weights.items())}
