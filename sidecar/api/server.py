"""The local WebSocket API through which the flat's Home Assistant feeds the sidecar.

This module speaks the protocol of PROTOCOL.md section 12 (authentication, hello,
message dispatch, replies, and the read-only status over plain HTTP); what a message
does is up to the :class:`Services` it is given (:mod:`sidecar.api.services`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from typing import Any, Final, Protocol

from aiohttp import WSMsgType, web

from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.samples import Rejection, SampleRejected

_LOGGER = logging.getLogger(__name__)
PROTOCOL_VERSION: Final = 1
PATH: Final = "/api/v1/ws"
STATUS_PATH: Final = "/api/v1/status"
MAX_MESSAGE_BYTES: Final = 64 * 1024
CLOSE_REPLACED: Final = 4001
CLOSE_TIMEOUT_S: Final = 1.0
CLOSE_UNSUPPORTED: Final = 4002
SERIAL: Final = re.compile(r"[ -~]{1,64}\Z")
# Messages the sidecar sends unasked, to clients that ask for them in hello.
SUBSCRIBABLE: Final = frozenset({"mesh", "setpoint", "bus_setpoint"})


class Services(Protocol):
    """What the API needs from the node."""

    def welcome(self, serial: str | None) -> dict[str, Any]:
        """Members of the ``welcome`` reply; ``serial`` is from the client's hello."""

    async def sample(
        self, message: dict[str, object]
    ) -> tuple[list[Rejection], list[Entry]]:
        """Use a sample; returns values dropped and entries made durable from it."""

    async def checkpoint(self) -> dict[str, Any]:
        """Sign and store a checkpoint now; its exchange-format object."""

    async def proof(self, request: dict[str, object]) -> dict[str, Any]:
        """Members of a ``proof`` reply."""

    def status(self) -> dict[str, Any]:
        """Members of a ``status`` reply."""

    def count_rejection(self, reason: str) -> None:
        """Count a refused message or value by reason."""

    def greeting(self) -> list[dict[str, Any]]:
        """Messages to send right after ``welcome`` (the mesh state)."""

    async def submit_roster(self, message: dict[str, object]) -> dict[str, Any]:
        """Append an approved roster change; the ``roster`` reply."""

    def mesh_stats(self) -> dict[str, Any]:
        """Members of a ``mesh_stats`` reply."""

    def availability(self, message: dict[str, object]) -> None:
        """Take Home Assistant's availability (raises InvalidData if unusable)."""

    async def dispatch_request(self, message: dict[str, object]) -> dict[str, Any]:
        """Record a group request; the ``dispatch`` reply."""

    async def dispatch_cancel(self, message: dict[str, object]) -> dict[str, Any]:
        """Cancel a group request; the ``dispatch_cancelled`` reply."""


