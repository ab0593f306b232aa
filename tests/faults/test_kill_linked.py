"""kill -9 of a node linked to a peer, in the middle of slow commits.

A commit that takes long (disk writes and syncs slowed by a preloaded shim) leaves a
wide window between signing an entry and its being durable. Killing the node at
random moments under a fast stream of samples must lose nothing it acknowledged,
count nothing twice, never make the peer hold evidence of equivocation against it,
and never make it stop by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from pathlib import Path

import aiohttp
import pytest

from devkit.building import Building as AnyBuilding
from devkit.building import Flat
from devkit.processes import StartFailed
from devkit.sidecar_node import configure
from tests.faults.faults import (
    Stream,
    conflicts_against,
    duplicated_flows,
    own_entries,
    run_command,
    slow_disk_shim,
)
from tests.sidecar.mesh_support import Building

KILLS = int(os.environ.get("FAULT_KILLS", "20"))
SLOW_MS = 3


async def _linked(building: AnyBuilding, victim: Flat, within: float) -> bool:
    """Wait until the victim is linked with its peer; False if it died or never did."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if victim.process is None or victim.process.returncode is not None:
            return False
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
            status = await building.ask(victim, {"type": "status"}, within=2)
            if status["mesh"]["peers_online"] == 1:
                return True
        await asyncio.sleep(0.05)
    return False


async def _one_round(
    building: AnyBuilding, victim: Flat, stream: Stream, kill_after: float, shim: Path
) -> tuple[bool, float | None]:
    """Start, link, stream, kill; whether the node died by itself, time to serve."""
    started = time.monotonic()
    try:
        await victim.start(run_command(victim, shim, SLOW_MS), within=20)
    except StartFailed:
        return True, None
    try:
        if not await _linked(building, victim, 15):
            return True, None
        await building._drop_client(victim)
        first = asyncio.Event()
        stream.acked = {}
        process = victim.running.process
        assert process is not None
        async with aiohttp.ClientSession() as session:
            ws = await victim.connect(session)
            task = asyncio.create_task(stream.run(ws, first))
            try:
                died = asyncio.create_task(process.wait())
                acked = asyncio.create_task(first.wait())
                await asyncio.wait(
                    [died, acked], timeout=15, return_when="FIRST_COMPLETED"
                )
                acked.cancel()
                served = time.monotonic() - started if first.is_set() else None
                if not died.done():
                    await asyncio.wait([died], timeout=kill_after)
                crashed = died.done()
                if not crashed:
                    victim.kill()
                await died
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return crashed or served is None, served
    finally:
        if victim.process is not None and victim.process.returncode is None:
            victim.kill()
            await victim.process.wait()
        victim.process = None


@pytest.mark.long
async def test_kill_9_of_a_linked_node_never_forks_or_loses_its_feed(
    tmp_path: Path,
) -> None:
    shim = slow_disk_shim(tmp_path)
    building = Building(tmp_path / "building", 2)
    async with building:
        # The victim is the member that dials (the smaller author id): restarted, it
        # links at once, where a dialing peer would back off further each time.
        victim, peer = sorted(building.flats, key=lambda flat: flat.author)
        configure(victim.config, {"sync": "full", "interval_ms": 1000})
        await building.start(peer)
        rng = random.Random(13)
        stream = Stream(ts=time.time_ns() // 1_000_000 - 10 * 3_600_000, counter=1e3)
        acknowledged: dict[int, str] = {}
        self_crashes = 0
        recover_s: list[float] = []
        for _round in range(KILLS):
            crashed, served = await _one_round(
                building, victim, stream, rng.uniform(0.2, 0.8), shim
            )
            self_crashes += crashed
            if served is not None:
                recover_s.append(served)
            acknowledged.update(stream.acked)
            stream.ts += 60_000  # a fresh start for the node's sample checker
        stored = own_entries(victim.db, victim.author)
        lost = sorted(s for s, eid in acknowledged.items() if stored.get(s) != eid)
        duplicated = duplicated_flows(victim.db, victim.author)
        false_equivocations = conflicts_against(peer.db, victim.author)
        problems = (await building.status(peer))["mesh"]["problems"]
        unique_failures = victim.log.read_text().count("UNIQUE constraint failed")
        print(
            f"\nkill -9 linked: runs={KILLS} acknowledged={len(acknowledged)} "
            f"lost={len(lost)} duplicated={duplicated} "
            f"false_equivocations={false_equivocations} self_crashes={self_crashes} "
            f"unique_failures={unique_failures} "
            f"recover_max_s={max(recover_s, default=-1):.2f}"
        )
        assert len(acknowledged) > KILLS * 5
        assert not lost, f"acknowledged entries lost: {lost[:5]}"
        assert duplicated == 0
        assert false_equivocations == 0, problems
        assert not problems, problems
        assert self_crashes == 0, victim.log.read_text()[-3000:]
        # Afterwards the node starts, links and serves again.
        await victim.start(run_command(victim, None), within=20)
        assert await _linked(building, victim, 20)
