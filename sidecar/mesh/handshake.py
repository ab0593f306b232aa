"""The signed-challenge handshake that opens a link between two members' nodes.

PROTOCOL.md section 14.2. The dialer says hello (building, author, nonce, time, roster
version); the listener answers with its own nonce and a proof over both; the dialer
proves in turn, and the listener says ready. Either side refuses a stranger, a forged
proof, a replayed hello or one from outside the clock window.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import aiohttp
from aiohttp import web

from sidecar.ledger.identity import Identity, KeyRing
from sidecar.mesh import peer_auth
from sidecar.mesh.link import (
    PeerRefused,
    Refused,
    encode_frame,
    hex_field,
    receive_json,
)
from sidecar.mesh.roster import Member, Roster

PROTOCOL_VERSION: Final = 3  # 3: a late preferred roster change replaces one in force
NONCES_KEPT: Final = 10_000  # hellos remembered, to refuse a replayed one


class Nonces:
    """The nonces of recent hellos, to refuse one that is replayed."""

    def __init__(self) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def fresh(self, nonce: bytes) -> bool:
        """Remember ``nonce``; False if it was seen before."""
        if nonce in self._seen:
            return False
        self._seen[nonce] = None
        if len(self._seen) > NONCES_KEPT:
            self._seen.popitem(last=False)
        return True


async def dial(
    ws: aiohttp.ClientWebSocketResponse,
    *,
    me: Identity,
    roster: Roster,
    member: Member,
    keys: KeyRing,
    now_ms: Callable[[], int],
) -> None:
    """The dialer's side; returns once the listener said ready."""
    nonce = peer_auth.new_nonce()
    await ws.send_str(
        encode_frame(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "building": roster.building,
                "author": me.author.hex(),
                "nonce": nonce.hex(),
                "ts": now_ms(),
                "roster": roster.version,
            }
        )
    )
    reply = await receive_json(ws)
    if reply.get("type") != "challenge":
        raise PeerRefused(reply)
    peer_nonce = hex_field(reply, "nonce", 32)
    proof = hex_field(reply, "proof", 64)
    if hex_field(reply, "author", 32) != member.author:
        raise Refused("forged", "the listener is not the member dialed")
    exchange = peer_auth.Exchange(
        roster.building, nonce, peer_nonce, me.author, member.author
    )
    if not peer_auth.check(keys, "listener", exchange, proof):
        raise Refused("forged", "the listener's proof does not verify")
    mine = peer_auth.prove(me, "dialer", exchange)
    await ws.send_str(encode_frame({"type": "auth", "proof": mine.hex()}))
    ready = await receive_json(ws)
    if ready.get("type") != "ready":
        raise PeerRefused(ready)


def check_hello(
    hello: dict[str, Any], building: str, now_ms: int, max_skew_ms: int
) -> None:
    """The listener's first checks of a hello, in order; raises :class:`Refused`.

    Its frame type and protocol (``malformed``), building (``wrong_building``) and
    time (``clock_window``: more than ``max_skew_ms`` from the listener's clock).
    """
    if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
        raise Refused("malformed", f"expected hello with protocol {PROTOCOL_VERSION}")
    if hello.get("building") != building:
        raise Refused("wrong_building", "another building's node")
    ts = hello.get("ts")
    if not isinstance(ts, int) or abs(ts - now_ms) > max_skew_ms:
        raise Refused("clock_window", "the hello's time is outside the clock window")


async def answer(
    ws: web.WebSocketResponse,
    *,
    me: Identity,
    roster_now: Callable[[], Roster],
    keys: KeyRing,
    now_ms: Callable[[], int],
    max_skew_ms: int,
    nonces: Nonces,
) -> Member:
    """The listener's side; the member that dialed, once it proved who it is."""
    hello = await receive_json(ws)
    roster = roster_now()
    check_hello(hello, roster.building, now_ms(), max_skew_ms)
    author = hex_field(hello, "author", 32)
    nonce = hex_field(hello, "nonce", 32)
    if not nonces.fresh(nonce):
        raise Refused("replayed", "this hello was seen before")
    member = roster.member(author)
    if member is None or author == me.author:
        raise Refused("non_member", f"{author.hex()[:16]}… is not in the roster")
    mine = peer_auth.new_nonce()
    exchange = peer_auth.Exchange(roster.building, nonce, mine, author, me.author)
    proof = peer_auth.prove(me, "listener", exchange)
    await ws.send_str(
        encode_frame(
            {
                "type": "challenge",
                "author": me.author.hex(),
                "nonce": mine.hex(),
                "proof": proof.hex(),
                "roster": roster.version,
            }
        )
    )
    auth = await receive_json(ws)
    if auth.get("type") != "auth":
        raise Refused("malformed", "expected auth")
    if not peer_auth.check(keys, "dialer", exchange, hex_field(auth, "proof", 64)):
        raise Refused("forged", "the dialer's proof does not verify")
    await ws.send_str(encode_frame({"type": "ready"}))
    return member
