"""Reading the ledger back: a day of one flat's origin and battery figures.

A day of one flat at one flow a second (86 400 entries) is written through the real
feed and writer, then:

* ``day_compute_over_read``: computing the day's figures of both applications from
  the entries ÷ reading those entries from SQLite through the storage layer (query
  and open: the bare cost any reader of the ledger pays). Renewable origin is the
  tracker, the allocation and the certificate bundles; battery traceability the
  battery tracker and its reports (energy, cycles, efficiency, capacity,
  anomalies). Target ≤ 3. Each application's own ratio is printed beside it.
* ``update_us_per_entry``: the incremental update of both applications for one
  new entry, µs, beside decoding one entry's JSON body (the bare step every update
  is preceded by). Target ≤ 50.
* ``cert_bytes_per_flat_hour``: the certificate file's bytes (header, anchors,
  bundles) per flat-hour. Target ≤ 1024.
* ``verify_month_s``: checking a month of one flat's certificates offline from the
  exported feeds. A month of flows at 1 Hz is 2.6 million lines, too big to write
  on a shared machine each run, so the month is written at one flow a minute (the
  same 720 hourly rollups and certificates), checked, and the cost of passing over
  the other flows is added as measured per line on the 1 Hz day's export. Target
  ≤ 10 s.

Each application is one entry of ``APPLICATIONS``: how it computes a day from the
entries read, and its incremental updater. Readable lines, then one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit import origin_ledger
from sidecar.apps.battery import tracker as battery
from sidecar.apps.origin import certificates, checker, feeds, issue, model
from sidecar.apps.origin.hourly import Tracker
from sidecar.apps.origin.today import Today
from sidecar.ledger.canonical import encode
from sidecar.ledger.etp import Entry
from sidecar.storage import origin_reads, store
from sidecar.tools.export import export_lines

TZ = "Asia/Tokyo"
DAY_START = 1_764_514_800_000  # 2025-12-01 00:00 in Tokyo
DAY_S = 86_400
NOON_MS = 12 * 3_600_000
MONTH_DAYS = 30


@dataclass(frozen=True)
class Day:
    """A day of one flat's ledger, written and exported."""

    db: Path
    export: Path
    entries: int
    seconds: int


def write_day(folder: Path, seconds: int) -> Day:
    """One flat, one flow a second, for ``seconds``; exported beside it."""
    db = folder / "day.db"
    building = origin_ledger.write_building(
        db, origin_ledger.profiles(2)[1:], start_ms=DAY_START, seconds=seconds
    )
    origin_ledger.close(building)
    export = folder / "day.jsonl"
    conn = store.connect(db, readonly=True)
    try:
        export.write_text("".join(line + "\n" for line in export_lines(conn)))
        count = sum(1 for _ in origin_reads.origin_entries(conn))
    finally:
        conn.close()
    return Day(db, export, count, seconds)


def _read(db: Path) -> tuple[list[Entry], float]:
    """The flat's entries both applications read (flows, hourly rollups, states)."""
    conn = store.connect(db, readonly=True)
    try:
        start = time.perf_counter()
        entries = list(origin_reads.origin_entries(conn))
        return entries, time.perf_counter() - start
    finally:
        conn.close()


def _origin_day(entries: list[Entry]) -> None:
    tracker = Tracker(TZ)
    for entry in entries:
        tracker.add(entry)
    figures = model.compute(tracker.flats)
    certificates.bundles(figures, tracker.flats, TZ, start=0, end=2**53)


def _battery_day(entries: list[Entry]) -> None:
    tracker = battery.Tracker(TZ)
    for entry in entries:
        tracker.add(entry)
    tracker.reports()


@dataclass(frozen=True)
class Application:
    """How an application computes a day, and its updater for one entry."""

    day: Callable[[list[Entry]], None]
    updater: Callable[[], Callable[[Entry], object]]


