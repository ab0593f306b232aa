"""What settlement reads from the ledger: currencies, meters, receipts, dispatches.

Every entry of the kinds WAT needs is sorted into plain records once; the rest of the
ledger is not looked at. Records keep the entry they came from (author, seq, id), so
every statement line can name its sources.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sidecar.apps.wat import kinds
from sidecar.apps.wat.adoption import CurrencyChain
from sidecar.coordination import kinds as coordination
from sidecar.ledger.etp import Entry
from sidecar.tools.members import RosterChain

KINDS: Final = (
    kinds.CURRENCY,
    kinds.METER,
    coordination.RECEIPT,
    coordination.DISPATCH,
    coordination.DISPATCH_CANCEL,
)


@dataclass(frozen=True, slots=True)
class Source:
    """The entry a record came from."""

    author: bytes
    seq: int
    id: bytes

    def ref(self) -> str:
        """How statements name it: ``<author hex>:<seq>``."""
        return f"{self.author.hex()}:{self.seq}"


@dataclass(frozen=True, slots=True)
class Meter:
    """One ``wat_meter`` entry."""

    start: int
    end: int
    grid_in: int
    grid_out: int
    ren_out: int
    ts: int
    source: Source


@dataclass(frozen=True, slots=True)
class Receipt:
    """One power-cut ``receipt``: ``receiver`` got ``mwh`` from ``giver``."""

    receiver: bytes
    giver: bytes
    mwh: int
    start: int
    ts: int
    source: Source


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A group-discharge request's span, cut short by a cancel if there was one."""

    start: int
    end: int
    ts: int


@dataclass(slots=True)
class Inputs:
    """Everything settlement reads, sorted by kind."""

    rosters: RosterChain
    currencies: CurrencyChain = field(init=False)
    meters: dict[bytes, list[Meter]] = field(default_factory=lambda: defaultdict(list))
    receipts: list[Receipt] = field(default_factory=list)
    dispatches: dict[bytes, Dispatch] = field(default_factory=dict)
    cancels: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Start an empty currency chain over the roster chain."""
        self.currencies = CurrencyChain(self.rosters)

    def offer(self, entry: Entry) -> int | None:
        """Take one entry; the earliest time it may change settlement, if any."""
        kind, body = entry.kind, entry.content
        source = Source(entry.author, entry.seq, entry.id)
        if kind == kinds.CURRENCY:
            self.currencies.offer(entry)
            value = body.get("effective")
            return value if isinstance(value, int) else None
        if kind == kinds.METER:
            meter = Meter(
                _i(body, "start"),
                _i(body, "end"),
                _i(body, "grid_in"),
                _i(body, "grid_out"),
                _i(body, "ren_out"),
                entry.ts,
                source,
            )
            bisect.insort(self.meters[entry.author], meter, key=_order)
            return meter.start
        if kind == coordination.RECEIPT:
            giver = body.get("from")
            if not isinstance(giver, str):
                return None
            receipt = Receipt(
                entry.author,
                bytes.fromhex(giver),
                _i(body, "mwh"),
                _i(body, "start"),
                entry.ts,
                source,
            )
            self.receipts.append(receipt)
            return receipt.start
        if kind == coordination.DISPATCH and body.get("direction") == "discharge":
            dispatch = Dispatch(_i(body, "start"), _i(body, "end"), entry.ts)
            self.dispatches[entry.id] = dispatch
            return dispatch.start
        if kind == coordination.DISPATCH_CANCEL:
            event = body.get("event")
            if isinstance(event, str):
                self.cancels[bytes.fromhex(event)] = entry.ts
                return entry.ts
        return None

    def group_spans(self) -> list[tuple[int, int, int]]:
        """Each discharge request's (start, end, ts), a cancel ending it early."""
        spans = []
        for event, dispatch in self.dispatches.items():
            end = dispatch.end
            cancelled = self.cancels.get(event)
            if cancelled is not None:
                end = max(dispatch.start, min(end, cancelled))
            spans.append((dispatch.start, end, dispatch.ts))
        return spans


def gather(rosters: RosterChain, entries: Iterable[Entry]) -> Inputs:
    """The inputs of settlement from ``entries`` (any order, any mix of kinds)."""
    inputs = Inputs(rosters)
    for entry in entries:
        inputs.offer(entry)
    return inputs


def _order(meter: Meter) -> tuple[int, int]:
    return meter.start, meter.source.seq


def _i(body: object, key: str) -> int:
    assert isinstance(body, dict)
    value = body.get(key)
    assert isinstance(value, int)  # the kinds' schemas checked it
    return value
