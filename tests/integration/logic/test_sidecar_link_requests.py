"""The link's requests, replies and odd frames, against a small WebSocket server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.local_vpp.ledger.messages import (
    Availability,
    DispatchCancel,
    DispatchRequest,
    Sample,
)
from custom_components.local_vpp.ledger.sidecar_link import (
    CHECK_CANNOT_CONNECT,
    SidecarLink,
    SidecarNotConnectedError,
    SidecarRequestError,
    async_check_sidecar,
)

type Script = Callable[[web.WebSocketResponse, dict[str, Any]], Any]

REQUEST = DispatchRequest("discharge", "power", 900, "test", target_w=5000)
AVAILABILITY = Availability(ts=1, participate=True, max_share_pct=100.0)


class Server:
    """Greets every hello, then runs the test's script for each message."""

    def __init__(self) -> None:
        self.script: Script | None = None
        self.url = ""
        self.status = 200
        self.hellos: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.status != 200:
            raise web.HTTPException(status=self.status) from None
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.hellos.append(await ws.receive_json())
        await ws.send_json({"type": "welcome", "protocol": 1})
        async for frame in ws:
            if frame.type is aiohttp.WSMsgType.TEXT and self.script is not None:
                await self.script(ws, frame.json())
        return ws


@pytest.fixture
async def server(socket_enabled: None) -> AsyncIterator[Server]:
    handler = Server()
    app = web.Application()
    app.router.add_get("/api/v1/ws", handler.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    handler.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/api/v1/ws"
    try:
        yield handler
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[SidecarLink]:
    async with aiohttp.ClientSession() as session:
        link = SidecarLink(session, server.url, "t", client="test")
        task = asyncio.create_task(link.run())
        try:
            for _ in range(100):
                if link.connected:
                    break
                await asyncio.sleep(0.02)
            assert link.connected
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_replies_are_matched_by_id_and_odd_frames_ignored(
    server: Server,
) -> None:
    async def script(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        await ws.send_str("not json")
        await ws.send_json([1, 2])
        # A reply to a request nobody waits for any more, then the real one.
        await ws.send_json({"type": "dispatch", "id": 999})
        if message["type"] == "dispatch_request":
            await ws.send_json({"type": "dispatch", "id": message["id"], "event": "e"})
        else:
            await ws.send_json(
                {"type": "error", "id": message["id"], "reason": "bad_request"}
            )

    server.script = script
    async with running(server) as link:
        # Without a serial the hello says nothing about one.
        assert "serial" not in server.hellos[0]
        reply = await link.async_request(REQUEST)
        assert reply["event"] == "e"
        with pytest.raises(SidecarRequestError) as raised:
            await link.async_request(DispatchCancel(None))
        assert raised.value.reason == "bad_request"
        assert raised.value.detail == ""
        assert str(raised.value) == "bad_request"
        assert link.connected


async def test_silence_times_out_and_a_drop_fails_the_request(server: Server) -> None:
    async def silent(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        if message.get("event") == "drop":
            await ws.close()

    server.script = silent
    async with running(server) as link:
        with pytest.raises(TimeoutError):
            await link.async_request(REQUEST, 0.1)
        with pytest.raises(SidecarNotConnectedError):
            await link.async_request(DispatchCancel("drop"), 5)
    with pytest.raises(SidecarNotConnectedError):
        await link.async_request(REQUEST)
    # Offered while down: nothing is kept for later.
    link.offer_availability(AVAILABILITY)
    assert link._availability is None


async def test_check_reports_http_errors(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        server.status = 500
        assert (
            await async_check_sidecar(session, server.url, "t", client="x")
            == CHECK_CANNOT_CONNECT
        )
        server.status = 200
        assert (
            await async_check_sidecar(session, server.url, "t", client="x", serial="S")
            is None
        )
    assert server.hellos[-1]["serial"] == "S"


async def test_a_sample_queued_during_a_slow_send_goes_without_another_wake(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, Any]] = []

    async def collect(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        received.append(message)

    server.script = collect
    async with running(server) as link:
        socket = link._ws  # the real socket; only its send is slowed below
        assert socket is not None
        send = socket.send_json
        peer_reading = asyncio.Event()

        async def backed_up(message: dict[str, Any]) -> None:
            # A loopback socket only makes a send wait once megabytes are queued,
            # so the wait is put in front of the real send.
            await peer_reading.wait()
            await send(message)

        monkeypatch.setattr(socket, "send_json", backed_up)
        link.offer_availability(AVAILABILITY)
        await asyncio.sleep(0.05)  # the availability's send is waiting
        link.submit(Sample(ts=2))
        peer_reading.set()
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
        assert [m["type"] for m in received] == ["availability", "sample"]
