"""The flat's end of the ledger sidecar's local WebSocket API (docs/PROTOCOL.md §12).

Plain asyncio and aiohttp: Home Assistant hands in samples and reads the link's state.
Samples wait in a bounded buffer while the sidecar is away (the oldest go first when it
is full) and are sent in order once it is back; the link reconnects by itself with
growing, jittered delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import aiohttp

_LOGGER = logging.getLogger(__name__)

PROTOCOL_VERSION: Final = 1
DEFAULT_BUFFER = 900  # a quarter of an hour at one sample a second
_MIN_BACKOFF_S: Final = 1.0
_MAX_BACKOFF_S: Final = 60.0


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
    ) -> None:
        """Prepare a link to ``url`` (``ws://host:port/api/v1/ws``) with ``token``."""
        self._session = session
        self._url = url
        self._token = token
        self._client = client
        self._serial = serial
        self._pending: deque[dict[str, Any]] = deque(maxlen=buffer)
        self._wake = asyncio.Event()
        self._on_change = on_change
        self.connected = False
        self.entries_acknowledged = 0
        self.last_seq: int | None = None
        self.rejections = 0
        self.samples_dropped = 0
        self.last_error: str | None = None
        self.welcome: dict[str, Any] | None = None

    def submit(self, sample: dict[str, Any]) -> None:
        """Queue a sample; never blocks. A full buffer drops its oldest sample."""
        if len(self._pending) == self._pending.maxlen:
            self.samples_dropped += 1
        self._pending.append(sample)
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
            hello: dict[str, Any] = {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "client": self._client,
            }
            if self._serial:
                hello["serial"] = self._serial
            await ws.send_json(hello)
            welcome = await ws.receive_json(timeout=10)
            if welcome.get("type") != "welcome":
                raise ValueError(f"sidecar refused the hello: {welcome}")
            self.welcome = welcome
            self.last_error = None
            self._set_connected(True)
            sender = asyncio.create_task(self._send_loop(ws))
            try:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        self._handle(json.loads(message.data))
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        break
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            while self._pending:
                # Sent before it leaves the buffer: a dropped link loses nothing.
                await ws.send_json(self._pending[0])
                self._pending.popleft()
            self._wake.clear()
            await self._wake.wait()

    def _handle(self, message: dict[str, Any]) -> None:
        match message.get("type"):
            case "entry":
                self.entries_acknowledged += 1
                self.last_seq = message.get("seq")
                self._changed()
            case "rejected":
                self.rejections += 1
                _LOGGER.debug("Sidecar rejected a sample: %s", message)
            case "error":
                self.last_error = f"{message.get('reason')}: {message.get('detail')}"
                _LOGGER.warning("Sidecar error: %s", self.last_error)

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
