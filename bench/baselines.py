"""What the machine does bare, measured beside a benchmark's figures in the same run.

On a shared machine the figures move with the load; these baselines move with them,
so that a figure is read as a multiple of the bare operation it is made of.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import statistics
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from devkit.ports import free_port
from sidecar.ledger.identity import Identity, KeyRing


def bare_verify_us(rounds: int = 5, per_round: int = 1000) -> float:
    """One ECDSA P-256 verification through sidecar.identity with a cached key, µs."""
    identity = Identity.generate()
    ring = KeyRing()
    author = ring.add(identity.public_key)
    message = os.urandom(32)
    sig = identity.sign(message)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            ring.verify(author, message, sig)
        times.append((time.perf_counter() - start) / per_round * 1e6)
    return statistics.median(times)


def commit_ms(directory: Path, sync: str, count: int = 100) -> float:
    """p50 of one single-row commit in WAL mode with the node's sync mode, ms."""
    path = directory / "commit-baseline.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync.upper()}")
        conn.execute("CREATE TABLE t (x BLOB)")
        row = os.urandom(400)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (?)", (row,))
            conn.execute("COMMIT")
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()


async def ws_echo_ms(count: int = 300) -> float:
    """p50 of a WebSocket echo on 127.0.0.1 (aiohttp server and client), ms."""

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    times = []
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{port}/") as ws,
        ):
            frame = json.dumps({"type": "entries", "entries": ["x" * 400]})
            for _ in range(count):
                start = time.perf_counter()
                await ws.send_str(frame)
                await ws.receive()
                times.append((time.perf_counter() - start) * 1000)
    finally:
        await runner.cleanup()
    return statistics.median(times[count // 10 :])
