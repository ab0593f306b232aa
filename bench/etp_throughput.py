"""Ledger throughput: ETPs created, signed and stored; and verified and stored.

Each figure is printed beside the bare `cryptography` operation it is built on,
measured in the same run and interleaved with it so that both see the same machine
noise: the ratio is the figure that matters (target ≥ 0.5 for both). Then the bytes an
entry takes on disk, what that means per day and in steady state for buildings of 50
and 200 flats at one entry per second, and the resident memory of a running node.

Prints readable lines, then one JSON object as the very last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from devkit.sidecar_node import init_node, start_sidecar
from sidecar.config import DAY_MS
from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer
from sidecar.tools.export import export_lines
from sidecar.tools.ingest import Ingestor

BUILDING = "bldg-01"
T0 = 1_781_913_600_000
FLOW_HOURS = 4  # the defaults of [retention]
HOURLY_DAYS = 35
DISK_TARGET_GB = 5.0
_ECDSA = ec.ECDSA(hashes.SHA256())
# A day's mix of intervals: sunny with a charging battery, evening discharge, night.
_SHAPES = [
    kinds.Totals(pv=1393, grid_in=0, bat_out=0, home=319, bat_in=500, grid_out=574),
    kinds.Totals(pv=260, grid_in=0, bat_out=180, home=440, bat_in=0, grid_out=0),
    kinds.Totals(pv=0, grid_in=95, bat_out=210, home=305, bat_in=0, grid_out=0),
    kinds.Totals(pv=730, grid_in=0, bat_out=0, home=410, bat_in=320, grid_out=0),
]


def _content(i: int, start: int) -> JsonObject:
    """A flow as the flow builder makes it at the end of an interval."""
    totals = _SHAPES[i % len(_SHAPES)]
    ren = {"pv": kinds.PPM, "grid": 220_000, "battery": 870_000}
    return {
        "start": start,
        "end": start + 1000,
        "loc": {"floor": "3", "flat": "301"},
        "samples": 1,
        "balance": kinds.balance(totals, metered=False),
        "transfers": [
            {"from": a, "to": b, "mwh": m, "ren": ren[a]}
            for a, b, m in kinds.allocate(totals)
        ],
        "serial": "LVPP-301-BAT",
        "mhz": 60_000 + i % 40,
        "mv": 101_200 + i % 900,
        "soc": 540_000 + i % 5000,
        "bat_ren": 870_000,
    }


def _bare_sign(key: Identity, count: int) -> float:
    message = b"\x5a" * 32
    private = key.private_key
    start = time.perf_counter()
    for _ in range(count):
        private.sign(message, _ECDSA)
    return time.perf_counter() - start


def _bare_verify(key: Identity, count: int) -> float:
    message = b"\x5a" * 32
    sig = key.sign(message)
    der = encode_dss_signature(
        int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    )
    public = key.private_key.public_key()
    start = time.perf_counter()
    for _ in range(count):
        public.verify(der, message, _ECDSA)
    return time.perf_counter() - start


def measure_append(path: Path, rounds: int, per_round: int) -> dict[str, float]:
    """Create + sign + store through the node's own feed and writer, durable."""
    key = Identity.generate()
    store.create(path, BUILDING, key.public_key)
    writer = Writer(path)
    writer.start()
    conn = store.connect(path, readonly=True)
    feed = Feed.load(conn, key, BUILDING, writer, 1)
    conn.close()
    _bare_sign(key, 2000)  # warm up both paths
    now = T0
    appended = sign_time = append_time = 0.0
    ratios: list[float] = []
    try:
        for _ in range(rounds):
            bare = _bare_sign(key, per_round)
            start = time.perf_counter()
            for _ in range(per_round):
                feed.append(kinds.FLOW, _content(int(appended), now - 1000), now)
                now += 1000
                appended += 1
            writer.flush()  # counted: an entry is done when it is durable
            spent = time.perf_counter() - start
            sign_time += bare
            append_time += spent
            ratios.append(bare / spent)
    finally:
        writer.close()
    return {
        "entries": appended,
        "append_per_s": appended / append_time,
        "sign_per_s": appended / sign_time,
        "append_ratio": statistics.median(ratios),
    }


