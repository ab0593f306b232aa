"""The listener's guard against connections that never authenticate (slow-loris).

The node's one HTTP port serves Home Assistant (bearer token), members (signed
handshake) and status readers. aiohttp never times out a request whose headers do
not end, so a few hundred such connections would take every file descriptor. This
guard sits between the listening socket and aiohttp's protocol: a connection counts
as *unauthenticated* until a handler that checked its credentials calls
:func:`trust`; an unauthenticated one is closed after ``timeout_s`` (``408``), at
most ``per_source`` of them are held per source address (more are refused, ``503``),
and when ``total`` are held a new connection takes the place of the oldest one from
the busiest source — so Home Assistant and members, whose connections authenticate
within milliseconds, always get in. Every closing is counted (``request_timeout``,
``too_many_connections``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

_LOGGER = logging.getLogger(__name__)
# A third of the file limit may be held by unauthenticated connections: the rest stays
# for the database, the authenticated links and the guard's own headroom.
FILE_SHARE: Final = 3
# Refused connections half-closed at once, each for this long, so the 503 arrives.
LINGER_MAX: Final = 64
LINGER_S: Final = 1.0
_TIMEOUT_REPLY: Final = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)
_BUSY_REPLY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """How long and how many unauthenticated connections are held."""

    timeout_s: float = 10.0
    per_source: int = 64
    total: int = 512


def file_bound(total: int) -> int:
    """``total``, lowered to a third of this process's open-file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return total
    return max(1, min(total, soft // FILE_SHARE))


@dataclass(slots=True)
class _Held:
    source: str
    timer: asyncio.TimerHandle


class ConnectionGuard:
    """Counts, times out and caps the connections no handler has trusted yet."""

    def __init__(self, limits: GuardLimits, count: Callable[[str], None]) -> None:
        self.limits = limits
        self._count = count
        self._held: OrderedDict[asyncio.BaseTransport, _Held] = OrderedDict()
        self._sources: Counter[str] = Counter()
        self._lingering = 0

    def protocol_factory(
        self, make: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        """Wrap aiohttp's protocol factory so that each connection passes the guard."""
        return lambda: _Guarded(self, make())

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Hold a new connection, or refuse it (False, after a ``503``)."""
        source = _source(transport)
        if self._sources[source] >= self.limits.per_source:
            self._refuse(transport, source)
            self._linger(transport)
            return False
        if len(self._held) >= self.limits.total:
            busiest = max(self._sources, key=self._sources.__getitem__)
            oldest = next(t for t, held in self._held.items() if held.source == busiest)
            self._release(oldest)
            self._refuse(oldest, busiest)
            oldest.close()
        timer = asyncio.get_running_loop().call_later(
            self.limits.timeout_s, self._expire, transport
        )
        self._held[transport] = _Held(source, timer)
        self._sources[source] += 1
        return True

    def trust(self, transport: asyncio.BaseTransport) -> None:
        """The connection authenticated: no timeout, no cap any more."""
        self._release(transport)

    def lost(self, transport: asyncio.BaseTransport) -> None:
        """The connection closed."""
        self._release(transport)

    def _release(self, transport: asyncio.BaseTransport) -> None:
        held = self._held.pop(transport, None)
        if held is None:
            return
        held.timer.cancel()
        self._sources[held.source] -= 1
        if self._sources[held.source] <= 0:
            del self._sources[held.source]

    def _expire(self, transport: asyncio.BaseTransport) -> None:
        held = self._held.get(transport)
        if held is None:
            return
        self._release(transport)
        self._count("request_timeout")
        _LOGGER.debug("Closed an unauthenticated connection from %s", held.source)
        # aiohttp has read all that arrived, so the close is an orderly one.
        _say(transport, _TIMEOUT_REPLY)
        transport.close()

    def _refuse(self, transport: asyncio.BaseTransport, source: str) -> None:
        self._count("too_many_connections")
        _LOGGER.debug("Refused a connection from %s: too many", source)
        _say(transport, _BUSY_REPLY)

    def _linger(self, transport: asyncio.BaseTransport) -> None:
        """Close a refused connection so that its client reads the ``503``.

        Closing a socket with unread input sends a reset, which can overtake the
        reply: half-close instead and abort a moment later — for a bounded number
        of connections at once, so lingering never holds many descriptors.
        """
        if (
            self._lingering >= LINGER_MAX
            or not isinstance(transport, asyncio.WriteTransport)
            or not transport.can_write_eof()
        ):
            transport.close()
            return
        self._lingering += 1
        transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self._end_linger, transport)

    def _end_linger(self, transport: asyncio.BaseTransport) -> None:
        self._lingering -= 1
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._guard.admit(transport):
            self._transport = transport
            self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.lost(self._transport)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._transport is None:
            return None
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._inner.resume_writing()


GUARD: Final = web.AppKey("connection_guard", ConnectionGuard)


def trust(request: web.Request) -> None:
    """Mark the request's connection authenticated (Home Assistant, a member)."""
    guard = request.app.get(GUARD)
    transport = request.transport
    if guard is not None and transport is not None:
        guard.trust(transport)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass a :class:`ConnectionGuard` first."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        shutdown_timeout: float = 60.0,
    ) -> None:
        super().__init__(runner, shutdown_timeout=shutdown_timeout)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        """The site's address, as aiohttp names sites."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each connection is aiohttp's protocol behind the guard."""
        await super().start()
        server = self._runner.server
        assert server is not None  # the runner was set up
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port
        )


def _source(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def _say(transport: asyncio.BaseTransport, reply: bytes) -> None:
    """Tell the client why its connection ends (a few bytes: never waits)."""
    if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
        transport.write(reply)
