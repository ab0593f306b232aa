"""A flat's own ``wat_meter`` entries, summed from its own flows as they are written.

PROTOCOL.md section 7.11. A meter covers the flows from the first one at or after its
``start`` up to the last one before the next settlement interval; it is written when the
first flow of a later interval is durable. A flow that runs past the interval (the gap
flow after Home Assistant was away) belongs to the meter its start falls in, and the
meter's ``end`` is then that flow's end: settlement shares such a meter over the
intervals it spans in proportion to time. ``ren_out`` is
``floor(sum(mwh * ren) / 10**6)`` over the flows' transfers to ``grid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sidecar.apps.wat import kinds
from sidecar.ledger.canonical import JsonObject

PPM: Final = 1_000_000


@dataclass(slots=True)
class MeterBuilder:
    """Accumulates own flows into meter bodies, one per settlement interval."""

    interval_at: Callable[[int], int]  # the settlement interval (ms) in force at a time
    start: int | None = None
    _bound: int = 0  # where the open meter's interval ends
    _end: int = 0
    _sums: list[int] = field(default_factory=lambda: [0, 0, 0])
    _first: int = 0
    _last: int = 0

    def resume(self, end: int) -> None:
        """Go on after the last meter written, which ended at ``end``."""
        self.start = None
        self._end = end

    def add(self, seq: int, body: JsonObject) -> JsonObject | None:
        """Take the next own flow; the meter it closes, if any."""
        start, end = body.get("start"), body.get("end")
        balance, transfers = body.get("balance"), body.get("transfers")
        assert isinstance(start, int)
        assert isinstance(end, int)
        assert isinstance(balance, dict)
        assert isinstance(transfers, list)
        closed = None
        if self.start is not None and start >= self._bound:
            closed = self._close()
        if self.start is None:
            interval = self.interval_at(start)
            self.start = max(start - start % interval, min(self._end, start))
            self._bound = start - start % interval + interval
            self._first = seq
        grid_in, grid_out = balance.get("grid_in"), balance.get("grid_out")
        assert isinstance(grid_in, int)
        assert isinstance(grid_out, int)
        self._sums[0] += grid_in
        self._sums[1] += grid_out
        for item in transfers:
            if isinstance(item, dict) and item.get("to") == "grid":
                mwh, ren = item.get("mwh"), item.get("ren")
                assert isinstance(mwh, int)
                assert isinstance(ren, int)
                self._sums[2] += mwh * ren
        self._end = max(self._end, end)
        self._last = seq
        return closed

    def _close(self) -> JsonObject:
        assert self.start is not None
        grid_in, grid_out, ren = self._sums
        body = kinds.meter_body(
            self.start,
            max(self._end, self.start + 1),
            (grid_in, grid_out, min(ren // PPM, grid_out)),
            self._first,
            self._last,
        )
        self.start = None
        self._sums = [0, 0, 0]
        return body
