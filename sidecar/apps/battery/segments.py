"""Charge, discharge and rest stretches of a battery, from its flows in seq order.

A *segment* is a run of consecutive measured flows in which the battery only
charged, only discharged, or rested (neither). Its SoC change runs from the SoC
stated by the flow just before it to the SoC stated by its last flow, so the energy
moved and the SoC change cover exactly the same intervals. A flow that both charged
and discharged, a flow that is not measured (estimated, reconciled or across a gap),
a flow without a SoC and a hole between flows end the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sidecar.apps.battery.points import Point


class Kind(StrEnum):
    """What the battery did in a segment."""

    CHARGE = "charge"
    DISCHARGE = "discharge"
    REST = "rest"


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed stretch: energy in mWh (in for a charge, out for a discharge).

    ``first`` is the flow whose SoC it starts from (it lies just before the
    stretch), ``last`` its last flow: the two entries that show its SoC change.
    """

    kind: Kind
    start: int
    end: int
    soc_from: int
    soc_to: int
    energy: int
    first: tuple[int, bytes]
    last: tuple[int, bytes]

    @property
    def swing(self) -> int:
        """The SoC change, ppm (+ up)."""
        return self.soc_to - self.soc_from


def _kind(point: Point) -> Kind | None:
    if not point.measured or point.soc is None:
        return None
    if point.bat_in and point.bat_out:
        return None
    if point.bat_in:
        return Kind.CHARGE
    if point.bat_out:
        return Kind.DISCHARGE
    return Kind.REST


class Segmenter:
    """Cuts a battery's flows, given in seq order, into segments."""

    def __init__(self) -> None:
        self._prev: Point | None = None
        self._anchor: Point | None = None  # the flow the open segment starts from
        self._kind: Kind | None = None
        self._energy = 0

    def add(self, point: Point) -> Segment | None:
        """Take the next flow; return the segment it closed, if any."""
        prev, self._prev = self._prev, point
        kind = _kind(point)
        continuous = prev is not None and prev.end == point.start
        if kind is not None and continuous and kind is self._kind:
            self._energy += point.bat_in + point.bat_out
            return None
        closed = self._close(prev)
        usable_prev = (
            continuous and prev is not None and prev.soc is not None and prev.measured
        )
        if kind is None or not usable_prev:
            self._kind = None
            return closed
        self._anchor, self._kind = prev, kind
        self._energy = point.bat_in + point.bat_out
        return closed

    def _close(self, last: Point | None) -> Segment | None:
        anchor, kind = self._anchor, self._kind
        if kind is None or anchor is None or last is None:
            return None
        assert anchor.soc is not None  # only flows with a SoC anchor a segment
        assert last.soc is not None  # a segment holds flows with a SoC only
        return Segment(
            kind,
            anchor.end,
            last.end,
            anchor.soc,
            last.soc,
            self._energy,
            (anchor.seq, anchor.id),
            (last.seq, last.id),
        )
