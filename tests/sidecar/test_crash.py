"""kill -9 at random moments while the node writes: nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit.node_db import read_rows
from devkit.processes import module_command
from devkit.sidecar_node import sidecar_cli as run_cli
from devkit.sidecar_node import start_sidecar
from sidecar.tools.verify import verify_database
from tests.sidecar.support import init_site

KILLS = 20


async def _write_until_killed(
    config: Path, first_ts: int, first_counter: float, kill_after: float
) -> tuple[dict[int, str], int, float]:
    """Stream samples as fast as the node takes them, kill -9 it ``kill_after``
    seconds after its first acknowledgement; return the acknowledged entries and
    where the stream stopped. The node never outlives this call."""
    node = await start_sidecar(config)
    try:
        acked: dict[int, str] = {}
        first_ack = asyncio.Event()
        ts, counter = first_ts, first_counter
        # Each sample closes one interval; keep a window of them in flight so the
        # node is always busy but the samples' clock does not run ahead of the node's.
        window = asyncio.Semaphore(64)
        async with aiohttp.ClientSession() as session:
            ws = await node.connect(session)

            async def send() -> None:
                nonlocal ts, counter
                while True:
                    await window.acquire()
                    ts += 1000
                    counter += 1.5
                    await ws.send_json(
                        {"type": "sample", "ts": ts, "pv_wh": counter, "pv_w": 5400}
                    )

            async def receive() -> None:
                async for message in ws:
                    reply: dict[str, Any] = message.json()
                    window.release()
                    assert reply["type"] == "entry", reply
                    acked[reply["seq"]] = reply["id"]
                    first_ack.set()

            tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
            try:
                # The kill comes at a random moment once the node is writing; the
                # first acknowledgement, not a guess at start-up time, says it is.
                try:
                    await asyncio.wait_for(first_ack.wait(), 30)
                except TimeoutError:
                    raise AssertionError(
                        "the node acknowledged nothing within 30 s"
                    ) from None
                await asyncio.sleep(kill_after)
                node.kill()
                await node.process.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await ws.close()
    finally:
        if node.process.returncode is None:  # a failure above: never leave it running
            with contextlib.suppress(ProcessLookupError):
                node.kill()
            await node.process.wait()
    return acked, ts, counter


def _stored(db: Path) -> dict[int, str]:
    return {
        seq: bytes(eid).hex()
        for seq, eid in read_rows(db, "SELECT seq, id FROM entries")
    }


@pytest.mark.long
async def test_kill_9_while_writing_never_loses_an_acknowledged_entry(
    tmp_path: Path,
) -> None:
    config = init_site(tmp_path)
    db = tmp_path / "data" / "ledger.db"
    rng = random.Random(4)
    ts = time.time_ns() // 1_000_000 - 10 * 3_600_000
    counter = 1000.0
    acknowledged: dict[int, str] = {}
    for _ in range(KILLS):
        acked, ts, counter = await _write_until_killed(
            config, ts, counter, rng.uniform(0.15, 0.6)
        )
        assert acked, "the node acknowledged nothing before it was killed"
        acknowledged.update(acked)
        ts += 60_000  # the node's sample checker starts afresh after a restart
        stored = _stored(db)
        lost = {seq for seq, eid in acknowledged.items() if stored.get(seq) != eid}
        assert not lost, f"acknowledged entries lost after kill -9: {sorted(lost)[:5]}"
    report = verify_database(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries >= len(acknowledged) > KILLS * 20


async def test_kill_9_during_a_bulk_import_leaves_a_verifiable_database(
    tmp_path: Path,
) -> None:
    source = init_site(tmp_path / "source")
    acked, _ts, _counter = await _write_until_killed(
        source, time.time_ns() // 1_000_000 - 3_600_000, 0.0, 2.0
    )
    export = tmp_path / "feed.jsonl"
    assert (
        run_cli("export", "--config", str(source), "--out", str(export)).returncode == 0
    )
    target = init_site(tmp_path / "target")
    db = tmp_path / "target" / "data" / "ledger.db"
    # Let the target node create its database, then import into it while killing.
    node = await start_sidecar(target)
    assert await node.stop() == 0
    rng = random.Random(9)
    for _ in range(3):
        process = await asyncio.create_subprocess_exec(
            *module_command("sidecar", "import", str(export), "--db", str(db)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.sleep(rng.uniform(0.3, 0.8))  # a random moment to kill it
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()
        assert verify_database(db).ok
    finished = run_cli("import", str(export), "--db", str(db))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = verify_database(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries >= len(acked)
