"""A node refuses, on receipt, an unmetered flow whose ``home`` the totals contradict.

PROTOCOL.md section 7.1: with ``metered = 0`` a flow's ``home`` is what the other
totals leave (or 0 in a ``gap`` flow). ``verify`` checked it; a node took such a flow
from a peer and stored it. The importer's side is in ``tests/vectors/exchange.json``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from devkit.clock import now_ms
from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from tests.sidecar.mesh_support import Building, peer_connect
from tests.sidecar.support import BUILDING, flow_content


def _unmetered(identity: Identity, seq: int, prev: bytes, home: int) -> etp.Entry:
    """An unmetered flow whose totals leave a home of 100 mWh, stating ``home``."""
    ts = now_ms()
    totals = kinds.Totals(
        pv=800, grid_in=0, bat_out=0, home=home, bat_in=400, grid_out=300
    )
    content: JsonObject = {
        "v": kinds.VERSION,
        "kind": kinds.FLOW,
        "building": BUILDING,
        "ts": ts,
        **flow_content(ts - 1000),
        "balance": kinds.balance(totals, metered=False),
        "transfers": [
            {"from": a, "to": b, "mwh": m, "ren": 1_000_000}
            for a, b, m in kinds.allocate(totals)
        ],
    }
    return etp.make_entry(identity, seq, prev, (), content)


async def test_a_peer_flow_with_a_made_up_home_is_refused(tmp_path: Path) -> None:
    async with Building(tmp_path, 2) as building:
        node, member = building.flats
        await building.start(node)
        session = building.session
        assert session is not None
        ws, reply = await peer_connect(session, node, member.identity)
        assert reply["type"] == "ready"
        honest = _unmetered(member.identity, 1, etp.ZERO_ID, 100)
        made_up = _unmetered(member.identity, 2, honest.id, 50)
        frame = {"type": "entries", "entries": [etp.entry_to_wire(honest)]}
        await ws.send_json(frame)
        await ws.send_json({**frame, "entries": [etp.entry_to_wire(made_up)]})
        deadline = time.monotonic() + 10
        while True:
            status = await building.status(node)
            held = status["mesh"]["heads"].get(member.author.hex(), [0])[0]
            if status["rejected"].get("malformed", 0) >= 1 and held >= 1:
                break
            assert time.monotonic() < deadline, (held, status["rejected"])
            await asyncio.sleep(0.2)
        await ws.close()
        assert held == 1  # the honest flow only
