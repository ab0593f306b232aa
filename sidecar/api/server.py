"""The local WebSocket API through which the flat's Home Assistant feeds the sidecar.

This module speaks the protocol of PROTOCOL.md section 12 (authentication, hello,
message dispatch, replies, and the read-only status over plain HTTP) with the typed
messages of :mod:`sidecar.api.messages`: each message type received has one handler in
a table, which parses the message, asks the :class:`Services` it is given (see
:mod:`sidecar.api.services`) and builds the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiohttp import WSMsgType, web

from sidecar.api import bearer, messages
from sidecar.api.messages import MessageRejected, MessageType, Outgoing
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.quality import FlowQuality
from sidecar.ledger.samples import Rejection, SampleRejected

_LOGGER = logging.getLogger(__name__)
CLOSE_TIMEOUT_S: Final = 1.0
# aiohttp's close code for a frame beyond ``max_msg_size``.
CLOSE_MESSAGE_TOO_BIG: Final = 1009


class Services(Protocol):
    """What the API needs from the node."""

    def welcome(self, hello: messages.Hello) -> messages.Welcome:
        """The ``welcome`` reply to a usable hello (which may name the serial)."""

    async def sample(
        self, message: dict[str, object]
    ) -> tuple[list[Rejection], list[Entry]]:
        """Use a sample; returns values dropped and entries made durable from it."""

    async def checkpoint(self) -> messages.CheckpointReply:
        """Sign and store a checkpoint now; the ``checkpoint`` reply."""

    async def proof(self, request: messages.ProofRequest) -> messages.ProofReply:
        """The ``proof`` reply."""

    def status(self) -> messages.Status:
        """The ``status`` reply."""

    def flow_quality(self) -> FlowQuality:
        """Today's flows by quality, sent with each ``entry``."""

    def count_rejection(self, reason: str) -> None:
        """Count a refused message or value by reason."""

    def greeting(self) -> list[Outgoing]:
        """Messages to send right after ``welcome`` (the mesh state)."""

    async def submit_roster(
        self, request: messages.RosterSubmit
    ) -> messages.RosterReply:
        """Append an approved roster change; the ``roster`` reply."""

    def mesh_stats(self) -> messages.MeshStats:
        """The ``mesh_stats`` reply."""

    def availability(self, message: dict[str, object]) -> None:
        """Take Home Assistant's availability (raises InvalidData if unusable)."""

    async def dispatch_request(
        self, message: dict[str, object]
    ) -> messages.DispatchReply:
        """Record a group request; the ``dispatch`` reply."""

    async def dispatch_cancel(
        self, message: dict[str, object]
    ) -> messages.DispatchCancelled:
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
        app.router.add_get(messages.PATH, self._websocket)
        app.router.add_get(messages.STATUS_PATH, self._status)

    async def notify(self, message: Outgoing | dict[str, Any]) -> None:
        """Send an unsolicited message to Home Assistant, if it is connected."""
        session = self._session
        wire = messages.build(message) if isinstance(message, Outgoing) else message
        if session is not None and wire.get("type") in session.subscriptions:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.send(wire)

    async def close(self) -> None:
        """Close the producer's connection, if any (on shutdown)."""
        if self._current is not None:
            # Home Assistant may be gone or frozen; it reconnects after the restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._current.close(), CLOSE_TIMEOUT_S)

    def refusal(self, request: web.Request) -> web.Response | None:
        """The 401 answer for a request without the token, else None."""
        answer = bearer.refusal(request, self._token)
        if answer is not None:
            _LOGGER.warning(
                "Refused a local API connection from %s: no valid token",
                request.remote,
            )
        return answer

    async def _status(self, request: web.Request) -> web.Response:
        # For people and scripts: unlike a second WebSocket, it leaves Home
        # Assistant's connection alone.
        if (refusal := self.refusal(request)) is not None:
            return refusal
        return web.json_response(messages.build(self._services.status()))

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self.refusal(request)) is not None:
            return refusal
        ws = web.WebSocketResponse(
            max_msg_size=messages.MAX_MESSAGE_BYTES, heartbeat=30
        )
        await ws.prepare(request)
        previous, self._current = self._current, ws
        if previous is not None:
            await previous.close(code=messages.CLOSE_REPLACED, message=b"replaced")
        _LOGGER.info("Home Assistant connected from %s", request.remote)
        session = _Session(self._services, ws)
        self._session = session
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await session.handle(message.data)
                elif message.type is WSMsgType.BINARY:
                    await session.refuse(messages.binary_frame())
                elif message.type is WSMsgType.ERROR:
                    # aiohttp closes the connection itself, with the code as reason.
                    code = getattr(message.data, "code", None)
                    too_big = code == CLOSE_MESSAGE_TOO_BIG
                    self._services.count_rejection(
                        "oversized" if too_big else "malformed"
                    )
                    _LOGGER.warning("Closed the local API connection: %s", message.data)
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

    async def reply(self, message: Outgoing) -> None:
        await self.send(messages.build(message))

    async def refuse(self, err: InvalidData, request_id: object = None) -> None:
        """Count a refusal and answer it with ``error`` (echoing a request's id)."""
        self.services.count_rejection(err.reason)
        await self.reply(messages.Error(err.reason, err.detail, request_id))

    async def handle(self, text: str) -> None:
        try:
            message = messages.decode(text)
            kind = messages.message_type(message, greeted=self.greeted)
        except MessageRejected as err:
            await self.refuse(err)
            return
        try:
            await HANDLERS[kind](self, message)
        except InvalidData as err:
            await self.refuse(err, message.get("id"))
        except ConnectionError:
            raise  # the connection is gone: nobody to answer
        except Exception:
            # A last line: whatever a message causes, the client gets a reason and
            # the node a count and a traceback, instead of a dropped connection.
            _LOGGER.exception("A %s message could not be handled", kind.value)
            await self.refuse(
                MessageRejected("internal_error", "the sidecar could not use this"),
                message.get("id"),
            )

    async def hello(self, message: dict[str, object]) -> None:
        try:
            hello = messages.parse_hello(message)
        except MessageRejected as err:
            await self.refuse(err)
            if err.reason == "unsupported_protocol":
                await self.ws.close(
                    code=messages.CLOSE_UNSUPPORTED, message=b"unsupported protocol"
                )
            return
        self.subscriptions = frozenset(hello.subscribe)
        self.greeted = True
        await self.reply(self.services.welcome(hello))
        for extra in self.services.greeting():
            if extra.TYPE in self.subscriptions:
                await self.reply(extra)

    async def sample(self, message: dict[str, object]) -> None:
        ts = messages.sample_ts(message)
        try:
            dropped, entries = await self.services.sample(message)
        except SampleRejected as refused:
            await self.reply(messages.rejected(ts, refused.rejection))
            return
        for rejection in dropped:
            await self.reply(messages.rejected(ts, rejection))
        for entry in entries:
            await self.reply(messages.entry_ack(entry, self.services.flow_quality()))

    async def checkpoint(self, message: dict[str, object]) -> None:
        del message  # a request without members
        await self.reply(await self.services.checkpoint())

    async def proof(self, message: dict[str, object]) -> None:
        await self.reply(await self.services.proof(messages.parse_proof(message)))

    async def status(self, message: dict[str, object]) -> None:
        del message
        await self.reply(self.services.status())

    async def mesh_stats(self, message: dict[str, object]) -> None:
        del message
        await self.reply(self.services.mesh_stats())

    async def availability(self, message: dict[str, object]) -> None:
        try:
            self.services.availability(message)
        except InvalidData as err:
            await self.refuse(err)

    async def roster_submit(self, message: dict[str, object]) -> None:
        try:
            request = messages.parse_roster_submit(message)
            await self.reply(await self.services.submit_roster(request))
        except InvalidData as err:
            await self.refuse(err)

    async def dispatch_request(self, message: dict[str, object]) -> None:
        await self._dispatch(message, self.services.dispatch_request)

    async def dispatch_cancel(self, message: dict[str, object]) -> None:
        await self._dispatch(message, self.services.dispatch_cancel)

    async def _dispatch(
        self,
        message: dict[str, object],
        service: Callable[
            [dict[str, object]],
            Awaitable[messages.DispatchReply | messages.DispatchCancelled],
        ],
    ) -> None:
        """A group request: the reply, or the refusal, echoes the request's id."""
        request_id = message.get("id")
        try:
            reply = await service(message)
        except InvalidData as err:
            await self.refuse(err, request_id)
            return
        await self.reply(dataclasses.replace(reply, id=request_id))


type _Handler = Callable[[_Session, dict[str, object]], Awaitable[None]]

# One handler for each message type a client may send.
HANDLERS: Final[dict[MessageType, _Handler]] = {
    MessageType.HELLO: _Session.hello,
    MessageType.SAMPLE: _Session.sample,
    MessageType.CHECKPOINT: _Session.checkpoint,
    MessageType.PROOF: _Session.proof,
    MessageType.STATUS: _Session.status,
    MessageType.MESH_STATS: _Session.mesh_stats,
    MessageType.AVAILABILITY: _Session.availability,
    MessageType.ROSTER_SUBMIT: _Session.roster_submit,
    MessageType.DISPATCH_REQUEST: _Session.dispatch_request,
    MessageType.DISPATCH_CANCEL: _Session.dispatch_cancel,
}
