"""A member sends one history entry twice in a frame after a pruned frontier.

The second copy is checked against what is queued as well as what is stored: it is a
duplicate, counted, and the node keeps running and serving.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from sidecar.ledger import etp, kinds, merkle
from sidecar.ledger.etp import Entry
from tests.faults.faults import own_entries
from tests.sidecar.mesh_support import Building, peer_connect
from tests.sidecar.support import flow_content, open_ledger

HOUR = 3_600_000


def _pruned_history(db: Path, building: Building) -> list[Entry]:
    """The attacker's feed: two hours of flows, each closed by its hourly rollup."""
    attacker = building.flats[1]
    ledger = open_ledger(db, attacker.identity)
    made: list[Entry] = []
    ledger.feed.listeners.append(lambda entry, *_: made.append(entry))
    start = (time.time_ns() // 1_000_000 // HOUR - 3) * HOUR
    for hour in range(2):
        for second in range(3):
            at = start + hour * HOUR + (second + 1) * 1000
            ledger.feed.append(kinds.FLOW, flow_content(at - 1000), at)
    ledger.feed.roll(start + 2 * HOUR + 1)
    ledger.writer.flush()
    ledger.writer.close()
    return made


async def test_a_history_entry_twice_in_one_frame_is_a_counted_duplicate(
    tmp_path: Path,
) -> None:
    building = Building(tmp_path / "building", 2)
    async with building:
        victim, attacker = building.flats
        made = _pruned_history(tmp_path / "attacker.db", building)
        rollups = [e for e in made if e.key == kinds.rollup_key(1)]
        assert len(rollups) == 2, [e.key for e in made]
        history, anchor = rollups
        frontier = merkle.Frontier()
        for entry in made[: anchor.seq - 1]:
            frontier.append(merkle.leaf_hash(entry.id))
        await building.start(victim)
        async with aiohttp.ClientSession() as session:
            ws, reply = await peer_connect(session, victim, attacker.identity)
            assert reply["type"] != "refused", reply
            await ws.send_json(
                {
                    "type": "frontier",
                    "author": attacker.author.hex(),
                    "size": frontier.size,
                    "nodes": [node.hex() for node in frontier.nodes],
                    "anchor": etp.entry_to_wire(anchor),
                }
            )
            wire = etp.entry_to_wire(history)
            await ws.send_json(
                {"type": "entries", "catchup": 1, "entries": [wire, wire]}
            )
            # The node keeps serving: its status comes, and shows the one copy kept.
            deadline = time.monotonic() + 20
            held: dict[int, str] = {}
            while time.monotonic() < deadline and history.seq not in held:
                assert victim.process is not None
                assert victim.process.returncode is None, victim.log.read_text()[-2000:]
                held = own_entries(victim.db, attacker.author)
                await asyncio.sleep(0.1)
            await ws.close()
        status = await building.status(victim)
        assert victim.running.process is not None
        assert victim.running.process.returncode is None, victim.log.read_text()
        assert held.get(history.seq) == history.id.hex(), (
            status["rejected"],
            status["mesh"]["counters"],
        )
        assert status["mesh"]["counters"].get("duplicate", 0) >= 1, status
