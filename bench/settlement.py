"""WAT settlement of 200 flats: one interval, a month from scratch, increments.

Each flat's node sums its 1 Hz flows into one ``wat_meter`` entry per 30-minute
interval (retention later folds the flows into rollups; the meters stay), so
settlement reads 200 meters an interval, 288 000 a month. Figures, each beside a
baseline measured in the same run on the same entries (decoding their bodies and
summing their imports, the least any settlement must do):

* ``interval_200_flats_ms``: decode 200 meters, settle one interval (target ≤ 20 ms);
* ``month_200_flats_s``: decode and settle a month (1 440 intervals) from scratch
  (target ≤ 60 s);
* ``incremental_us_per_interval``: with the month settled, take the next interval's
  meters and settle it;
* ``meter_us_per_flow``: a node adding one own flow to its open meter.

``--quick`` settles 3 days instead of a month (under a minute with the set-up). The
roster of a real building holds at most 64 members; the bench builds a 200-member
roster object directly, to measure the arithmetic at the size the ticket names.
Prints readable lines, then one JSON object as the very last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from sidecar.apps.wat import kinds, spec
from sidecar.apps.wat.meters import MeterBuilder
from sidecar.apps.wat.settlement import Settlement
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster

FLATS = 200
HALF_HOUR = 1_800_000
T0 = 1_796_050_800_000  # 2026-12-01 00:00 Asia/Tokyo
BUILDING = "bench"


class Ledger:
    """200 flats' keys, roster, an adopted currency and their signed meters."""

    def __init__(self) -> None:
        self.keys = [Identity.from_scalar(5000 + i) for i in range(FLATS)]
        self.roster = Roster(
            BUILDING,
            1,
            tuple(
                Member(f"f{i}", "1", key.public_key, f"127.0.0.1:{10000 + i}")
                for i, key in enumerate(self.keys)
            ),
        )
        self.seqs = [0] * FLATS
        self.heads = [bytes(32)] * FLATS
        self.rng = random.Random(15)
        self.currency = spec.default(BUILDING, T0)

    def entry(self, flat: int, kind: str, members: JsonObject, ts: int) -> Entry:
        """Flat ``flat``'s next signed entry."""
        content: JsonObject = {"v": 1, "kind": kind, "building": BUILDING, "ts": ts}
        content.update(members)
        self.seqs[flat] += 1
        made = etp.make_entry(
            self.keys[flat], self.seqs[flat], self.heads[flat], (), content
        )
        self.heads[flat] = made.id
        return made

    def interval(self, index: int) -> list[Entry]:
        """Every flat's meter of interval ``index``: about half export, half import."""
        start = T0 + index * HALF_HOUR
        meters = []
        for flat in range(FLATS):
            out = self.rng.randrange(0, 1_500_000)
            body = kinds.meter_body(
                start,
                start + HALF_HOUR,
                (self.rng.randrange(0, 1_500_000), out, out // 2),
                1,
                1,
            )
            meters.append(self.entry(flat, kinds.METER, body, start + HALF_HOUR + 1))
        return meters


def decoded(entries: list[Entry]) -> list[Entry]:
    """The entries as a reader gets them from storage: bodies decoded from bytes."""
    return [dataclasses.replace(e, content=json.loads(e.body)) for e in entries]


def bare(entries: list[Entry]) -> int:
    """The baseline: decode every body and sum the imports."""
    return sum(json.loads(e.body).get("grid_in", 0) for e in entries)


def timed(action: Callable[[], object], rounds: int) -> float:
    """Median seconds of ``action`` over ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fresh(ledger: Ledger) -> Settlement:
    """An empty settlement with the currency in force.

    A roster holds at most 64 members, so 200 flats cannot adopt a currency by entry;
    the version is put in force directly, as a valid ``currency`` entry would.
    """
    settlement = Settlement(ledger.roster)
    settlement.inputs.currencies.versions = [ledger.currency]
    return settlement


def settle(settlement: Settlement, entries: list[Entry], until: int) -> Settlement:
    """``settlement`` given ``entries`` (decoded here) and settled up to ``until``."""
    for entry in decoded(entries):
        settlement.offer(entry)
    settlement.advance(until)
    return settlement


def timed_settle(
    ledger: Ledger, entries: list[Entry], until: int, rounds: int
) -> float:
    """Median seconds to decode and settle ``entries`` into a fresh settlement."""
    times = []
    for _ in range(rounds):
        settlement = fresh(ledger)
        start = time.perf_counter()
        settle(settlement, entries, until)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 days, not a month")
    args = parser.parse_args()
    days = 3 if args.quick else 30
    intervals = days * 48
    ledger = Ledger()
    started = time.perf_counter()
    table = [ledger.interval(index) for index in range(intervals + 48)]
    print(
        f"{FLATS} flats, {intervals} intervals: {FLATS * intervals} meters signed "
        f"in {time.perf_counter() - started:.1f} s"
    )
    one = table[0]
    interval_s = timed_settle(ledger, one, T0 + HALF_HOUR, 15)
    interval_bare = timed(lambda: bare(one), 15)
    print(
        f"one interval, 200 flats: {interval_s * 1e3:.2f} ms "
        f"(baseline decode+sum {interval_bare * 1e3:.2f} ms)"
    )
    month = [entry for row in table[:intervals] for entry in row]
    end = T0 + intervals * HALF_HOUR
    month_bare = timed(lambda: bare(month), 1)
    settlement = fresh(ledger)
    start = time.perf_counter()
    settle(settlement, month, end)
    month_s = time.perf_counter() - start
    assert len(settlement.book.intervals) == intervals
    print(
        f"{days} days from scratch: {month_s:.2f} s "
        f"(baseline decode+sum {month_bare:.2f} s)"
    )
    steps = []
    step_bare = []
    for index in range(intervals, intervals + 48):
        row = decoded(table[index])
        begin = time.perf_counter()
        for entry in row:
            settlement.offer(entry)
        settled = settlement.advance(T0 + (index + 1) * HALF_HOUR)
        steps.append(time.perf_counter() - begin)
        assert len(settled) == 1
        step_bare.append(timed(partial(bare, row), 1))
    incremental_us = statistics.median(steps) * 1e6
    incremental_bare = statistics.median(step_bare) * 1e6
    print(
        f"next interval, incremental: {incremental_us:.0f} µs "
        f"(baseline {incremental_bare:.0f} µs; rebuilds {settlement.rebuilds})"
    )
    flow: JsonObject = {
        "start": T0,
        "end": T0 + 1000,
        "balance": {"grid_in": 0, "grid_out": 555},
        "transfers": [{"from": "pv", "to": "grid", "mwh": 555, "ren": 1_000_000}],
    }
    builder = MeterBuilder(lambda _at: HALF_HOUR)
    flows = [
        dict(flow, start=T0 + i * 1000, end=T0 + (i + 1) * 1000) for i in range(1800)
    ]
    begin = time.perf_counter()
    for seq, body in enumerate(flows, start=1):
        builder.add(seq, body)
    meter_us = (time.perf_counter() - begin) / len(flows) * 1e6
    flow_bare = timed(lambda: [json.dumps(body) for body in flows], 3) / 1800 * 1e6
    print(
        f"a node's meter: {meter_us:.2f} µs per flow "
        f"(baseline json.dumps {flow_bare:.2f} µs)"
    )
    figures = {
        "interval_200_flats_ms": round(interval_s * 1e3, 3),
        "interval_baseline_ms": round(interval_bare * 1e3, 3),
        "month_200_flats_s": round(month_s * (30 / days), 2),
        "month_measured_days": days,
        "month_baseline_s": round(month_bare * (30 / days), 2),
        "incremental_us_per_interval": round(incremental_us, 1),
        "incremental_baseline_us": round(incremental_bare, 1),
        "meter_us_per_flow": round(meter_us, 3),
        "meter_baseline_us": round(flow_bare, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
