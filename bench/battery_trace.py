"""Battery traceability alone, on entries the simulator and the sample checks made.

``bench/origin_trace.py`` states the figures of both applications over one day
(``day_compute_over_read``, ``update_us_per_entry``). This benchmark cross-checks
the battery part on realistic input: a simulated flat's samples go through the
sidecar's sample checks and flow builder into a real ledger database (one flow per
second for a day: 86 400 entries, plus the hourly ``battery_state`` entries; with
``--quick``, one flow per 5 minutes for 30 days: 8 640). Then, each the median of
three runs:

* reading those entries from SQLite (the query and the decoding of each entry):
  the baseline;
* computing the battery's figures and anomalies from the entries read, by the
  incremental updater, one entry at a time.

``battery_compute_over_read`` is the second over the first (the battery's part of
the ≤ 3 target); ``battery_update_us`` the updater's cost per entry (its part of
the ≤ 50 µs target), beside ``read_us_per_entry``. Prints readable lines, then one
JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devkit.battery_life import contents
from sidecar.apps.battery.tracker import Tracker
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from sidecar.storage import battery_reads, store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer

BUILDING = "bldg-bench"
TZ = "Asia/Tokyo"


def _fill(path: Path, identity: Identity, days: int, step_s: int) -> int:
    store.create(path, BUILDING, identity.public_key)
    writer = Writer(path)
    writer.start()
    try:
        conn = store.connect(path, readonly=True)
        try:
            feed = Feed.load(conn, identity, BUILDING, writer, 1)
        finally:
            conn.close()
        count = 0
        for now, kind, content in contents(days, step_s=step_s):
            feed.append(kind, content, now)
            count += 1
        writer.flush()
    finally:
        writer.close()
    return count


def _median_s(run: Callable[[], object], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 640 entries")
    args = parser.parse_args()
    days, step_s = (30, 300) if args.quick else (1, 1)
    identity = Identity.generate()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        started = time.perf_counter()
        count = _fill(path, identity, days, step_s)
        print(
            f"{count} entries of one flat (a flow every {step_s} s for {days} day(s), "
            "and its battery states) "
            f"simulated and stored in {time.perf_counter() - started:.1f} s"
        )
        conn = store.connect(path, readonly=True)
        try:
            author = store.author_no(conn, identity.author)
            assert author is not None
            entries: list[Entry] = []

            def read() -> None:
                entries[:] = list(battery_reads.entries(conn, author))

            def compute() -> None:
                tracker = Tracker(TZ)
                for entry in entries:
                    tracker.add(entry)
                tracker.reports()

            read_s = _median_s(read)
            compute_s = _median_s(compute)
        finally:
            conn.close()
    assert len(entries) == count
    ratio = compute_s / read_s
    update_us = compute_s / count * 1e6
    read_us = read_s / count * 1e6
    print(
        f"reading {count} entries from SQLite: {read_s * 1000:.0f} ms "
        f"({read_us:.2f} µs each)"
    )
    print(
        f"battery figures from them: {compute_s * 1000:.0f} ms "
        f"({update_us:.2f} µs per entry), {ratio:.2f} × reading (target ≤ 3)"
    )
    result: dict[str, Any] = {
        "battery_compute_over_read": round(ratio, 3),
        "battery_update_us": round(update_us, 2),
        "read_us_per_entry": round(read_us, 2),
        "compute_s": round(compute_s, 4),
        "read_s": round(read_s, 4),
        "entries": count,
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
