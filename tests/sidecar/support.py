"""Helpers for the sidecar tests: real databases and writers, a node's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.sidecar_node import ConfigValue, init_node
from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer

BUILDING = "bldg-01"
HOUR = 3_600_000
DAY = 86_400_000
# 2026-06-21 00:00 UTC: a day boundary, so tests can reason about rollup periods.
T0 = 1_781_913_600_000


def ha_sample(ts: int, i: int) -> dict[str, Any]:
    """Home Assistant's ``sample`` message number ``i`` of a sunny flat, at ``ts``."""
    return {
        "type": "sample",
        "ts": ts,
        "pv_wh": 1000 + 1.5 * i,
        "pv_w": 5400,
        "grid_w": -3000,
        "battery_w": -1200,
        "soc_pct": 55,
        "frequency_hz": 60.01,
        "voltage_v": 101.2,
    }


def flow_content(
    start: int,
    *,
    pv: int = 1393,
    home: int = 319,
    bat_in: int = 500,
    ren: int = 1_000_000,
) -> JsonObject:
    """A valid flow body (without the common members) for a one-second interval."""
    totals = kinds.Totals(
        pv=pv,
        grid_in=0,
        bat_out=0,
        home=home,
        bat_in=bat_in,
        grid_out=pv - home - bat_in,
    )
    return {
        "start": start,
        "end": start + 1000,
        "loc": {"floor": "3", "flat": "301"},
        "samples": 1,
        "mhz": 60_012,
        "serial": "LVPP-301-BAT",
        "balance": kinds.balance(totals, metered=False),
        "transfers": [
            {"from": a, "to": b, "mwh": m, "ren": ren}
            for a, b, m in kinds.allocate(totals)
        ],
    }


@dataclass
class Ledger:
    """A node's database with its writer and feed, driven by an explicit clock."""

    path: Path
    identity: Identity
    writer: Writer
    feed: Feed

    def flows(self, count: int, start_ms: int, step_ms: int = 1000) -> int:
        """Append ``count`` flows one ``step_ms`` apart; returns the time after them."""
        now = start_ms
        for _ in range(count):
            self.feed.append(kinds.FLOW, flow_content(now - 1000), now)
            now += step_ms
        return now

    def sync(self) -> None:
        """Wait until everything appended is durable."""
        self.writer.flush()

    def reopen(self) -> None:
        """Close and load the feed again from disk, as after a restart."""
        self.sync()
        self.writer.close()
        self.writer = Writer(self.path)
        self.writer.start()
        conn = store.connect(self.path, readonly=True)
        try:
            self.feed = Feed.load(conn, self.identity, BUILDING, self.writer, 1)
        finally:
            conn.close()


def open_ledger(path: Path, identity: Identity | None = None) -> Ledger:
    """Create (or open) a ledger database at ``path``."""
    identity = identity or Identity.generate()
    store.create(path, BUILDING, identity.public_key)
    writer = Writer(path)
    writer.start()
    conn = store.connect(path, readonly=True)
    try:
        feed = Feed.load(conn, identity, BUILDING, writer, 1)
    finally:
        conn.close()
    return Ledger(path, identity, writer, feed)


def init_site(directory: Path, **settings: ConfigValue) -> Path:
    """``sidecar init`` flat 301 into ``directory``; the config path (port 0)."""
    config = directory / "sidecar.toml"
    init_node(config, building=BUILDING, floor="3", flat="301", settings=settings)
    return config
