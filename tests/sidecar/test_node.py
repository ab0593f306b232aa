"""The sidecar as a real process: the local WebSocket API end to end."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import aiohttp

from devkit.sidecar_node import SidecarNode as RunningSidecar
from devkit.sidecar_node import start_sidecar
from sidecar.ledger import merkle
from sidecar.tools.verify import verify_database
from tests.sidecar.support import ha_sample


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _replies(
    ws: aiohttp.ClientWebSocketResponse, count: int
) -> list[dict[str, Any]]:
    return [await ws.receive_json(timeout=10) for _ in range(count)]


async def test_without_the_token_there_is_no_websocket(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic x"},
        ):
            async with session.get(sidecar.url, headers=headers) as response:
                assert response.status == 401
                assert (await response.json())["error"] == "unauthorized"


async def test_status_over_http_leaves_home_assistant_connected(
    sidecar: RunningSidecar,
) -> None:
    status_url = sidecar.url.removesuffix("/ws") + "/status"
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        await ws.send_json(ha_sample(_now_ms() - 5_000, 0))
        async with session.get(status_url) as response:
            assert response.status == 401
            assert (await response.json())["error"] == "unauthorized"
        for _ in range(100):
            async with session.get(status_url, headers=sidecar.headers) as response:
                assert response.status == 200
                status = await response.json()
            if status["samples_accepted"] == 1:
                break
            await asyncio.sleep(0.05)
        assert status["type"] == "status"
        assert status["samples_accepted"] == 1
        assert status["mesh"]["roster_size"] == 1
        # The WebSocket was not replaced: it still answers.
        await ws.send_json({"type": "status"})
        assert (await ws.receive_json(timeout=10))["samples_accepted"] == 1
        await ws.close()


async def test_samples_become_acknowledged_durable_entries(
    sidecar: RunningSidecar,
) -> None:
    start = _now_ms() - 60_000
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        for i in range(6):
            await ws.send_json(ha_sample(start + i * 1000, i))
        acks = await _replies(ws, 5)
        assert [a["type"] for a in acks] == ["entry"] * 5
        assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
        assert all(a["ok"] == 1 and a["kind"] == "flow" for a in acks)
        await ws.send_json({"type": "checkpoint"})
        checkpoint = (await ws.receive_json(timeout=10))["checkpoint"]
        assert checkpoint["body"]["size"] == 5
        await ws.send_json({"type": "checkpoint"})  # nothing new: the same tree head
        assert (await ws.receive_json(timeout=10))["checkpoint"]["id"] == checkpoint[
            "id"
        ]
        await ws.send_json({"type": "proof", "seq": 3})
        proof = await ws.receive_json(timeout=10)
        leaf = merkle.leaf_hash(bytes.fromhex(acks[2]["id"]))
        path = [bytes.fromhex(item) for item in proof["path"]]
        assert merkle.verify_inclusion(leaf, 2, 5, path, bytes.fromhex(proof["root"]))
        await ws.send_json({"type": "proof", "from": 2, "to": 5})
        assert len((await ws.receive_json(timeout=10))["path"]) > 0
        await ws.send_json({"type": "proof", "seq": 99})
        assert (await ws.receive_json(timeout=10))["reason"] == "unavailable"
        await ws.send_json({"type": "status"})
        status = await ws.receive_json(timeout=10)
        assert (
            status["next_seq"],
            status["entries_written"],
            status["samples_accepted"],
        ) == (
            6,
            5,
            6,
        )
        await ws.close()
    assert await sidecar.stop() == 0
    report = verify_database(sidecar.db)
    assert report.ok, report.findings
    assert report.entries == 5


BAD_MESSAGES: list[tuple[str | bytes, dict[str, Any]]] = [
    ("not json", {"type": "error", "reason": "malformed"}),
    ("[1, 2]", {"type": "error", "reason": "malformed"}),
    (b"\x00\x01", {"type": "error", "reason": "malformed"}),
    ('{"type": "dance"}', {"type": "error", "reason": "unknown_type"}),
    ('{"no": "type"}', {"type": "error", "reason": "unknown_type"}),
    (
        '{"type": "sample"}',
        {"type": "rejected", "scope": "sample", "reason": "missing_ts"},
    ),
    (
        '{"type": "sample", "ts": 99999999999999}',
        {"type": "rejected", "scope": "sample", "reason": "in_future"},
    ),
    (
        '{"type": "sample", "ts": 5}',
        {"type": "rejected", "scope": "sample", "reason": "too_old"},
    ),
    ('{"type": "proof"}', {"type": "proof", "reason": "bad_request"}),
]


async def test_bad_messages_get_reasons_and_the_node_carries_on(
    sidecar: RunningSidecar,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session, hello=False)
        await ws.send_json({"type": "sample", "ts": _now_ms()})
        assert (await ws.receive_json(timeout=10))["reason"] == "hello_required"
        for serial in ("\ud800", "x" * 65, 42, ""):
            await ws.send_json({"type": "hello", "protocol": 1, "serial": serial})
            assert (await ws.receive_json(timeout=10))["reason"] == "bad_request"
        await ws.send_json({"type": "hello", "protocol": 1})
        assert (await ws.receive_json(timeout=10))["type"] == "welcome"
        await ws.send_json({"type": "checkpoint"})  # a checkpoint of the empty tree
        assert (await ws.receive_json(timeout=10))["checkpoint"]["body"]["size"] == 0
        for message, expected in BAD_MESSAGES:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
            reply = await ws.receive_json(timeout=10)
            assert {key: reply.get(key) for key in expected} == expected, message
        base = _now_ms() - 10_000
        await ws.send_json({"type": "sample", "ts": base, "pv_wh": 5})
        await ws.send_json({"type": "sample", "ts": base, "pv_wh": 5})
        await ws.send_json({"type": "sample", "ts": base - 1})
        await ws.send_json(
            {"type": "sample", "ts": base + 1000, "pv_wh": 4, "grid_w": 1e9}
        )
        replies = await _replies(ws, 4)
        assert [(r.get("scope"), r["reason"]) for r in replies] == [
            ("sample", "same_ts"),
            ("sample", "out_of_order"),
            ("field", "counter_backwards"),
            ("field", "power_limit"),
        ]
        assert (await ws.receive_json(timeout=10))["type"] == "entry"  # interval 1 done
        await ws.send_json({"type": "status"})
        status = await ws.receive_json(timeout=10)
        assert status["rejected"]["same_ts"] == 1
        assert status["rejected"]["malformed"] == 3
        await ws.close()
    assert sidecar.process.returncode is None


async def test_an_unknown_protocol_version_is_refused(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session, hello=False)
        await ws.send_json({"type": "hello", "protocol": 2})
        assert (await ws.receive_json(timeout=10))["reason"] == "unsupported_protocol"
        closing = await ws.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 4002


async def test_a_new_connection_replaces_the_old_one(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as session:
        first = await sidecar.connect(session)
        second = await sidecar.connect(session)
        closing = await first.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 4001
        await second.send_json({"type": "status"})
        assert (await second.receive_json(timeout=10))["type"] == "status"
        await second.close()


async def test_a_restart_continues_the_feed(sidecar: RunningSidecar) -> None:
    start = _now_ms() - 120_000
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        for i in range(4):
            await ws.send_json(ha_sample(start + i * 1000, i))
        await _replies(ws, 3)
        await ws.close()
    assert await sidecar.stop() == 0
    again = await start_sidecar(sidecar.config)
    try:
        async with aiohttp.ClientSession() as session:
            ws = await again.connect(session)
            for i in range(10, 13):
                await ws.send_json(ha_sample(start + i * 1000, i))
            acks = await _replies(ws, 2)
            assert [a["seq"] for a in acks] == [4, 5]
            await ws.close()
    finally:
        assert await again.stop() == 0
    assert verify_database(again.db).ok


async def test_an_oversized_message_closes_only_that_connection(
    sidecar: RunningSidecar,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        await ws.send_str(json.dumps({"type": "sample", "pad": "x" * 70_000}))
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        again = await sidecar.connect(session)
        await again.send_json({"type": "status"})
        assert (await again.receive_json(timeout=10))["type"] == "status"
        await again.close()
    await asyncio.sleep(0)
    assert sidecar.process.returncode is None


async def test_random_messages_never_stop_the_node(sidecar: RunningSidecar) -> None:
    rng = random.Random(17)
    keys = ["ts", "pv_w", "pv_wh", "grid_w", "grid_in_wh", "battery_w", "soc_pct"]
    keys += ["stored_wh", "frequency_hz", "voltage_v", "home_wh", "type", "x"]
    now = _now_ms()
    values: list[Any] = [None, True, "", "12", [], {}, -1, 0, 1e308, -1e308, 2**70]
    values += [3.5, now, now - 500, now + 10**9]
    async with aiohttp.ClientSession() as session:
        ws = await sidecar.connect(session)
        for _ in range(400):
            message = {
                key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 6))
            }
            message.setdefault("type", "sample")
            if rng.random() < 0.5:
                message["type"] = "sample"
            await ws.send_str(json.dumps(message))
        await ws.send_json({"type": "status"})
        while (reply := await ws.receive_json(timeout=10))["type"] != "status":
            assert reply["type"] in {
                "rejected",
                "error",
                "entry",
                "proof",
                "checkpoint",
            }
        assert sum(reply["rejected"].values()) > 100
        await ws.close()
    assert sidecar.process.returncode is None
    assert await sidecar.stop() == 0
    assert verify_database(sidecar.db).ok