APPLICATIONS: dict[str, Application] = {
    "origin": Application(_origin_day, lambda: Tracker(TZ).add),
    "battery": Application(_battery_day, lambda: battery.Tracker(TZ).add),
}


def _timed(day: Callable[[list[Entry]], None], entries: list[Entry]) -> float:
    start = time.perf_counter()
    day(entries)
    return time.perf_counter() - start


def _day_figures(db: Path, rounds: int) -> tuple[float, dict[str, float], int]:
    """Median read s, median compute s per application, and the entries read."""
    reads: list[float] = []
    computes: dict[str, list[float]] = {name: [] for name in APPLICATIONS}
    entries: list[Entry] = []
    for _ in range(rounds):
        entries, read_s = _read(db)
        reads.append(read_s)
        for name, application in APPLICATIONS.items():
            computes[name].append(_timed(application.day, entries))
    medians = {name: statistics.median(times) for name, times in computes.items()}
    return statistics.median(reads), medians, len(entries)


def _update_us(db: Path, rounds: int) -> tuple[dict[str, float], float]:
    """Median µs of one update per application, and of decoding one body."""
    entries, _read_s = _read(db)
    flows = [entry for entry in entries if entry.kind == "flow"][:20_000]
    bodies = [entry.body for entry in flows]
    update: dict[str, list[float]] = {name: [] for name in APPLICATIONS}
    decode = []
    for _ in range(rounds):
        for name, application in APPLICATIONS.items():
            add = application.updater()
            start = time.perf_counter()
            for entry in flows:
                add(entry)
            update[name].append((time.perf_counter() - start) / len(flows) * 1e6)
        start = time.perf_counter()
        for body in bodies:
            json.loads(body)
        decode.append((time.perf_counter() - start) / len(bodies) * 1e6)
    medians = {name: statistics.median(times) for name, times in update.items()}
    return medians, statistics.median(decode)


def _today_ms(db: Path) -> tuple[float, float]:
    """ms to answer today's figures: from a cold start, and again (nothing new)."""
    conn = store.connect(db, readonly=True)
    try:
        today = Today(TZ)
        start = time.perf_counter()
        today.catch_up(conn)
        today.figures(b"", DAY_START + NOON_MS)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        today.catch_up(conn)
        today.figures(b"", DAY_START + NOON_MS)
        warm = time.perf_counter() - start
    finally:
        conn.close()
    return cold * 1000, warm * 1000


def _issue_bytes(db: Path) -> tuple[float, int]:
    conn = store.connect(db, readonly=True)
    try:
        issued = issue.issue(conn, TZ, start=0, end=2**53)
    finally:
        conn.close()
    size = sum(len(encode(line)) + 1 for line in issued.lines)
    hours = sum(1 for line in issued.lines if line["type"] == "bundle")
    return size / max(hours, 1), hours


def _scan_per_line_us(export: Path) -> tuple[float, float]:
    """µs per export line: scanning for certificates, and bare reading of lines."""
    start = time.perf_counter()
    with export.open() as lines:
        view = feeds.scan(lines)
    scan = time.perf_counter() - start
    count = sum(1 for _ in export.open())
    start = time.perf_counter()
    with export.open() as lines:
        for _line in lines:
            pass
    bare = time.perf_counter() - start
    assert view.flows_passed > 0
    return scan / count * 1e6, bare / count * 1e6


def _verify_month(folder: Path, days: int, skip_us: float) -> dict[str, float]:
    """Write a month of one flat at one flow a minute; check its certificates."""
    db = folder / "month.db"
    building = origin_ledger.write_building(
        db,
        origin_ledger.profiles(2)[1:],
        start_ms=DAY_START,
        seconds=days * DAY_S,
        interval_ms=60_000,
    )
    origin_ledger.close(building)
    conn = store.connect(db, readonly=True)
    try:
        export = folder / "month.jsonl"
        export.write_text("".join(line + "\n" for line in export_lines(conn)))
        issued = issue.issue(conn, TZ, start=0, end=2**53)
    finally:
        conn.close()
    lines = [encode(line).decode() for line in issued.lines]
    start = time.perf_counter()
    with export.open() as feed_lines:
        view = feeds.scan(feed_lines)
    result = checker.check(lines, view)
    measured = time.perf_counter() - start
    assert result.ok, result.faults[:3]
    flows_1hz = days * DAY_S
    extra = (flows_1hz - view.flows_passed) * skip_us / 1e6
    return {
        "measured_s": measured,
        "at_1hz_s": measured + extra,
        "bundles": result.bundles,
        "certificates": result.certificates,
        "days": days,
    }


