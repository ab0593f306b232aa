"""Frames from a member that once raised out of the mesh handlers (issue 13).

A fetch for an absurd position and deeply nested JSON dropped the member's link with
no reason and no count. Now each is a counted rejection and the link stays up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.sidecar.mesh_support import Building, Flat, peer_connect


async def _rejected(building: Building, flat: Flat) -> dict[str, int]:
    status = await building.status(flat)
    rejected: dict[str, int] = status["rejected"]
    return rejected


async def _answers(ws: aiohttp.ClientWebSocketResponse, author: str) -> bool:
    """The link still serves: a fetch of the node's own feed gets entries back."""
    await ws.send_json({"type": "fetch", "author": author, "after": 0, "limit": 1})
    async with asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = await ws.receive_json()
            if frame.get("type") == "entries" and frame.get("catchup") == 1:
                return True


async def test_absurd_fetches_and_deep_frames_are_refused_and_counted(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        node, member = building.flats[0], building.flats[2]
        await building.start(node)
        await building.produce(1.0, node)
        session = building.session
        assert session is not None
        ws, reply = await peer_connect(session, node, member.identity)
        assert reply["type"] == "ready"
        author = node.author.hex()
        frames = [
            {"type": "fetch", "author": author, "after": 2**70, "limit": 10},
            {"type": "fetch", "author": author, "after": -(2**70), "limit": 10},
            {"type": "fetch", "author": author, "after": 0, "limit": 2**70},
            {"type": "vector", "heads": {author: [2**70, "00" * 32]}},
            {
                "type": "frontier",
                "author": author,
                "size": 2**70,
                "nodes": [],
                "anchor": {},
            },
        ]
        for frame in frames:
            await ws.send_json(frame)
        await ws.send_str("[" * 100_000 + "]" * 100_000)
        assert await _answers(ws, author)
        async with asyncio.timeout(15):
            while True:
                rejected = await _rejected(building, node)
                if rejected.get("out_of_range", 0) >= len(frames):
                    break
                await asyncio.sleep(0.2)
        assert rejected["too_deep"] == 1, rejected
        await ws.close()
