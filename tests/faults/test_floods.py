"""Floods from a stranger and from a member (issue 13): the node counts and serves.

A stranger dials the mesh port hundreds of times; a member sends thousands of frames
as fast as it can. Every refusal says why and is counted, Home Assistant's samples
still become entries and a real member still links.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp

from devkit.clock import now_ms
from sidecar.ledger.identity import Identity
from tests.faults.test_hostile_mesh import _answers
from tests.sidecar.mesh_support import Building, Flat, peer_connect

STRANGER_DIALS = 200
MEMBER_FRAMES = 3000


async def _entry_from_samples(ws: aiohttp.ClientWebSocketResponse) -> None:
    start = now_ms() - 5000
    for i in range(3):
        await ws.send_json({"type": "sample", "ts": start + i * 1000, "pv_w": 300})
    async with asyncio.timeout(15):
        while (reply := await ws.receive_json())["type"] != "entry":
            assert reply["type"] == "rejected", reply


async def _status(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    await ws.send_json({"type": "status"})
    async with asyncio.timeout(15):
        while (reply := await ws.receive_json())["type"] != "status":
            pass
    return reply


async def _answers_after_the_flood(
    ws: aiohttp.ClientWebSocketResponse, author: str
) -> bool:
    async with asyncio.timeout(20):
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    return await _answers(ws, author)


async def _dial_as_stranger(
    session: aiohttp.ClientSession, node: Flat, stranger: Identity
) -> str:
    ws, reply = await peer_connect(session, node, stranger)
    await ws.close()
    return str(reply.get("reason"))


async def test_a_stranger_dialing_hundreds_of_times_is_refused_and_counted(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 2) as building:
        node, member = building.flats
        await building.start(node)
        session = building.session
        assert session is not None
        ha = await node.connect(session)
        stranger = Identity.generate()
        reasons: list[str] = []
        for _ in range(STRANGER_DIALS // 20):
            reasons += await asyncio.gather(
                *(_dial_as_stranger(session, node, stranger) for _ in range(20))
            )
        assert reasons == ["non_member"] * STRANGER_DIALS
        await _entry_from_samples(ha)
        ws, ready = await peer_connect(session, node, member.identity)
        assert ready["type"] == "ready"
        status = await _status(ha)
        assert status["rejected"]["non_member"] == STRANGER_DIALS, status["rejected"]
        await ws.close()
        await ha.close()
        assert node.process is not None
        assert node.process.returncode is None


async def test_a_member_flooding_frames_is_rate_limited_and_every_frame_counted(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 2) as building:
        node, member = building.flats
        await building.start(node)
        session = building.session
        assert session is not None
        ha = await node.connect(session)
        ws, ready = await peer_connect(session, node, member.identity)
        assert ready["type"] == "ready"
        for _ in range(MEMBER_FRAMES):
            await ws.send_str("not a frame")
        # Each frame is refused as malformed, or as too many, and counted once.
        async with asyncio.timeout(30):
            while True:
                rejected = (await _status(ha))["rejected"]
                total = rejected.get("malformed", 0) + rejected.get("rate_limited", 0)
                if total >= MEMBER_FRAMES:
                    break
                await asyncio.sleep(0.2)
        assert total == MEMBER_FRAMES, rejected
        assert rejected["rate_limited"] > 0, rejected
        # The link stays up and serves once the member slows down (a fetch sent
        # while its bucket is still empty is itself rate-limited: ask again).
        assert await _answers_after_the_flood(ws, node.author.hex())
        await _entry_from_samples(ha)
        await ws.close()
        await ha.close()
        assert node.process is not None
        assert node.process.returncode is None