def day_figures(day: Day, quick: bool) -> dict[str, Any]:
    """Both applications over the day: compute against read, update per entry."""
    rounds = 3 if quick else 5
    read_s, computes, count = _day_figures(day.db, rounds)
    updates, decode_us = _update_us(day.db, rounds)
    total_s = sum(computes.values())
    update_us = sum(updates.values())
    print(
        f"a day of one flat: {count} flows and hourly rollups "
        f"({day.seconds / 3600:.0f} h) read in {read_s:.2f} s"
    )
    for name, compute_s in computes.items():
        print(
            f"  {name}: computed in {compute_s:.2f} s ({compute_s / read_s:.2f} × "
            f"reading), {updates[name]:.1f} µs per new entry"
        )
    print(
        f"both: {total_s:.2f} s, {total_s / read_s:.2f} × reading (target ≤ 3); "
        f"{update_us:.1f} µs per new entry (target ≤ 50; bare decode of a body "
        f"{decode_us:.1f} µs, ratio {update_us / decode_us:.2f})"
    )
    result: dict[str, Any] = {
        "day_compute_over_read": round(total_s / read_s, 3),
        "day_read_s": round(read_s, 3),
        "update_us_per_entry": round(update_us, 2),
        "decode_us_per_body": round(decode_us, 2),
    }
    for name in APPLICATIONS:
        result[f"{name}_compute_over_read"] = round(computes[name] / read_s, 3)
        result[f"{name}_update_us"] = round(updates[name], 2)
    return result


def certificate_figures(day: Day, folder: Path, quick: bool) -> dict[str, Any]:
    """Certificate size, today's figures as asked, and a month checked offline."""
    per_hour, hours = _issue_bytes(day.db)
    cold_ms, warm_ms = _today_ms(day.db)
    skip_us, bare_line_us = _scan_per_line_us(day.export)
    month = _verify_month(folder, 7 if quick else MONTH_DAYS, skip_us)
    print(f"certificates: {per_hour:.0f} bytes per flat-hour over {hours} flat-hours")
    print(
        f"today's figures (as Home Assistant asks): {cold_ms:.1f} ms after a start, "
        f"{warm_ms:.1f} ms again"
    )
    print(
        f"feed export scan: {skip_us:.2f} µs per line (bare line read "
        f"{bare_line_us:.2f} µs)"
    )
    print(
        f"verify {month['days']} days of one flat ({month['certificates']} "
        f"certificates, {month['bundles']} flat-hours): {month['measured_s']:.2f} s "
        f"at one flow a minute, {month['at_1hz_s']:.2f} s with 1 Hz flows"
    )
    return {
        "cert_bytes_per_flat_hour": round(per_hour, 1),
        "today_cold_ms": round(cold_ms, 2),
        "today_warm_ms": round(warm_ms, 2),
        "verify_month_s": round(month["at_1hz_s"], 3),
        "verify_month_measured_s": round(month["measured_s"], 3),
        "verify_days": month["days"],
        "scan_us_per_line": round(skip_us, 3),
        "bare_line_us": round(bare_line_us, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 1 min)")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        day = write_day(folder, DAY_S // 8 if args.quick else DAY_S)
        result.update(day_figures(day, args.quick))
        result.update(certificate_figures(day, folder, args.quick))
    result["quick"] = args.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
