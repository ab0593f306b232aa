"""Values that crossed the local API's checks and broke the node later (issue 13).

Each case sends what once dropped connections with no reply and no count, then shows
the node answers with a counted reason and an honest sample still gets its entry.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from devkit.clock import now_ms
from devkit.sidecar_node import SidecarNode
from sidecar.tools.verify import verify_database

HUGE_INT = 10**400  # beyond the range of a float


async def _reply(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    reply: dict[str, Any] = await ws.receive_json(timeout=10)
    return reply


async def _ask(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """Send a request without members; its reply (acknowledgements are skipped)."""
    await ws.send_json({"type": kind})
    while (reply := await _reply(ws))["type"] != kind:
        assert reply["type"] in ("entry", "rejected"), reply
    return reply


async def _status(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await _ask(ws, "status")


def _assert_alive(sidecar: SidecarNode) -> None:
    process = sidecar.running.process
    assert process is not None
    assert process.returncode is None


async def _honest_entry(ws: aiohttp.ClientWebSocketResponse, start: int) -> None:
    """Honest samples across an interval boundary are acknowledged with an entry."""
    for i in range(3):
        await ws.send_json({"type": "sample", "ts": start + i * 1000, "pv_w": 500})
    while (reply := await _reply(ws))["type"] != "entry":
        assert reply["type"] == "rejected", reply
    assert reply["ok"] == 1


async def test_a_huge_stored_energy_is_refused_and_the_ledger_goes_on(
    sidecar: SidecarNode,
) -> None:
    start = now_ms() - 60_000
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        await ws.send_json(
            {"type": "sample", "ts": start, "pv_w": 500, "stored_wh": 1e306}
        )
        reply = await _reply(ws)
        assert reply["type"] == "rejected", reply
        assert (reply["field"], reply["reason"]) == ("stored_wh", "out_of_range")
        await _honest_entry(ws, start + 1000)
        await _honest_entry(ws, start + 10_000)
        status = await _status(ws)
        assert status["rejected"]["out_of_range"] == 1
        await ws.close()
    _assert_alive(sidecar)
    assert await sidecar.stop() == 0
    assert verify_database(sidecar.db).ok


async def test_integers_beyond_float_range_are_refused_with_a_reason(
    sidecar: SidecarNode,
) -> None:
    start = now_ms() - 60_000
    huge = HUGE_INT
    power = {"direction": "discharge", "mode": "power", "reason": "test"}
    frames = [
        # one value of a sample: that value is dropped, the sample is used
        (
            {"type": "sample", "ts": start, "pv_w": huge},
            {"type": "rejected", "field": "pv_w", "reason": "out_of_range"},
        ),
        (
            {"type": "sample", "ts": start + 1, "pv_wh": huge},
            {"type": "rejected", "field": "pv_wh", "reason": "out_of_range"},
        ),
        (
            {"type": "sample", "ts": huge},
            {"type": "rejected", "scope": "sample", "reason": "in_future"},
        ),
        (
            {
                "type": "availability",
                "ts": now_ms(),
                "participate": True,
                "energy_wh": huge,
                "max_discharge_w": 1000,
                "max_charge_w": 1000,
                "battery_w": 0,
            },
            {"type": "error", "reason": "out_of_range"},
        ),
        (
            {"type": "dispatch_request", "id": 7, **power, "target_w": huge}
            | {"duration_s": 60},
            {"type": "error", "reason": "bad_request", "id": 7},
        ),
        (
            {"type": "dispatch_request", "id": 8, **power, "target_w": 1000}
            | {"duration_s": huge},
            {"type": "error", "reason": "bad_request", "id": 8},
        ),
    ]
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        for frame, expected in frames:
            await ws.send_str(json.dumps(frame))  # the integer in full, 401 digits
            reply = await _reply(ws)
            assert {key: reply.get(key) for key in expected} == expected, reply
        await _honest_entry(ws, start + 2000)
        await _ask(ws, "checkpoint")
        for proof in ({"seq": huge}, {"from": 1, "to": huge}, {"from": -1, "to": 1}):
            await ws.send_str(json.dumps({"type": "proof", **proof}))
            reply = await _reply(ws)
            assert (reply["type"], reply["reason"]) == ("proof", "bad_request")
        status = await _status(ws)
        assert status["rejected"]["out_of_range"] == 3, status["rejected"]
        await ws.close()
    _assert_alive(sidecar)


async def test_deeply_nested_json_is_refused_and_counted(sidecar: SidecarNode) -> None:
    depth = 20_000  # within the 64 KiB frame limit
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        for text in (
            "[" * depth + "]" * depth,
            '{"type":"sample","x":' + "[" * 10_000 + "]" * 10_000 + "}",
            '{"type":"roster_submit","proposal":'
            + '{"a":' * 5000
            + "1"
            + "}" * 5000
            + ',"approvals":[]}',
        ):
            await ws.send_str(text)
            reply = await _reply(ws)
            assert (reply["type"], reply["reason"]) == ("error", "too_deep"), reply
        status = await _status(ws)
        assert status["rejected"]["too_deep"] == 3, status["rejected"]
        await _honest_entry(ws, now_ms() - 30_000)
        await ws.close()
    _assert_alive(sidecar)


async def test_an_oversized_frame_is_counted(sidecar: SidecarNode) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        await ws.send_str(json.dumps({"type": "sample", "pad": "x" * 70_000}))
        closed = await ws.receive(timeout=10)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009  # message too big: the reason, in the close
        again = await sidecar.connect(session)
        status = await _status(again)
        assert status["rejected"].get("oversized") == 1, status["rejected"]
        await again.close()
