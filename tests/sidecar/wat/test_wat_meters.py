"""A node's own meters from its flows: one per interval, gaps extend, PV share kept."""

from __future__ import annotations

from sidecar.apps.wat.meters import MeterBuilder
from sidecar.ledger.canonical import JsonObject
from tests.sidecar.wat.support import HALF_HOUR, T0

SECOND = 1000


def _flow(start: int, end: int, grid_in: int = 0, grid_out: int = 0) -> JsonObject:
    transfers: list[object] = []
    if grid_out:
        transfers.append(
            {"from": "pv", "to": "grid", "mwh": grid_out, "ren": 1_000_000}
        )
    return {
        "start": start,
        "end": end,
        "balance": {"grid_in": grid_in, "grid_out": grid_out},
        "transfers": transfers,  # type: ignore[dict-item]
    }


def test_a_meter_sums_an_interval_and_is_closed_by_the_next_flow() -> None:
    """1 800 one-second flows make one meter, written when 00:30:00 begins."""
    builder = MeterBuilder(lambda _at: HALF_HOUR)
    written = [
        builder.add(seq, _flow(T0 + i * SECOND, T0 + (i + 1) * SECOND, 1, 2))
        for seq, i in enumerate(range(1800), start=1)
    ]
    assert written == [None] * 1800
    closed = builder.add(1801, _flow(T0 + HALF_HOUR, T0 + HALF_HOUR + SECOND))
    assert closed == {
        "start": T0,
        "end": T0 + HALF_HOUR,
        "grid_in": 1800,
        "grid_out": 3600,
        "ren_out": 3600,
        "first": 1,
        "last": 1800,
    }


def test_a_gap_flow_extends_its_meter_over_the_intervals_it_spans() -> None:
    """Away from 00:10 to 02:00: the gap flow's meter ends at 02:00; the next starts."""
    builder = MeterBuilder(lambda _at: HALF_HOUR)
    builder.add(1, _flow(T0, T0 + 600 * SECOND, grid_in=100))
    assert (
        builder.add(2, _flow(T0 + 600 * SECOND, T0 + 4 * HALF_HOUR, grid_in=900))
        is None
    )
    closed = builder.add(3, _flow(T0 + 4 * HALF_HOUR, T0 + 4 * HALF_HOUR + SECOND))
    assert closed is not None
    assert (closed["start"], closed["end"], closed["grid_in"]) == (
        T0,
        T0 + 4 * HALF_HOUR,
        1000,
    )
    closed = builder.add(4, _flow(T0 + 5 * HALF_HOUR, T0 + 5 * HALF_HOUR + SECOND))
    assert closed is not None
    # It covers the flows it sums: up to the end of the last one.
    assert (closed["start"], closed["end"]) == (
        T0 + 4 * HALF_HOUR,
        T0 + 4 * HALF_HOUR + SECOND,
    )
