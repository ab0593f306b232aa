"""What a node does with bad input from the mesh, and with a member that equivocates."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from devkit.clock import now_ms
from devkit.node_db import read_rows
from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.tools.verify import verify_database
from tests.sidecar.mesh_support import Building, Flat, peer_connect
from tests.sidecar.support import (
    BUILDING,
    HOUR,
    T0,
    flow_content,
    open_ledger,
)


def _entry(
    identity: Identity,
    seq: int = 1,
    prev: bytes = etp.ZERO_ID,
    *,
    ts: int | None = None,
    building: str = BUILDING,
    pv: int = 1393,
) -> etp.Entry:
    ts = now_ms() if ts is None else ts
    content: JsonObject = {
        "v": kinds.VERSION,
        "kind": kinds.FLOW,
        "building": building,
        "ts": ts,
        **flow_content(ts - 1000, pv=pv),
    }
    return etp.make_entry(identity, seq, prev, (), content)


def _frame(*entries: etp.Entry) -> dict[str, Any]:
    return {"type": "entries", "entries": [etp.entry_to_wire(e) for e in entries]}


async def _rejected(building: Building, flat: Flat) -> dict[str, int]:
    status = await building.status(flat)
    rejected: dict[str, int] = status["rejected"]
    return rejected


async def test_every_kind_of_bad_input_is_refused_and_counted(tmp_path: Path) -> None:
    async with Building(tmp_path, 4) as building:
        node, member = building.flats[0], building.flats[3]
        await building.start(*building.flats[:3])
        session = building.session
        assert session is not None
        refusals = {
            "non_member": {"identity": Identity.generate()},
            "wrong_building": {"identity": member.identity, "building": "bldg-99"},
            "clock_window": {"identity": member.identity, "ts": now_ms() - 600_000},
            "forged": {"identity": member.identity, "signer": Identity.generate()},
        }
        for reason, kwargs in refusals.items():
            ws, reply = await peer_connect(session, node, **kwargs)  # type: ignore[arg-type]
            assert reply == {
                "type": "refused",
                "reason": reason,
                "detail": reply["detail"],
            }
            await ws.close()
        # The same hello twice: the second is a replay.
        nonce = bytes(range(32))
        ws, reply = await peer_connect(session, node, member.identity, nonce=nonce)
        assert reply["type"] == "ready"
        await ws.close()
        ws, reply = await peer_connect(session, node, member.identity, nonce=nonce)
        assert reply["reason"] == "replayed"
        await ws.close()

        ws, reply = await peer_connect(session, node, member.identity)
        assert reply["type"] == "ready"
        stranger = Identity.generate()
        good = _entry(member.identity)
        # A valid signature by the member, but over another entry's id.
        other_sig = _entry(member.identity, pv=1500).sig
        forged = etp.Entry(**{**_slots(good), "sig": other_sig})
        await ws.send_str("this is not JSON")
        await ws.send_json({"type": "entries", "entries": "not a list"})
        await ws.send_json(_frame(forged))
        await ws.send_json(_frame(_entry(member.identity, ts=now_ms() + 600_000)))
        await ws.send_json(_frame(_entry(member.identity, building="bldg-99")))
        await ws.send_json(_frame(_entry(stranger)))
        for _ in range(600):  # far beyond the burst a peer may send
            await ws.send_json({"type": "vector", "heads": {}})
        await asyncio.sleep(0.5)
        await ws.send_str(json.dumps({"type": "vector", "pad": "x" * (2 << 20)}))
        await ws.receive(timeout=10)  # the node closes the link: 1009, message too big
        await ws.close()

        deadline = time.monotonic() + 10
        expected = {
            "non_member",
            "wrong_building",
            "clock_window",
            "forged",
            "replayed",
            "malformed",
            "clock_skew",
            "rate_limited",
            "oversized",
        }
        while True:
            rejected = await _rejected(building, node)
            if expected <= set(rejected):
                break
            assert time.monotonic() < deadline, rejected
            await asyncio.sleep(0.2)
        assert rejected["forged"] >= 2, rejected  # the proof and the entry
        assert rejected["non_member"] >= 2  # the stranger's hello and its entry
        # Nothing bad was stored, and the node goes on working.
        await building.produce(1.0, node)
        heads = await building.converged(building.flats[:3])
        assert heads[member.author.hex()][0] == 0
    assert verify_database(node.db).ok


async def test_a_member_that_equivocates_is_exposed_to_all(tmp_path: Path) -> None:
    async with Building(tmp_path, 5) as building:
        honest, cheat = building.flats[:4], building.flats[4]
        await building.start(*honest)
        session = building.session
        assert session is not None
        one = _entry(cheat.identity, pv=1393)
        other = _entry(cheat.identity, pv=1500)
        assert one.seq == other.seq
        assert one.id != other.id
        for target, entry in ((honest[0], one), (honest[1], other)):
            ws, reply = await peer_connect(session, target, cheat.identity)
            assert reply["type"] == "ready"
            await ws.send_json(_frame(entry))
            await asyncio.sleep(0.3)
            await ws.close()
        # The evidence floods the links up at once; a node linked later sees the
        # fork in the next vectors (every 5 s), after a redial if a link dropped.
        deadline = time.monotonic() + 60
        while True:
            statuses = [await building.status(flat) for flat in honest]
            problems = [status["mesh"]["problems"] for status in statuses]
            if all(problems):
                break
            assert time.monotonic() < deadline, [
                (
                    status["mesh"]["problems"],
                    status["mesh"]["peers_online"],
                    status["mesh"]["heads"].get(cheat.author.hex()),
                )
                for status in statuses
            ]
            await asyncio.sleep(0.3)
        for found in problems:
            assert found == [
                {
                    "kind": "equivocation",
                    "author": cheat.author.hex(),
                    "flat": cheat.name,
                    "seq": 1,
                }
            ]
        statuses = [await building.status(flat) for flat in honest]
        assert all(s["mesh"]["integrity"] == "equivocation" for s in statuses)
    for flat in honest:
        report = verify_database(flat.db)
        assert any(f.code == "equivocation" for f in report.findings), report.findings


def _slots(entry: etp.Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in etp.Entry.__slots__}


def _first_hourly_rollup(db: Path, author: bytes) -> etp.Entry:
    row = read_rows(
        db,
        "SELECT seq, prev, refs, body, sig FROM entries WHERE kind = 'rollup_1' "
        "ORDER BY seq LIMIT 1",
    )[0]
    return store.load_entry(author, (int(row[0]), *map(bytes, row[1:])))


async def test_a_made_up_past_is_refused(tmp_path: Path) -> None:
    async with Building(tmp_path, 3) as building:
        node, member = building.flats[0], building.flats[2]
        await building.start(*building.flats[:2])
        session = building.session
        assert session is not None
        # A genuine hourly rollup of the member's, made offline: it signs the root of
        # the member's tree at the size before it.
        ledger = open_ledger(tmp_path / "offline.db", member.identity)
        ledger.flows(90, T0, 60_000)
        ledger.feed.roll(T0 + 2 * HOUR)
        ledger.sync()
        ledger.writer.close()
        anchor = _first_hourly_rollup(tmp_path / "offline.db", member.author)
        size = anchor.seq - 1
        made_up = [bytes([index]) * 32 for index in range(size.bit_count())]

        def frontier(nodes: list[bytes], anchor: etp.Entry = anchor) -> dict[str, Any]:
            return {
                "type": "frontier",
                "author": member.author.hex(),
                "size": size,
                "nodes": [node.hex() for node in nodes],
                "anchor": etp.entry_to_wire(anchor),
            }

        ws, reply = await peer_connect(session, node, member.identity)
        assert reply["type"] == "ready"
        await ws.send_json(frontier(made_up))  # a past the rollup does not sign
        await ws.send_json(frontier(made_up[:-1]))  # not a frontier of that size
        not_a_rollup = _entry(member.identity, seq=size + 1, prev=bytes(range(32)))
        await ws.send_json(frontier(made_up, not_a_rollup))
        await ws.send_json({**frontier(made_up), "size": "many"})
        deadline = time.monotonic() + 10
        while True:
            rejected = await _rejected(building, node)
            if (
                rejected.get("bad_frontier", 0) >= 2
                and rejected.get("malformed", 0) >= 2
            ):
                break
            assert time.monotonic() < deadline, rejected
            await asyncio.sleep(0.2)
        await ws.close()
        # The node took none of it: it holds nothing of the member's feed.
        heads = (await building.status(node))["mesh"]["heads"]
        assert heads[member.author.hex()][0] == 0
    assert verify_database(node.db).ok