def measure_ingest(source: Path, target: Path, rounds: int) -> dict[str, float]:
    """Verify + store the exported feed into a second node's database."""
    conn = store.connect(source, readonly=True)
    lines = list(export_lines(conn))
    conn.close()
    author_lines = [line for line in lines if '"type":"author"' in line]
    entry_lines = [line for line in lines if '"type":"entry"' in line]
    key = Identity.generate()
    store.create(target, BUILDING, key.public_key)
    writer = Writer(target)
    writer.start()
    reader = store.connect(target, readonly=True)
    ingestor = Ingestor(reader, writer)
    for line in author_lines:
        ingestor.line(line)
    _bare_verify(key, 500)
    chunk = max(1, len(entry_lines) // rounds)
    taken = verify_time = ingest_time = 0.0
    ratios: list[float] = []
    try:
        for first in range(0, len(entry_lines), chunk):
            part = entry_lines[first : first + chunk]
            bare = _bare_verify(key, len(part))
            start = time.perf_counter()
            for line in part:
                reason = ingestor.line(line)
                if reason is not None:
                    raise SystemExit(f"ingest refused a line: {reason}")
            ingestor.finish()
            spent = time.perf_counter() - start
            taken += len(part)
            verify_time += bare
            ingest_time += spent
            ratios.append(bare / spent)
    finally:
        writer.close()
        reader.close()
    return {
        "ingested": taken,
        "ingest_per_s": taken / ingest_time,
        "verify_per_s": taken / verify_time,
        "ingest_ratio": statistics.median(ratios),
    }


def measure_disk(path: Path) -> dict[str, float]:
    """Bytes per stored flow and per rollup, from the file after a WAL checkpoint."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        used = page_size * (
            conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]
        )
        rows = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        payload = dict(
            conn.execute(
                "SELECT kind = 'flow', avg(length(body) + length(sig) + length(id) "
                "+ length(prev) + length(refs) + length(kind)) FROM entries GROUP BY 1"
            ).fetchall()
        )
    finally:
        conn.close()
    per_entry = used / rows
    # What SQLite adds to each row (record header, index entry, page slack), applied to
    # rollups too, which are too few here to measure on their own.
    overhead = per_entry - payload[1]
    return {
        "bytes_per_entry": per_entry,
        "flow_payload_bytes": payload[1],
        "rollup_bytes": payload.get(0, payload[1]) + overhead,
    }


def disk_model(per_entry: float, rollup_bytes: float, flats: int) -> dict[str, float]:
    """Disk use of a node holding a whole building's feeds at one flow a second each."""
    gb = 1e9
    raw_day = flats * DAY_MS / 1000 * per_entry / gb
    # Flows stay until their hourly rollup is FLOW_HOURS old: up to one more hour.
    flows = flats * (FLOW_HOURS + 1) * 3600 * per_entry / gb
    hourly = flats * (HOURLY_DAYS + 1) * 24 * rollup_bytes / gb
    per_year = flats * 365 * rollup_bytes / gb
    steady = flows + hourly
    return {
        "raw_gb_per_day": raw_day,
        "steady_gb": steady,
        "growth_gb_per_year": per_year,
        "years_to_target": (DISK_TARGET_GB - steady) / per_year,
    }


async def measure_rss(seconds: float) -> dict[str, float]:
    """Resident memory of a real node process while it takes samples."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "sidecar.toml"
        await asyncio.to_thread(
            partial(init_node, config, building=BUILDING, floor="3", flat="301")
        )
        node = await start_sidecar(config)
        assert node.process is not None
        process = node.process
        entries = 0
        try:
            async with aiohttp.ClientSession() as session:
                ws = await node.connect(session)
                ts = time.time_ns() // 1_000_000 - 20 * 3_600_000
                deadline = time.monotonic() + seconds
                i = 0
                while time.monotonic() < deadline:
                    i += 1
                    await ws.send_json(
                        {"type": "sample", "ts": ts + i * 1000, "pv_wh": 5 + 1.5 * i,
                         "grid_w": -3000, "battery_w": -1200, "soc_pct": 55}
                    )  # fmt: skip
                    if i > 1:
                        reply: dict[str, Any] = await ws.receive_json()
                        entries += reply["type"] == "entry"
                await ws.close()
            status = await asyncio.to_thread(
                Path(f"/proc/{process.pid}/status").read_text
            )
        finally:
            await node.stop()
    fields = dict(re.findall(r"(VmRSS|VmHWM):\s+(\d+) kB", status))
    return {
        "rss_mb": int(fields["VmRSS"]) / 1024,
        "rss_peak_mb": int(fields["VmHWM"]) / 1024,
        "node_entries": entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 1 min)")
    args = parser.parse_args()
    rounds, per_round = (6, 4000) if args.quick else (12, 8000)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "a.db", Path(folder) / "b.db"
        append = measure_append(source, rounds, per_round)
        ingest = measure_ingest(source, target, rounds)
        disk = measure_disk(source)
    memory = asyncio.run(measure_rss(3.0 if args.quick else 10.0))
    model = {
        flats: disk_model(disk["bytes_per_entry"], disk["rollup_bytes"], flats)
        for flats in (50, 200)
    }

    sign_ratio, verify_ratio = append["append_ratio"], ingest["ingest_ratio"]
    print(f"ETP create+sign+store  : {append['append_per_s']:9,.0f} entries/s, durable")
    print(
        f"bare ECDSA P-256 sign  : {append['sign_per_s']:9,.0f} /s  "
        f"ratio {sign_ratio:.2f}"
    )
    print(f"ETP verify+store       : {ingest['ingest_per_s']:9,.0f} entries/s, durable")
    print(
        f"bare ECDSA P-256 verify: {ingest['verify_per_s']:9,.0f} /s  "
        f"ratio {verify_ratio:.2f}"
    )
    print(
        f"disk: {disk['bytes_per_entry']:.0f} bytes per flow entry, "
        f"{disk['flow_payload_bytes']:.0f} of them body, id, prev and signature; "
        f"about {disk['rollup_bytes']:.0f} bytes per rollup"
    )
    for flats, figures in model.items():
        print(
            f"{flats:3d} flats at 1 Hz: "
            f"{figures['raw_gb_per_day']:.2f} GB/day unpruned; "
            f"default retention: {figures['steady_gb']:.2f} GB steady, then "
            f"+{figures['growth_gb_per_year'] * 1000:.0f} MB/year of daily rollups "
            f"({figures['years_to_target']:.0f} years to {DISK_TARGET_GB:.0f} GB)"
        )
    print(
        f"node process: {memory['rss_mb']:.1f} MB resident "
        f"(peak {memory['rss_peak_mb']:.1f} MB) "
        f"after {memory['node_entries']:.0f} entries"
    )
    result: dict[str, Any] = {
        "append_ratio": round(append["append_ratio"], 3),
        "ingest_ratio": round(ingest["ingest_ratio"], 3),
        "bytes_per_entry": round(disk["bytes_per_entry"], 1),
        "append_per_s": round(append["append_per_s"]),
        "sign_per_s": round(append["sign_per_s"]),
        "ingest_per_s": round(ingest["ingest_per_s"]),
        "verify_per_s": round(ingest["verify_per_s"]),
        "rollup_bytes": round(disk["rollup_bytes"], 1),
        "disk_gb_per_day_50": round(model[50]["raw_gb_per_day"], 3),
        "disk_gb_per_day_200": round(model[200]["raw_gb_per_day"], 3),
        "steady_gb_50": round(model[50]["steady_gb"], 3),
        "steady_gb_200": round(model[200]["steady_gb"], 3),
        "growth_gb_per_year_200": round(model[200]["growth_gb_per_year"], 4),
        "rss_mb": round(memory["rss_mb"], 1),
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