class LocalApi:
    """The ``/api/v1/ws`` endpoint."""

    def __init__(self, services: Services, token: str) -> None:
        self._services = services
        self._token = token.encode()
        self._current: web.WebSocketResponse | None = None
        self._session: _Session | None = None

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints on an aiohttp application."""
        app.router.add_get(PATH, self._websocket)
        app.router.add_get(STATUS_PATH, self._status)

    async def notify(self, message: dict[str, Any]) -> None:
        """Send an unsolicited message to Home Assistant, if it is connected."""
        session = self._session
        if session is not None and message.get("type") in session.subscriptions:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.send(message)

    async def close(self) -> None:
        """Close the producer's connection, if any (on shutdown)."""
        if self._current is not None:
            # Home Assistant may be gone or frozen; it reconnects after the restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._current.close(), CLOSE_TIMEOUT_S)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        # Constant-time comparison: the token is the only thing guarding the ledger.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self._token
        )

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The 401 answer for a request without the token, else None."""
        if self._authorized(request):
            return None
        _LOGGER.warning(
            "Refused a local API connection from %s: no valid token", request.remote
        )
        return web.json_response(
            {
                "error": "unauthorized",
                "detail": "send Authorization: Bearer <api_token>",
            },
            status=401,
        )

    async def _status(self, request: web.Request) -> web.Response:
        # For people and scripts: unlike a second WebSocket, it leaves Home
        # Assistant's connection alone.
        if (refusal := self._refusal(request)) is not None:
            return refusal
        return web.json_response({"type": "status", **self._services.status()})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30)
        await ws.prepare(request)
        previous, self._current = self._current, ws
        if previous is not None:
            await previous.close(code=CLOSE_REPLACED, message=b"replaced")
        _LOGGER.info("Home Assistant connected from %s", request.remote)
        session = _Session(self._services, ws)
        self._session = session
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await session.handle(message.data)
                elif message.type is WSMsgType.BINARY:
                    await session.error("malformed", "binary frames are not accepted")
        finally:
            if self._current is ws:
                self._current = None
                self._session = None
        return ws


class _Session:
    def __init__(self, services: Services, ws: web.WebSocketResponse) -> None:
        self.services = services
        self.ws = ws
        self.greeted = False
        self.subscriptions: frozenset[str] = frozenset()

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def error(self, reason: str, detail: str) -> None:
        self.services.count_rejection(reason)
        await self.send({"type": "error", "reason": reason, "detail": detail})

    async def handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await self.error("malformed", "not JSON")
            return
        if not isinstance(message, dict):
            await self.error("malformed", "a message is a JSON object")
            return
        kind = message.get("type")
        if kind == "hello":
            await self._hello(message)
        elif not self.greeted:
            await self.error("hello_required", "send hello first")
        elif kind == "sample":
            await self._sample(message)
        elif kind == "checkpoint":
            await self.send(
                {"type": "checkpoint", "checkpoint": await self.services.checkpoint()}
            )
        elif kind == "proof":
            await self.send({"type": "proof", **await self.services.proof(message)})
        elif kind == "status":
            await self.send({"type": "status", **self.services.status()})
        elif kind == "mesh_stats":
            await self.send({"type": "mesh_stats", **self.services.mesh_stats()})
        elif kind == "availability":
            try:
                self.services.availability(message)
            except InvalidData as err:
                await self.error(err.reason, err.detail)
        elif kind in ("dispatch_request", "dispatch_cancel"):  # kind may be a list
            await self._dispatch(kind, message)
        elif kind == "roster_submit":
            try:
                await self.send(await self.services.submit_roster(message))
            except InvalidData as err:
                await self.error(err.reason, err.detail)
        else:
            await self.error("unknown_type", f"unknown message type {kind!r}")

    async def _dispatch(self, kind: str, message: dict[str, object]) -> None:
        request_id = message.get("id")
        try:
            if kind == "dispatch_request":
                reply = await self.services.dispatch_request(message)
            else:
                reply = await self.services.dispatch_cancel(message)
        except InvalidData as err:
            self.services.count_rejection(err.reason)
            reply = {"type": "error", "reason": err.reason, "detail": err.detail}
        if request_id is not None:
            reply["id"] = request_id
        await self.send(reply)

    async def _hello(self, message: dict[str, object]) -> None:
        protocol = message.get("protocol")
        if protocol != PROTOCOL_VERSION:
            await self.error(
                "unsupported_protocol",
                f"this sidecar speaks protocol {PROTOCOL_VERSION}, not {protocol!r}",
            )
            await self.ws.close(code=CLOSE_UNSUPPORTED, message=b"unsupported protocol")
            return
        serial = message.get("serial")
        if serial is not None and not (
            isinstance(serial, str) and SERIAL.match(serial)
        ):
            # It would go into every signed flow: refuse it rather than sign garbage.
            await self.error(
                "bad_request", "serial must be 1-64 printable ASCII characters"
            )
            return
        subscribe = message.get("subscribe", [])
        if (
            not isinstance(subscribe, list)
            or not all(
                item in SUBSCRIBABLE for item in subscribe if isinstance(item, str)
            )
            or not all(isinstance(item, str) for item in subscribe)
        ):
            await self.error(
                "bad_request", f"subscribe is a list drawn from {sorted(SUBSCRIBABLE)}"
            )
            return
        self.subscriptions = frozenset(subscribe)
        self.greeted = True
        welcome = self.services.welcome(serial)
        await self.send({"type": "welcome", "protocol": PROTOCOL_VERSION, **welcome})
        for extra in self.services.greeting():
            if extra["type"] in self.subscriptions:
                await self.send(extra)

    async def _sample(self, message: dict[str, object]) -> None:
        ts = message.get("ts")
        try:
            dropped, entries = await self.services.sample(message)
        except SampleRejected as refused:
            await self._rejected(ts, refused.rejection)
            return
        for rejection in dropped:
            await self._rejected(ts, rejection)
        for entry in entries:
            content = entry.content
            balance = content["balance"]
            transfers = content["transfers"]
            assert isinstance(balance, dict)
            assert isinstance(transfers, list)
            await self.send(
                {
                    "type": "entry",
                    "seq": entry.seq,
                    "id": entry.id.hex(),
                    "kind": entry.kind,
                    "start": content["start"],
                    "end": content["end"],
                    "ok": balance["ok"],
                    "transfers": len(transfers),
                    "samples": content["samples"],
                }
            )

    async def _rejected(self, ts: object, rejection: Rejection) -> None:
        reply: dict[str, Any] = {
            "type": "rejected",
            "scope": rejection.scope,
            "reason": rejection.reason,
            "detail": rejection.detail,
        }
        if isinstance(ts, int) and not isinstance(ts, bool):
            reply["ts"] = ts
        if rejection.field is not None:
            reply["field"] = rejection.field
        await self.send(reply)
