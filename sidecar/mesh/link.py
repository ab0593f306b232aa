"""One authenticated connection to a peer, and the frames that travel over it.

Every frame is a JSON object of at most a set size, and a peer may send only so many
per second (:class:`Limits`); a slow peer's frames queue without holding up the others.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import WSMsgType, web

from sidecar.ledger import bounds
from sidecar.ledger.errors import InvalidData
from sidecar.mesh.roster import Member

HANDSHAKE_TIMEOUT_S: Final = 5.0
SEND_QUEUE: Final = 256  # frames; a peer that falls further behind catches up later


@dataclass(frozen=True, slots=True)
class Limits:
    """What a peer may send."""

    max_frame_bytes: int = 1 << 20
    frames_per_s: float = 100.0
    burst: float = 400.0
    max_skew_ms: int = 30_000


class Refused(InvalidData):
    """The handshake failed; the link is closed."""


class PeerRefused(Exception):
    """The peer refused our handshake (its reason, from its ``refused`` frame)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(str(reply.get("detail", "no detail")))
        self.reason = str(reply.get("reason", "unknown"))


@dataclass(slots=True)
class Bucket:
    """A token bucket: ``rate`` frames a second, up to ``burst`` at once."""

    rate: float
    burst: float
    tokens: float
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        """Spend a token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Link:
    """An authenticated connection to one peer."""

    def __init__(
        self, peer: Member, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse
    ) -> None:
        self.peer = peer
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE)
        self.dropped = 0

    def send(self, frame: str) -> None:
        """Queue a frame without waiting: a slow peer must not slow the others."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1

    async def pump(self) -> None:
        """Send queued frames until the connection closes."""
        while not self.ws.closed:
            frame = await self.queue.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return


def encode_frame(message: dict[str, Any]) -> str:
    """A frame's text: compact JSON."""
    return json.dumps(message, separators=(",", ":"))


async def receive_json(
    ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> dict[str, Any]:
    """The next frame of a handshake, which must come in time and be an object."""
    message = await ws.receive(timeout=HANDSHAKE_TIMEOUT_S)
    if message.type is not WSMsgType.TEXT:
        raise Refused("closed", "the peer closed the connection during the handshake")
    value = bounds.loads(message.data)
    if not isinstance(value, dict):
        raise Refused("malformed", "a frame is a JSON object")
    return value


def hex_field(message: dict[str, Any], name: str, size: int) -> bytes:
    """A handshake frame's hex member of ``size`` bytes; the handshake fails if not."""
    try:
        return hex_value(message.get(name), size)
    except InvalidData as err:
        raise Refused("malformed", f"{name}: {err.detail}") from err


def hex_value(value: object, size: int) -> bytes:
    """``size`` bytes from lowercase hex, else a ``malformed`` refusal."""
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        raise InvalidData("malformed", f"expected {size} bytes of lowercase hex")
    try:
        return bytes.fromhex(value)
    except ValueError as err:
        raise InvalidData("malformed", "not hex") from err


def counted_reason(err: InvalidData) -> str:
    """Mesh counters group the protocol's many schema codes as ``malformed``."""
    if err.reason in {
        "forged",
        "non_member",
        "wrong_building",
        "clock_skew",
        "broken_chain",
        "bad_frontier",
        "time_backwards",
        "clock_window",
        "too_large",
        "too_deep",
        "out_of_range",
    }:
        return "oversized" if err.reason == "too_large" else err.reason
    return "malformed"
