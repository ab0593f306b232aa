"""A stand-in for the ledger sidecar's local API, scripted by the test.

A real aiohttp WebSocket server on 127.0.0.1 that speaks docs/PROTOCOL.md section 12
as far as Home Assistant's side needs: it checks the bearer token, answers ``hello``
with ``welcome``, records what Home Assistant sends, answers ``dispatch_request`` and
``dispatch_cancel``, and pushes whatever ``mesh``, ``setpoint`` or ``bus_setpoint`` the
test gives it. Told to, it refuses subscriptions it does not know with ``bad_request``
as a sidecar from before the building bus does.

What it answers, and the messages the tests start from, are the shared local-API
vectors (tests/vectors/local_api), replayed with this flat's id and the request's.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from custom_components.local_vpp.ledger.messages import PROTOCOL_VERSION, MessageType
from tests.vectors import local_api

TOKEN = "t" * 43
EVENT = "e1" * 32
SUBSCRIBABLE = frozenset({"mesh", "setpoint", "bus_setpoint"})
# Who this sidecar says it is in its welcome.
FLAT = {"floor": "1", "flat": "101"}

_VECTORS = dict(local_api.vectors())
# The author key the welcome names.
AUTHOR: str = _VECTORS["hello:welcome"]["message"]["author"]


def vector(name: str) -> dict[str, Any]:
    """A fresh copy of the message of the shared vector ``file:name``."""
    message: dict[str, Any] = copy.deepcopy(_VECTORS[name]["message"])
    return message


def refusal(name: str) -> dict[str, Any]:
    """The ``error`` the sidecar answers the shared vector ``file:name`` with."""
    return {"type": MessageType.ERROR.value} | _VECTORS[name]["rejected"]


def mesh_message(**overrides: Any) -> dict[str, Any]:
    """A ``mesh`` message for a five-flat roster, everything healthy."""
    five_flats = {
        "roster_size": 5,
        "peers_online": 4,
        "peers": [
            {"flat": flat, "floor": flat[0], "author": "cd" * 32, "online": True}
            for flat in ("102", "201", "202", "301")
        ],
    }
    building_of_one = vector("mesh:mesh: a building of one, nothing witnessed yet")
    return building_of_one | five_flats | overrides


def setpoint_message(**overrides: Any) -> dict[str, Any]:
    """An active ``setpoint`` message: this flat discharges 1200 W for the group."""
    name = "coordination:setpoint: this flat discharges 1200 W for the group"
    return vector(name) | overrides


def bus_setpoint_message(**overrides: Any) -> dict[str, Any]:
    """An active ``bus_setpoint`` message: this flat takes 400 W from the bus."""
    name = "coordination:bus_setpoint: this flat takes 400 W from the bus"
    return vector(name) | overrides


class ScriptedSidecar:
    """One flat's sidecar API on a free 127.0.0.1 port."""

    def __init__(self, token: str = TOKEN) -> None:
        """Not listening until ``start``."""
        self.token = token
        self.url = ""
        self.received: list[dict[str, Any]] = []
        self.hellos = 0
        # The subscriptions this sidecar knows; others get ``bad_request``.
        self.subscribable = SUBSCRIBABLE
        self.greet_with: list[dict[str, Any]] = [mesh_message()]
        # reply(request) -> the message to answer a dispatch_request with.
        self.reply: Callable[[dict[str, Any]], dict[str, Any] | None] = self._dispatch
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.connected = asyncio.Event()

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (on ``port``, or a free one)."""
        app = web.Application()
        app.router.add_get("/api/v1/ws", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"ws://127.0.0.1:{self.port}/api/v1/ws"

    async def stop(self) -> None:
        """Close the link and stop listening."""
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drop(self) -> None:
        """Close the current WebSocket, as a sidecar that restarts would."""
        ws, self._ws = self._ws, None
        self.connected.clear()
        if ws is not None and not ws.closed:
            await ws.close()

    async def push(self, message: dict[str, Any]) -> None:
        """Send ``message`` to Home Assistant."""
        assert self._ws is not None, "Home Assistant is not connected"
        await self._ws.send_json(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """What Home Assistant sent of one ``type``, oldest first."""
        return [m for m in self.received if m.get("type") == kind]

    def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["type"] == MessageType.DISPATCH_CANCEL:
            # Without an event named, the one running (EVENT) is cancelled.
            cancelled = vector("coordination:dispatch_cancelled: a named event")
            event = request.get("event") or cancelled["event"]
            return cancelled | {"id": request["id"], "event": event}
        recorded = vector("coordination:dispatch: the request is recorded")
        return recorded | {"id": request["id"]}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive_json(timeout=10)
        if (
            first.get("type") != MessageType.HELLO
            or first.get("protocol") != PROTOCOL_VERSION
        ):
            await ws.send_json(refusal("envelope:a sample before the hello"))
            await ws.close()
            return ws
        self.received.append(first)
        while not set(first.get("subscribe") or []) <= self.subscribable:
            await ws.send_json(refusal("hello:an unknown subscription"))
            first = await ws.receive_json(timeout=10)
            self.received.append(first)
        self.hellos += 1
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=4001, message=b"replaced")
        self._ws = ws
        await ws.send_json(vector("hello:welcome") | FLAT)
        subscribed = first.get("subscribe") or []
        for message in self.greet_with:
            if message["type"] in subscribed:
                await ws.send_json(message)
        self.connected.set()
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            self.received.append(message)
            if message.get("type") in {
                MessageType.DISPATCH_REQUEST,
                MessageType.DISPATCH_CANCEL,
            }:
                answer = self.reply(message)
                if answer is not None:
                    await ws.send_json(answer)
        if self._ws is ws:
            self._ws = None
            self.connected.clear()
        return ws
