"""The flat's end of the ledger sidecar's local WebSocket API (docs/PROTOCOL.md §12).

Plain asyncio and aiohttp: Home Assistant hands in samples and reads the link's state.
Samples wait in a bounded buffer while the sidecar is away (the oldest go first when it
is full) and are sent in order once it is back; the link reconnects by itself with
growing, jittered delays.

The sidecar also talks back on the same socket: ``mesh`` (the building's ledger mesh
as this node sees it), ``setpoint`` (this flat's part in a group discharge) and
``bus_setpoint`` (this flat's part in outage support over the building bus) arrive
unsolicited; ``dispatch_request`` and ``dispatch_cancel`` are requests with an ``id``
whose reply carries the same ``id``. The newest ``availability`` is sent once, never
buffered: an old one says nothing about the battery now.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any, Final

import aiohttp

from .messages import (
    SUBSCRIBE,
    SUBSCRIBE_WITHOUT_BUS,
    Availability,
    BusSetpoint,
    DispatchCancel,
    DispatchRequest,
    EntryAck,
    GroupSetpoint,
    Hello,
    HelloRefusedError,
    MessageType,
    Sample,
    build,
    is_bad_request,
    message_type,
    parse_bus_setpoint,
    parse_entry,
    parse_error,
    parse_setpoint,
    parse_welcome,
    reply_id,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_BUFFER = 900  # a quarter of an hour at one sample a second
_MIN_BACKOFF_S: Final = 1.0
_MAX_BACKOFF_S: Final = 60.0
_WELCOME_TIMEOUT_S: Final = 10.0
REQUEST_TIMEOUT_S: Final = 10.0

# What ``async_check_sidecar`` reports (the keys of the config flows' errors).
CHECK_CANNOT_CONNECT: Final = "sidecar_cannot_connect"
CHECK_INVALID_AUTH: Final = "sidecar_invalid_auth"
CHECK_REFUSED: Final = HelloRefusedError.reason


class SidecarNotConnectedError(ConnectionError):
    """The link is down, or went down before the sidecar answered."""


class SidecarRequestError(Exception):
    """The sidecar answered a request with an ``error``."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the sidecar's ``reason`` and ``detail``."""
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


async def _greet(
    ws: aiohttp.ClientWebSocketResponse, client: str, serial: str | None
) -> tuple[Any, tuple[str, ...]]:
    """Say hello; the sidecar's answer and the subscriptions it accepted.

    An older sidecar that does not know every subscription answers ``bad_request``:
    the hello is repeated once with the subscriptions every sidecar knows.
    """
    await ws.send_json(build(Hello(client, serial)))
    answer = await ws.receive_json(timeout=_WELCOME_TIMEOUT_S)
    if is_bad_request(answer):
        await ws.send_json(build(Hello(client, serial, SUBSCRIBE_WITHOUT_BUS)))
        answer = await ws.receive_json(timeout=_WELCOME_TIMEOUT_S)
        return answer, SUBSCRIBE_WITHOUT_BUS
    return answer, SUBSCRIBE


async def async_check_sidecar(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    *,
    client: str,
    serial: str | None = None,
) -> str | None:
    """Open the WebSocket, say hello, wait for the welcome; ``None`` when all is well.

    Otherwise ``CHECK_CANNOT_CONNECT``, ``CHECK_INVALID_AUTH`` or ``CHECK_REFUSED``.
    """
    try:
        async with session.ws_connect(
            url, headers={"Authorization": f"Bearer {token}"}, heartbeat=30
        ) as ws:
            welcome, _ = await _greet(ws, client, serial)
    except aiohttp.WSServerHandshakeError as err:
        if err.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return CHECK_INVALID_AUTH
        return CHECK_CANNOT_CONNECT
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, TypeError):
        return CHECK_CANNOT_CONNECT
    try:
        parse_welcome(welcome)
    except HelloRefusedError:
        return CHECK_REFUSED
    return None


