"""Hypothesis fuzzes a REAL running sidecar's local API and mesh port (issue 13).

Every frame is one example. On the local API each example is followed by a
``status`` request: the rejections counted in between must equal the ``error`` and
``rejected`` replies received (every rejection is counted, none is silent), no
handler may fail unexpectedly (``internal_error`` stays 0) and the connection stays
up. On the mesh the member's link must stay up and keep answering. Afterwards the
node still runs and an honest sample still becomes an entry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.clock import now_ms
from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject
from tests.faults.test_hostile_mesh import _answers
from tests.sidecar.mesh_support import Building, peer_connect
from tests.sidecar.support import BUILDING, flow_content

EXAMPLES = 250  # per port: a few seconds each, far below a minute
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

NASTY_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**53, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(2**53)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e306, -1e306, 5e-324, 2**63, 2**64 + 1]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NASTY_NUMBERS, st.text(max_size=20))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
LOCAL_TYPES = [
    "sample",
    "checkpoint",
    "proof",
    "status",
    "mesh_stats",
    "roster_submit",
    "availability",
    "dispatch_request",
    "dispatch_cancel",
    "dance",
]
LOCAL_KEYS = [
    "ts", "pv_w", "pv_wh", "grid_w", "grid_in_wh", "grid_out_wh", "battery_w",
    "battery_in_wh", "home_wh", "living_w", "bus_w", "soc_pct", "stored_wh",
    "frequency_hz", "voltage_v", "seq", "from", "to", "energy_wh",
    "max_discharge_w", "max_charge_w", "participate", "direction", "mode",
    "target_w", "limit_w", "meter_w", "duration_s", "reason", "event", "id",
    "proposal", "approvals", "outage", "bus", "max_share_pct",
]  # fmt: skip
MESH_TYPES = ["entries", "vector", "fetch", "frontier", "statements", "evidence", "x"]
MESH_KEYS = [
    "entries", "heads", "author", "after", "limit", "size", "nodes", "anchor",
    "catchup", "statements", "held", "other",
]  # fmt: skip


def _messages(types: list[str], keys: list[str]) -> st.SearchStrategy[Any]:
    values = st.one_of(
        NASTY_NUMBERS, NASTY_NUMBERS, JSON, st.just(now_ms()), st.just("00" * 32)
    )
    return st.builds(
        lambda kind, members: {**members, "type": kind},
        st.sampled_from(types),
        st.dictionaries(st.sampled_from(keys), values, max_size=6),
    )


def _texts(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Frames: messages, any JSON, deep nesting, or text that is not JSON at all."""
    return st.one_of(
        messages.map(json.dumps),
        messages.map(json.dumps),
        JSON.map(json.dumps),
        # Up to 60 KB: deeper than the interpreter's own bound, within a frame.
        st.integers(min_value=20, max_value=30_000).map(lambda n: "[" * n + "]" * n),
        st.text(max_size=40),
    )


class _Loop:
    """The test's own event loop: hypothesis drives it example by example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, 30))

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[_Loop]:
    own = _Loop()
    try:
        yield own
    finally:
        own.close()


async def _until(
    ws: aiohttp.ClientWebSocketResponse, kind: str
) -> list[dict[str, Any]]:
    """Messages received up to and including the first of ``kind``."""
    received: list[dict[str, Any]] = []
    while True:
        message = await ws.receive(timeout=15)
        assert message.type is aiohttp.WSMsgType.TEXT, (message, received)
        received.append(json.loads(message.data))
        if received[-1]["type"] == kind:
            return received


def _rejections(status: dict[str, Any]) -> int:
    return sum(status["rejected"].values())


def test_fuzzed_local_api_frames_are_each_answered_and_counted(
    tmp_path: Path, loop: _Loop
) -> None:
    building = Building(tmp_path, 1)
    loop.run(building.__aenter__())
    try:
        node = building.flats[0]
        loop.run(building.start(node))
        session = building.session
        assert session is not None
        ws = loop.run(node.connect(session))
        counted = [_rejections(loop.run(_status(ws)))]

        async def _exchange(text: str) -> list[dict[str, Any]]:
            await ws.send_str(text)
            await ws.send_json({"type": "status"})
            return await _until(ws, "status")

        @FUZZ
        @given(_texts(_messages(LOCAL_TYPES, LOCAL_KEYS)))
        def one_frame(text: str) -> None:
            received = loop.run(_exchange(text))
            status = received[-1]
            refusals = sum(m["type"] in ("error", "rejected") for m in received)
            assert _rejections(status) - counted[0] == refusals, (text, received)
            assert status["rejected"].get("internal_error", 0) == 0, text
            counted[0] = _rejections(status)

        one_frame()
        assert not ws.closed
        loop.run(_honest_entry(ws))
        loop.run(ws.close())
        assert node.process is not None
        assert node.process.returncode is None
    finally:
        loop.run(building.__aexit__(None, None, None))


def test_fuzzed_mesh_frames_never_drop_the_link(tmp_path: Path, loop: _Loop) -> None:
    building = Building(tmp_path, 2)
    loop.run(building.__aenter__())
    try:
        node, member = building.flats
        loop.run(building.start(node))
        loop.run(building.produce(0.5, node))
        session = building.session
        assert session is not None
        ws, ready = loop.run(peer_connect(session, node, member.identity))
        assert ready["type"] == "ready"
        ts = now_ms()
        content: JsonObject = {
            "v": kinds.VERSION,
            "kind": kinds.FLOW,
            "building": BUILDING,
            "ts": ts,
            **flow_content(ts - 1000),
        }
        valid = etp.entry_to_wire(
            etp.make_entry(member.identity, 1, etp.ZERO_ID, (), content)
        )
        entries = st.builds(
            lambda changes: {"type": "entries", "entries": [{**valid, **changes}]},
            st.dictionaries(st.sampled_from(sorted(valid)), JSON, max_size=2),
        )
        frames = st.one_of(
            _texts(_messages(MESH_TYPES, MESH_KEYS)), entries.map(json.dumps)
        )

        @FUZZ
        @given(frames)
        def one_frame(text: str) -> None:
            loop.run(ws.send_str(text))
            loop.run(asyncio.sleep(0.012))  # within the rate a member may send
            assert not ws.closed, text

        one_frame()
        author = node.author.hex()
        assert loop.run(_answers(ws, author))
        status = loop.run(building.status(node))
        assert status["rejected"].get("internal_error", 0) == 0, status["rejected"]
        assert sum(status["rejected"].values()) > EXAMPLES // 4, status["rejected"]
        loop.run(ws.close())
        loop.run(building.produce(0.5, node))
        assert node.process is not None
        assert node.process.returncode is None
    finally:
        loop.run(building.__aexit__(None, None, None))


async def _status(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    await ws.send_json({"type": "status"})
    return (await _until(ws, "status"))[-1]


async def _honest_entry(ws: aiohttp.ClientWebSocketResponse) -> None:
    # After any ts the fuzz used (at most now_ms() when the strategies were built).
    start = now_ms() + 1000
    for i in range(3):
        await ws.send_json({"type": "sample", "ts": start + i * 1000, "pv_w": 400})
    received = await _until(ws, "entry")
    assert received[-1]["ok"] == 1
