"""A client of a sidecar's local API: the WebSocket a flat's Home Assistant holds.

One connection per node (the node serves one local client at a time). A background
task reads everything the node sends and sorts it: acknowledgements of samples
(``entry``, ``rejected``) are counted, pushed messages (``mesh``, ``setpoint``,
``bus_setpoint``) are kept with the time they arrived, and everything else is a reply
for :meth:`LocalApiClient.ask`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from devkit.clock import now_ms

PROTOCOL = 1
WS_PATH = "/api/v1/ws"
ACKNOWLEDGEMENTS = frozenset({"entry", "rejected"})
PUSHED = frozenset({"mesh", "setpoint", "bus_setpoint"})
# Frames as large as a status of a big building.
MAX_FRAME = 64 << 20

type Message = dict[str, Any]


def hello(
    serial: str = "LVPP-301-BAT",
    subscribe: Iterable[str] = (),
    client: str | None = None,
) -> Message:
    """The ``hello`` that opens a session: protocol, serial and subscriptions."""
    message: Message = {
        "type": "hello",
        "protocol": PROTOCOL,
        "serial": serial,
        "subscribe": list(subscribe),
    }
    if client is not None:
        message["client"] = client
    return message


def sample(ts: int, **readings: float) -> Message:
    """A ``sample`` of readings (``pv_wh``, ``pv_w``, ``grid_w``, …) taken at ``ts``."""
    return {"type": "sample", "ts": ts, **readings}


async def open_session(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    greeting: Message | None = None,
    *,
    within: float = 10,
) -> aiohttp.ClientWebSocketResponse:
    """Connect with the bearer token and say ``greeting`` (a :func:`hello`).

    Without a greeting the socket is returned as connected, before any hello.
    """
    ws = await session.ws_connect(
        url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=MAX_FRAME
    )
    if greeting is not None:
        await ws.send_json(greeting)
        welcome = await ws.receive_json(timeout=within)
        if welcome.get("type") != "welcome":
            await ws.close()
            raise AssertionError(f"no welcome: {welcome}")
    return ws


class LocalApiClient:
    """A greeted local API connection whose messages a background task sorts.

    ``on_message`` sees every message first; when it returns True the message is
    taken care of and not sorted.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        on_message: Callable[[Message], bool] | None = None,
    ) -> None:
        self.ws = ws
        self.on_message = on_message
        self.lock = asyncio.Lock()
        self.replies: asyncio.Queue[Message] = asyncio.Queue()
        self.pushed: list[Message] = []  # each with the "received_ms" it arrived at
        self.entries = 0
        self.rejected = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            message: Message = frame.json()
            if self.on_message is not None and self.on_message(message):
                continue
            kind = message.get("type")
            if kind == "entry":
                self.entries += 1
            elif kind == "rejected":
                self.rejected += 1
            elif kind in PUSHED:
                message["received_ms"] = now_ms()
                self.pushed.append(message)
            else:
                self.replies.put_nowait(message)

    def setpoints(self) -> list[Message]:
        """The ``setpoint`` messages received so far."""
        return [m for m in self.pushed if m["type"] == "setpoint"]

    async def send(self, message: Message) -> bool:
        """Send without waiting for anything; False if the connection is gone."""
        try:
            await self.ws.send_json(message)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def ask(self, message: Message, within: float = 15) -> Message:
        """Send a request and return its reply (:class:`TimeoutError` after ``within``).

        A request with an ``id`` gets the reply with that id (or, from a node that
        does not echo ids, the first of the same type without one); any other
        request gets the next reply. Replies left over from an earlier request
        that timed out are dropped first.
        """
        request_id = message.get("id")
        async with self.lock:
            while not self.replies.empty():
                self.replies.get_nowait()
            await self.ws.send_json(message)
            async with asyncio.timeout(within):
                while True:
                    reply = await self.replies.get()
                    if request_id is None or reply.get("id") == request_id:
                        return reply
                    if "id" not in reply and reply.get("type") == message["type"]:
                        return reply

    async def close(self) -> None:
        """Stop reading and close the socket."""
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.ws.close()


async def connect(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    greeting: Message,
    on_message: Callable[[Message], bool] | None = None,
) -> LocalApiClient:
    """Open a session, say hello and start sorting what the node sends."""
    return LocalApiClient(await open_session(session, url, token, greeting), on_message)
