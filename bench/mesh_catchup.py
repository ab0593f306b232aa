"""Catch-up cost: CPU per entry of a node that was away while its building went on.

One node of a running building is stopped; the others keep producing for a while; then
the node is started again and takes in what it missed from its peers (``fetch``
answers of up to 500 entries, PROTOCOL.md section 14.4). Its CPU from the moment it is
ready until it holds every other node's head, divided by the entries it took in over
that time, is the figure; the feeders are stopped first so that nothing but the backlog
arrives. The node's start (imports, opening its store) is before the first reading and
not counted; linking with its peers is, since catching up needs it. With ``--profile``
the profiled node is the one away, so its profile covers its catch-up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.mesh_building import FedBuilding
from devkit.local_api import hello
from devkit.measure import cpu_seconds

POLL_S = 0.2


def _held(status: Any) -> dict[str, int]:
    return {author: held[0] for author, held in status["mesh"]["heads"].items()}


async def catch_up(
    building: FedBuilding, rate_hz: int, away_s: float, within_s: float
) -> dict[str, Any]:
    """Stop the last node, produce for ``away_s``, restart it; what catching up cost."""
    # The profiled node, if there is one: its profile then shows the catch-up alone.
    away = building.flats[0] if building.profiled else building.flats[-1]
    await building.stop(away, within=90)
    stop = asyncio.Event()
    others = [flat for flat in building.flats if flat is not away]
    feeders = [
        asyncio.create_task(building.feed(flat, rate_hz, stop)) for flat in others
    ]
    await asyncio.sleep(away_s)
    stop.set()
    await asyncio.gather(*feeders)
    # Every node's own head: what the returning node must reach.
    answered = await asyncio.gather(*(building.status(flat) for flat in others))
    target = {s["author"]: s["next_seq"] - 1 for s in answered}
    await building.start(away, within=60, command=building.command)
    await building.connect(away, hello(serial="BENCH"))
    assert away.process is not None
    cpu0 = cpu_seconds(away.process.pid)
    started = time.monotonic()
    held0 = _held(await building.status(away))
    held1 = held0
    deadline = started + within_s
    while time.monotonic() < deadline:
        held1 = _held(await building.status(away))
        if all(held1.get(author, 0) >= seq for author, seq in target.items()):
            break
        await asyncio.sleep(POLL_S)
    cpu1 = cpu_seconds(away.process.pid)
    taken = sum(seq - held0.get(author, 0) for author, seq in held1.items())
    missing = sum(max(0, seq - held1.get(author, 0)) for author, seq in target.items())
    return {
        "catchup_away_s": away_s,
        "catchup_entries": taken,
        "catchup_missing_at_end": missing,
        "catchup_s": round(time.monotonic() - started, 2),
        "catchup_cpu_s": round(cpu1 - cpu0, 3),
        "catchup_cpu_us_per_entry": round(1e6 * (cpu1 - cpu0) / max(1, taken), 1),
    }
