"""Helpers for the sidecar tests: real databases, writers and processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer

ROOT = Path(__file__).resolve().parents[2]
BUILDING = "bldg-01"
HOUR = 3_600_000
DAY = 86_400_000
# 2026-06-21 00:00 UTC: a day boundary, so tests can reason about rollup periods.
T0 = 1_781_913_600_000
_READY = re.compile(r"listening on http://[\d.]+:(\d+)")


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


def read_rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
    """Every row ``sql`` selects from a node's database, read beside the node."""
    conn = store.connect(db, readonly=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def bus_entries(
    db: Path,
) -> tuple[dict[bytes, dict[str, Any]], list[tuple[dict[str, Any], bytes]]]:
    """The ``transfer`` bodies by entry id, and each ``receipt`` body with its ref."""
    transfers = {
        bytes(eid): dict(canonical.decode(bytes(body)))
        for eid, body in read_rows(
            db, "SELECT id, body FROM entries WHERE kind = 'transfer'"
        )
    }
    receipts = [
        (dict(canonical.decode(bytes(body))), bytes(refs))
        for body, refs in read_rows(
            db, "SELECT body, refs FROM entries WHERE kind = 'receipt'"
        )
    ]
    return transfers, receipts


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


def sidecar_command(*args: str) -> list[str]:
    """The command line of ``python -m sidecar``."""
    return [sys.executable, "-m", "sidecar", *args]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a sidecar command to completion."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        sidecar_command(*args),
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def init_site(directory: Path, **overrides: Any) -> Path:
    """``sidecar init`` into ``directory``; returns the config path (port 0)."""
    config = directory / "sidecar.toml"
    result = run_cli(
        "init",
        "--config",
        str(config),
        "--building",
        BUILDING,
        "--floor",
        "3",
        "--flat",
        "301",
        "--listen",
        "127.0.0.1:0",
    )
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    for key, value in overrides.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    config.write_text(text)
    return config


class RunningSidecar:
    """A ``python -m sidecar run`` process and a way to talk to it."""

    def __init__(
        self, config: Path, process: asyncio.subprocess.Process, port: int
    ) -> None:
        self.config = config
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}/api/v1/ws"
        self.token = tomllib.loads(config.read_text())["node"]["api_token"]
        self.db = config.parent / "data" / "ledger.db"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connect(
        self,
        session: aiohttp.ClientSession,
        *,
        hello: bool = True,
        subscribe: tuple[str, ...] = (),
    ) -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(self.url, headers=self.headers)
        if hello:
            await ws.send_json(
                {
                    "type": "hello",
                    "protocol": 1,
                    "serial": "LVPP-301-BAT",
                    "subscribe": list(subscribe),
                }
            )
            welcome = await ws.receive_json(timeout=10)
            assert welcome["type"] == "welcome", welcome
        return ws

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM and wait; a node that does not stop within 30 s fails the test."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()  # never leave a node behind
            await self.process.wait()
            raise AssertionError("the sidecar did not stop within 30 s") from None


async def start_sidecar(config: Path) -> RunningSidecar:
    """Start the node as a real process and wait for its ready line.

    Its log goes to ``sidecar.log`` beside the configuration, for failed tests.
    """
    with (config.parent / "sidecar.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *sidecar_command("run", "--config", str(config)),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        match = _READY.search(line.decode())
        if match is None:
            raise AssertionError(f"the sidecar did not start: {line!r}")
        return RunningSidecar(config, process, int(match.group(1)))
    except BaseException:
        # A timeout, a bad ready line or a cancelled test: never leave it running.
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            process.kill()
        await process.wait()
        raise