class SidecarLink:
    """Keep one authenticated WebSocket to the sidecar and stream samples over it."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str,
        *,
        client: str,
        serial: str | None = None,
        buffer: int = DEFAULT_BUFFER,
        on_change: Callable[[], None] | None = None,
        on_setpoint: Callable[[GroupSetpoint], None] | None = None,
        on_bus_setpoint: Callable[[BusSetpoint], None] | None = None,
    ) -> None:
        """Prepare a link to ``url`` (``ws://host:port/api/v1/ws``) with ``token``.

        ``on_change`` is called when the link goes up or down or the sidecar reports
        the mesh or an entry; ``on_setpoint`` and ``on_bus_setpoint`` with every
        message of that type, read.
        """
        self._session = session
        self._url = url
        self._token = token
        self._client = client
        self._serial = serial
        self._pending: deque[dict[str, Any]] = deque(maxlen=buffer)
        self._wake = asyncio.Event()
        self._on_change = on_change
        self._on_setpoint = on_setpoint
        self._on_bus_setpoint = on_bus_setpoint
        # What each unsolicited message does; other types are ignored.
        self._handlers: dict[MessageType, Callable[[dict[str, Any]], None]] = {
            MessageType.MESH: self._handle_mesh,
            MessageType.SETPOINT: self._handle_setpoint,
            MessageType.BUS_SETPOINT: self._handle_bus_setpoint,
            MessageType.ENTRY: self._handle_entry,
            MessageType.REJECTED: self._handle_rejected,
            MessageType.ERROR: self._handle_error,
        }
        self.connected = False
        self.entries_acknowledged = 0
        self.last_seq: int | None = None
        self.last_entry: EntryAck | None = None  # with today's flow quality tally
        self.rejections = 0
        self.samples_dropped = 0
        self.last_error: str | None = None
        self.welcome: dict[str, Any] | None = None
        # What the sidecar agreed to send us, from the last welcome.
        self.subscriptions: tuple[str, ...] = ()
        # The newest ``mesh`` message and when it came (monotonic s).
        self.mesh: dict[str, Any] | None = None
        self.mesh_received_at: float | None = None
        self._availability: dict[str, Any] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 1
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def offer_availability(self, availability: Availability) -> None:
        """Send ``availability`` soon if the link is up; a newer one replaces it."""
        if not self.connected:
            return
        self._availability = build(availability)
        self._wake.set()

    async def async_request(
        self,
        request: DispatchRequest | DispatchCancel,
        wait_s: float = REQUEST_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Send ``request`` with a fresh ``id`` and return the reply with that id.

        Raises ``SidecarNotConnectedError`` when the link is down or drops before the
        answer, ``SidecarRequestError`` for an ``error`` reply, ``TimeoutError``.
        """
        ws = self._ws
        if ws is None or not self.connected:
            raise SidecarNotConnectedError("the sidecar is not connected")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._requests[request_id] = future
        try:
            try:
                await ws.send_json(build(replace(request, id=request_id)))
            except (aiohttp.ClientError, OSError, RuntimeError) as err:
                raise SidecarNotConnectedError(str(err)) from err
            async with asyncio.timeout(wait_s):
                reply = await future
        finally:
            self._requests.pop(request_id, None)
        if message_type(reply) is MessageType.ERROR:
            error = parse_error(reply)
            raise SidecarRequestError(error.reason, error.detail)
        return reply

    async def async_get_json(
        self, path: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """GET one of the sidecar's HTTP routes (``/api/v1/…``) as JSON.

        Raises ``SidecarNotConnectedError`` when the sidecar cannot be reached,
        ``SidecarRequestError`` when it refuses (its reason and detail).
        """
        base = self._url.split("/api/", 1)[0].replace("ws", "http", 1)
        try:
            async with (
                asyncio.timeout(REQUEST_TIMEOUT_S),
                self._session.get(
                    base + path,
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                ) as reply,
            ):
                body: dict[str, Any] = await reply.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
            raise SidecarNotConnectedError(str(err)) from err
        if reply.status != HTTPStatus.OK:
            raise SidecarRequestError(
                str(body.get("reason", reply.status)), str(body.get("detail", ""))
            )
        return body

    def submit(self, sample: Sample) -> None:
        """Queue a sample; never blocks. A full buffer drops its oldest sample."""
        if len(self._pending) == self._pending.maxlen:
            self.samples_dropped += 1
        self._pending.append(build(sample))
        self._wake.set()

    @property
    def pending(self) -> int:
        """Samples waiting to be sent."""
        return len(self._pending)

    async def run(self) -> None:
        """Connect, stream, reconnect; until cancelled."""
        backoff = _MIN_BACKOFF_S
        while True:
            try:
                await self._session_once()
                backoff = _MIN_BACKOFF_S
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                self.last_error = str(err) or type(err).__name__
                _LOGGER.debug("Sidecar link down: %s", self.last_error)
            self._set_connected(False)
            # Jitter so a building's flats do not all knock at once after a restart.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(_MAX_BACKOFF_S, backoff * 2)

    async def _session_once(self) -> None:
        async with self._session.ws_connect(
            self._url,
            headers={"Authorization": f"Bearer {self._token}"},
            heartbeat=30,
        ) as ws:
            welcome, subscriptions = await _greet(ws, self._client, self._serial)
            # A refusal is a ValueError: the link retries later.
            parse_welcome(welcome)
            self.welcome = welcome
            self.subscriptions = subscriptions
            self.last_error = None
            self._ws = ws
            self._set_connected(True)
            sender = asyncio.create_task(self._send_loop(ws))
            try:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        self._handle_text(message.data)
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        break
            finally:
                self._ws = None
                sender.cancel()
                # asyncio.wait: an unload cancelling this task must not be swallowed.
                await asyncio.wait([sender])

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            # Cleared before the sends: what arrives while one waits on a full socket
            # wakes the next pass instead of waiting for a later message.
            self._wake.clear()
            while self._pending:
                # Sent before it leaves the buffer: a dropped link loses nothing.
                await ws.send_json(self._pending[0])
                self._pending.popleft()
            if (availability := self._availability) is not None:
                self._availability = None
                await ws.send_json(availability)
            await self._wake.wait()

    def _handle_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            _LOGGER.debug("Sidecar sent something that is not JSON: %.200s", text)
            return
        if isinstance(message, dict):
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        request_id = reply_id(message)
        if request_id is not None and request_id in self._requests:
            future = self._requests[request_id]
            if not future.done():
                future.set_result(message)
            return
        kind = message_type(message)
        if kind is not None and (handler := self._handlers.get(kind)) is not None:
            handler(message)

    def _handle_mesh(self, message: dict[str, Any]) -> None:
        self.mesh = message
        self.mesh_received_at = time.monotonic()
        self._changed()

    def _handle_setpoint(self, message: dict[str, Any]) -> None:
        if self._on_setpoint is not None:
            self._on_setpoint(parse_setpoint(message))

    def _handle_bus_setpoint(self, message: dict[str, Any]) -> None:
        if self._on_bus_setpoint is not None:
            self._on_bus_setpoint(parse_bus_setpoint(message))

    def _handle_entry(self, message: dict[str, Any]) -> None:
        self.entries_acknowledged += 1
        self.last_entry = parse_entry(message)
        self.last_seq = self.last_entry.seq
        self._changed()

    def _handle_rejected(self, message: dict[str, Any]) -> None:
        self.rejections += 1
        _LOGGER.debug("Sidecar rejected a sample: %s", message)

    def _handle_error(self, message: dict[str, Any]) -> None:
        error = parse_error(message)
        self.last_error = f"{error.reason}: {error.detail}"
        _LOGGER.warning("Sidecar error: %s", self.last_error)

    def _set_connected(self, connected: bool) -> None:
        if not connected:
            self._availability = None
            # What the sidecar said about the mesh is no longer known.
            self.mesh = None
            self.mesh_received_at = None
            for future in self._requests.values():
                if not future.done():
                    future.set_exception(
                        SidecarNotConnectedError("the link dropped before the answer")
                    )
        if connected != self.connected:
            self.connected = connected
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
