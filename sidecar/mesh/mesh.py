"""Peer links between the building's sidecars: authenticate, push, catch up, gossip.

One WebSocket per pair of members (the member with the smaller author id dials).
After the signed-challenge handshake (:mod:`.handshake`) both sides exchange vectors of
``{author: [seq, head id]}``; whoever is behind fetches in batches. New entries are
pushed as they are made. Every frame is size- and rate-limited, and anything refused is
counted by reason; a misbehaving peer never stops the node. PROTOCOL.md section 14.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from typing import Any, Final

import aiohttp
from aiohttp import WSMsgType, web

from sidecar.ledger import bounds, etp, merkle
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry, Statement
from sidecar.mesh import antientropy, guard, handshake
from sidecar.mesh.host import MeshHost
from sidecar.mesh.link import (
    HANDSHAKE_TIMEOUT_S,
    Bucket,
    Limits,
    Link,
    PeerRefused,
    counted_reason,
    encode_frame,
    hex_value,
)
from sidecar.mesh.replica import Equivocation, Outcome
from sidecar.mesh.roster import Member
from sidecar.storage import store

_LOGGER = logging.getLogger(__name__)
PATH: Final = "/api/v1/mesh"
# A busy peer may not answer a ping at once; vectors every few seconds show it lives.
HEARTBEAT_S: Final = 20.0
VECTOR_EVERY_S: Final = 5.0  # pushes carry the news; vectors repair and expose forks
FETCH_LIMIT: Final = 500
FETCH_TIMEOUT_S: Final = 5.0
GAP_BUFFER: Final = 4096  # early entries kept per author while the gap is fetched
BACKOFF_MIN_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0
NOT_YET_MEMBER_RETRY_S: Final = 2.0
LATENCIES_KEPT: Final = 20_000
CLOSE_REFUSED: Final = 4003
CLOSE_TIMEOUT_S: Final = 1.0


class Mesh:
    """The node's links to the other members."""

    def __init__(
        self,
        host: MeshHost,
        limits: Limits,
        dial_overrides: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.limits = limits
        self.dial_overrides = dict(dial_overrides or {})
        self.links: dict[bytes, Link] = {}
        self.latencies: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.counters: Counter[str] = Counter()
        self._outgoing: list[dict[str, Any]] = []
        self._flush_scheduled = False
        self._fetching: dict[bytes, tuple[bytes, float]] = {}
        self._early: dict[bytes, dict[int, Entry]] = {}
        self._dialers: dict[bytes, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._seen_evidence: set[tuple[bytes, int]] = set()
        self._closing: set[asyncio.Task[bool]] = set()
        self._nonces = handshake.Nonces()

    # -- life cycle --------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the peer endpoint."""
        app.router.add_get(PATH, self._accept)

    async def start(self) -> None:
        """Start dialing peers and the anti-entropy loop."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=HANDSHAKE_TIMEOUT_S)
        )
        self._tasks.append(asyncio.create_task(self._anti_entropy()))
        self.roster_changed()

    async def stop(self) -> None:
        """Close every link and stop dialing."""
        tasks = [*self._tasks, *self._dialers.values()]
        for task in tasks:
            task.cancel()
        # All at once, and briefly: a frozen or departed peer never answers a close.
        closing = [
            asyncio.wait_for(link.ws.close(), CLOSE_TIMEOUT_S)
            for link in list(self.links.values())
        ]
        await asyncio.gather(*closing, return_exceptions=True)
        if tasks:
            await asyncio.wait(tasks)
        if self._session is not None:
            await self._session.close()

    def roster_changed(self) -> None:
        """Dial members we should dial; drop links to members no longer listed."""
        roster = self.host.roster()
        me = self.host.identity.author
        members = {member.author: member for member in roster.members}
        for author, task in list(self._dialers.items()):
            if author not in members:
                task.cancel()
                del self._dialers[author]
        for author, link in list(self.links.items()):
            if author not in members:
                closing = asyncio.create_task(link.ws.close(code=CLOSE_REFUSED))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        for author, member in members.items():
            if author > me and author not in self._dialers:
                self._dialers[author] = asyncio.create_task(self._dial_forever(member))

    # -- what the node tells the mesh --------------------------------------------------

    def publish(self, entry: Entry) -> None:
        """Push one of this node's new entries to every peer (batched per loop turn)."""
        self._outgoing.append(etp.entry_to_wire(entry))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def broadcast_statement(self, statement: Statement) -> None:
        """Send a checkpoint to every peer."""
        self._broadcast(
            encode_frame(
                {"type": "statements", "items": [etp.statement_to_wire(statement)]}
            )
        )

    def send_statement(self, author: bytes, statement: Statement) -> None:
        """Send a statement (a cosignature) to one peer, if linked."""
        link = self.links.get(author)
        if link is not None:
            link.send(
                encode_frame(
                    {"type": "statements", "items": [etp.statement_to_wire(statement)]}
                )
            )

    def gossip_evidence(self, held: Entry, other: Entry) -> None:
        """Tell every peer about an equivocation (once per author and seq)."""
        key = (held.author, held.seq)
        if key in self._seen_evidence:
            return
        self._seen_evidence.add(key)
        self._broadcast(
            encode_frame(
                {
                    "type": "evidence",
                    "entries": [etp.entry_to_wire(held), etp.entry_to_wire(other)],
                }
            )
        )

    def online(self) -> set[bytes]:
        """Authors of the peers linked now."""
        return set(self.links)

    # -- sending -----------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._outgoing:
            return
        entries, self._outgoing = self._outgoing, []
        self._broadcast(encode_frame({"type": "entries", "entries": entries}))

    def _broadcast(self, frame: str) -> None:
        for link in self.links.values():
            link.send(frame)

    # -- linking -----------------------------------------------------------------------

    async def _dial_forever(self, member: Member) -> None:
        delay = BACKOFF_MIN_S
        while True:
            started = time.monotonic()
            try:
                await self._dial_once(member)
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                _LOGGER.debug("Link to flat %s: %s", member.flat, err)
            except PeerRefused as err:
                self.counters[f"refused_by_peer_{err.reason}"] += 1
                _LOGGER.warning(
                    "Flat %s refused the link: %s (%s)", member.flat, err.reason, err
                )
                if err.reason == "non_member":
                    # It has not switched to our roster yet; it will at a set time.
                    delay = min(delay, NOT_YET_MEMBER_RETRY_S)
            except (InvalidData, ValueError) as err:
                reason = err.reason if isinstance(err, InvalidData) else "malformed"
                self.host.count_rejection(reason)
                _LOGGER.warning("Link to flat %s failed: %s", member.flat, err)
            if time.monotonic() - started > 10 * BACKOFF_MIN_S:
                delay = BACKOFF_MIN_S  # the link lived: a fresh problem, a fresh start
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(BACKOFF_MAX_S, delay * 2)

    async def _dial_once(self, member: Member) -> None:
        assert self._session is not None
        address = self.dial_overrides.get(member.flat, member.address)
        roster = self.host.roster()
        async with self._session.ws_connect(
            f"http://{address}{PATH}",
            heartbeat=HEARTBEAT_S,
            max_msg_size=self.limits.max_frame_bytes,
        ) as ws:
            await handshake.dial(
                ws,
                me=self.host.identity,
                roster=roster,
                member=member,
                keys=self.host.replica.keys,
                now_ms=self.host.now_ms,
            )
            await self._serve_link(Link(member, ws))

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_S, max_msg_size=self.limits.max_frame_bytes
        )
        await ws.prepare(request)
        try:
            member = await asyncio.wait_for(
                handshake.answer(
                    ws,
                    me=self.host.identity,
                    roster_now=self.host.roster,
                    keys=self.host.replica.keys,
                    now_ms=self.host.now_ms,
                    max_skew_ms=self.limits.max_skew_ms,
                    nonces=self._nonces,
                ),
                HANDSHAKE_TIMEOUT_S,
            )
        except (TimeoutError, InvalidData, ValueError) as err:
            reason = err.reason if isinstance(err, InvalidData) else "malformed"
            if isinstance(err, TimeoutError):
                reason = "handshake_timeout"
            self.host.count_rejection(reason)
            detail = err.detail if isinstance(err, InvalidData) else str(err)
            _LOGGER.info("Refused a peer from %s: %s", request.remote, reason)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(
                    encode_frame(
                        {"type": "refused", "reason": reason, "detail": detail}
                    )
                )
            await ws.close(code=CLOSE_REFUSED)
            return ws
        guard.trust(request)  # a member: no longer timed out or capped
        await self._serve_link(Link(member, ws))
        return ws

    async def _serve_link(self, link: Link) -> None:
        author = link.peer.author
        previous = self.links.get(author)
        if previous is not None:
            await previous.ws.close()
        self.links[author] = link
        _LOGGER.info("Linked with flat %s", link.peer.flat)
        self.host.links_changed()
        pump = asyncio.create_task(link.pump())
        bucket = Bucket(self.limits.frames_per_s, self.limits.burst, self.limits.burst)
        link.send(self._vector_frame())
        try:
            async for message in link.ws:
                if message.type is WSMsgType.ERROR:
                    # aiohttp closes the connection (1009) on an oversized frame.
                    too_big = getattr(message.data, "code", None) == 1009
                    self.host.count_rejection("oversized" if too_big else "malformed")
                    continue
                if message.type is not WSMsgType.TEXT:
                    self.host.count_rejection("malformed")
                    continue
                if not bucket.take():
                    self.host.count_rejection("rate_limited")
                    continue
                self._frame_in(link, message.data)
        finally:
            pump.cancel()
            # Not ``await pump`` under suppress(CancelledError): that would also
            # swallow a cancellation of this task (a stop) arriving meanwhile.
            await asyncio.wait([pump])
            if self.links.get(author) is link:
                del self.links[author]
                _LOGGER.info("Lost the link with flat %s", link.peer.flat)
                self.host.links_changed()

    # -- receiving ---------------------------------------------------------------------

    def _frame_in(self, link: Link, text: str) -> None:
        try:
            message = bounds.loads(text)
            if not isinstance(message, dict):
                raise InvalidData("malformed", "a frame is a JSON object")
            kind = message.get("type")
            if kind == "entries":
                self._entries(link, message)
            elif kind == "vector":
                self._vector(link, message)
            elif kind == "fetch":
                self._fetch(link, message)
            elif kind == "frontier":
                self._frontier(link, message)
            elif kind == "statements":
                self._statements(link, message)
            elif kind == "evidence":
                self._evidence(message)
            else:
                raise InvalidData("malformed", f"unknown frame type {kind!r}")
        except InvalidData as err:
            self.host.count_rejection(counted_reason(err))
        except ValueError:
            self.host.count_rejection("malformed")
        except Exception:
            # A last line: a frame that breaks a handler is refused and counted, and
            # the link stays up, rather than the member's link dropping unexplained.
            self.host.count_rejection("internal_error")
            _LOGGER.exception("A frame from flat %s could not be used", link.peer.flat)

    def _entries(self, link: Link, message: dict[str, Any]) -> None:
        items = message.get("entries")
        if not isinstance(items, list):
            raise InvalidData("malformed", "entries is a list")
        pushed = message.get("catchup") != 1
        now = self.host.now_ms()
        stored: list[Entry] = []
        ticket = 0
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise InvalidData("malformed", "an entry is an object")
                if antientropy.held_already(self.host.replica.heads, item):
                    self.counters["duplicate"] += 1
                    continue
                entry = etp.entry_from_wire(item)
                ticket = self._take(link, entry, now, stored) or ticket
            except Equivocation as err:
                self.host.count_rejection("equivocation")
                self.host.equivocation(err.held, err.other)
            except InvalidData as err:
                self.host.count_rejection(counted_reason(err))
        if stored or ticket:
            # History entries are queued without being stored as the head: they
            # are committed too, not left waiting for the next write.
            self.host.stored(stored, ticket, pushed)
        if not pushed:
            # A fetch was answered: ask for the next batch at once while behind.
            batch = Counter(entry.author for entry in stored)
            for author, count in batch.items():
                self._fetching.pop(author, None)
                if count >= FETCH_LIMIT:
                    self._request(link, author)

    def _take(self, link: Link, entry: Entry, now: int, stored: list[Entry]) -> int:
        outcome, ticket = self.host.replica.accept(entry, now)
        if outcome is Outcome.DUPLICATE:
            self.counters["duplicate"] += 1
            return 0
        if outcome is Outcome.HISTORY:
            self.counters["history"] += 1
            return ticket
        if outcome is Outcome.ADOPTED:
            # The gate tells the node's parts of it once it is durable again.
            self.counters["adopted"] += 1
            _LOGGER.warning(
                "Took back own entry %d from flat %s: this store had lost it",
                entry.seq,
                link.peer.flat,
            )
            return ticket
        if outcome is Outcome.GAP:
            early = self._early.setdefault(entry.author, {})
            if len(early) < GAP_BUFFER:
                early[entry.seq] = entry
            self._request(link, entry.author)
            return 0
        stored.append(entry)
        # Entries that arrived early can follow now.
        early = self._early.get(entry.author) or {}
        while early:
            following = early.pop(entry.seq + 1, None)
            if following is None:
                break
            outcome, next_ticket = self.host.replica.accept(following, now)
            if outcome is not Outcome.STORED:
                break
            stored.append(following)
            entry, ticket = following, next_ticket
        if not early:
            self._early.pop(entry.author, None)
        return ticket

    def _request(self, link: Link, author: bytes) -> None:
        pending = self._fetching.get(author)
        now = time.monotonic()
        if pending is not None and pending[1] > now:
            return
        head = self.host.replica.heads[author]
        self._fetching[author] = (link.peer.author, now + FETCH_TIMEOUT_S)
        link.send(
            encode_frame(
                {
                    "type": "fetch",
                    "author": author.hex(),
                    "after": head.seq,
                    "limit": FETCH_LIMIT,
                }
            )
        )

    def _vector(self, link: Link, message: dict[str, Any]) -> None:
        heads = message.get("heads")
        if not isinstance(heads, dict):
            raise InvalidData("malformed", "heads is an object")
        replica = self.host.replica
        news = dict(antientropy.differing(heads, replica.vector()))
        same = heads.keys() - news.keys()
        for author in [a for a in self._fetching if a.hex() in same]:
            del self._fetching[author]  # the peer holds just what this node holds
        for author_hex, value in news.items():
            author = hex_value(author_hex, 32)
            head = replica.heads.get(author)
            if head is None or not isinstance(value, list) or len(value) != 2:
                continue
            seq = bounds.position(value[0], "a head's seq")
            their_id = hex_value(value[1], 32)
            if seq > head.seq:
                self._request(link, author)
            elif seq > 0 and replica.id_at(author, seq) not in (None, their_id):
                # Same position, different entry: swap versions, so both see the fork.
                held = replica.held(author, seq)
                if held is not None:
                    link.send(
                        encode_frame(
                            {
                                "type": "entries",
                                "catchup": 1,
                                "entries": [etp.entry_to_wire(held)],
                            }
                        )
                    )
                link.send(
                    encode_frame(
                        {
                            "type": "fetch",
                            "author": author.hex(),
                            "after": seq - 1,
                            "limit": 1,
                        }
                    )
                )
            if author in self._fetching and head.seq >= seq:
                self._fetching.pop(author, None)

    def _fetch(self, link: Link, message: dict[str, Any]) -> None:
        author = hex_value(message.get("author"), 32)
        after = bounds.position(message.get("after"), "after")
        limit = bounds.position(message.get("limit"), "limit", low=1)
        replica = self.host.replica
        frontier = replica.pruned_frontier(author)
        anchor = (
            replica.held(author, frontier.size + 1) if after < frontier.size else None
        )
        if anchor is not None:
            # The asker lacks history this node has pruned: hand over the frontier
            # with the rollup that anchors it, then all that is kept below it.
            link.send(
                encode_frame(
                    {
                        "type": "frontier",
                        "author": author.hex(),
                        "size": frontier.size,
                        "nodes": [node.hex() for node in frontier.nodes],
                        "anchor": etp.entry_to_wire(anchor),
                    }
                )
            )
            while after < frontier.size:
                kept = [
                    row
                    for row in replica.read_after(author, after, FETCH_LIMIT)
                    if row[0] <= frontier.size
                ]
                if not kept:
                    break
                self._serve(link, author, kept)
                after = kept[-1][0]
            after = frontier.size
        rows = replica.read_after(author, after, min(limit, FETCH_LIMIT))
        self._serve(link, author, rows)

    def _serve(
        self,
        link: Link,
        author: bytes,
        rows: list[tuple[int, str, bytes, bytes, bytes, bytes, bytes]],
    ) -> None:
        entries = [
            etp.entry_to_wire(
                etp.open_entry(author, seq, prev, store.split_refs(refs), body, sig)
            )
            for seq, _kind, _eid, prev, refs, body, sig in rows
        ]
        link.send(encode_frame({"type": "entries", "catchup": 1, "entries": entries}))
        self.counters["served"] += len(entries)

    def _frontier(self, link: Link, message: dict[str, Any]) -> None:
        author = hex_value(message.get("author"), 32)
        size, nodes, anchor = (
            message.get("size"),
            message.get("nodes"),
            message.get("anchor"),
        )
        size = bounds.position(size, "size", low=1)
        if not isinstance(nodes, list) or not isinstance(anchor, dict):
            raise InvalidData("malformed", "a frontier has size, nodes and anchor")
        frontier = merkle.Frontier(size, [hex_value(node, 32) for node in nodes])
        entry = etp.entry_from_wire(anchor)
        now = self.host.now_ms()
        if not self.host.replica.adopt_frontier(author, frontier, entry, now):
            self.counters["duplicate"] += 1
            return
        self.counters["frontiers_adopted"] += 1
        stored: list[Entry] = []
        ticket = self._take(link, entry, now, stored)
        if stored:
            self.host.stored(stored, ticket, False)

    def _statements(self, link: Link, message: dict[str, Any]) -> None:
        items = message.get("items")
        if not isinstance(items, list):
            raise InvalidData("malformed", "items is a list")
        now = self.host.now_ms()
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise InvalidData("malformed", "a statement is an object")
                statement = etp.statement_from_wire(item)
                self.host.replica.check(statement, now)
                self.host.statement(statement, link.peer.author)
            except InvalidData as err:
                self.host.count_rejection(counted_reason(err))

    def _evidence(self, message: dict[str, Any]) -> None:
        items = message.get("entries")
        if not isinstance(items, list) or len(items) != 2:
            raise InvalidData("malformed", "evidence is two entries")
        first, second = (
            etp.entry_from_wire(item) for item in items if isinstance(item, dict)
        )
        if self.host.replica.evidence(first, second, self.host.now_ms()):
            held = self.host.replica.held(first.author, first.seq)
            other = second if held is not None and held.id == first.id else first
            self.host.equivocation(held or first, other)

    # -- anti-entropy ------------------------------------------------------------------

    def _vector_frame(self) -> str:
        return encode_frame({"type": "vector", "heads": self.host.replica.vector()})

    async def _anti_entropy(self) -> None:
        while True:
            await asyncio.sleep(VECTOR_EVERY_S * random.uniform(0.8, 1.2))
            if self.links:
                frame = self._vector_frame()
                for link in antientropy.round_peers(list(self.links.values())):
                    link.send(frame)
            now = time.monotonic()
            for author, (_peer, deadline) in list(self._fetching.items()):
                if deadline < now:
                    del self._fetching[author]

    def note_latency(self, entries: list[Entry]) -> None:
        """Record how long pushed entries took from signing to durable here."""
        now = self.host.now_ms()
        self.latencies.extend(float(now - entry.ts) for entry in entries)
