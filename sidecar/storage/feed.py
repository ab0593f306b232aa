"""The node's own feed: seq, prev, signatures, Merkle frontier, rollups, checkpoints.

Rollups are appended at period boundaries. All methods run on one thread (the event
loop); each append returns the writer's ticket, which is durable once the writer's
committed watermark reaches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sidecar.ledger import canonical, etp, kinds, merkle, rollup
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import Identity
from sidecar.ledger.kinds import periods
from sidecar.storage import store
from sidecar.storage.writer import Writer

_ROLLUP_KEYS = {level: f"rollup_{level}" for level in kinds.ROLLUP_LEVELS}


class FeedStateError(Exception):
    """The database does not hold a consistent feed for this node; run ``verify``."""


@dataclass(slots=True)
class _LastRollup:
    seq: int
    id: bytes
    end: int


class Feed:
    """Appends to this node's feed."""

    def __init__(
        self,
        identity: Identity,
        building: str,
        writer: Writer,
        author_no: int,
        tz: str = periods.UTC_NAME,
    ) -> None:
        self.identity = identity
        self.tz = tz
        self.building = building
        self.writer = writer
        self.author_no = author_no
        self.seq = 0
        self.head = etp.ZERO_ID
        self.last_ts = 0
        self.tree = merkle.Frontier()
        self.accumulators = {
            level: rollup.Accumulator(level, tz) for level in kinds.ROLLUP_LEVELS
        }
        self.last_rollups: dict[int, _LastRollup] = {}
        self.last_flow: JsonObject | None = None
        self.checkpoint_size = 0
        self._next_roll: int | None = None
        # Told of every new entry and its ticket, in order, as it is queued (the
        # durability gate, which passes it on once it is committed).
        self.listeners: list[Callable[[Entry, int], None]] = []

    @classmethod
    def load(
        cls,
        conn: sqlite3.Connection,
        identity: Identity,
        building: str,
        writer: Writer,
        author_no: int,
        *,
        tz: str = periods.UTC_NAME,
    ) -> Feed:
        """Rebuild the feed's state from the database after a start or a crash.

        ``tz`` is the building's time zone, whose hours, days and months rollups sum.
        """
        feed = cls(identity, building, writer, author_no, tz)
        author = identity.author
        feed.tree = store.pruned(conn, author_no).frontier
        for seq, _kind, eid, *_ in store.iter_entries(conn, author_no, feed.tree.size):
            if seq != feed.tree.size + 1:
                raise FeedStateError(
                    f"entry {feed.tree.size + 1} of this node's feed is missing"
                )
            feed.tree.append(merkle.leaf_hash(eid))
        last = store.last_entry(conn, author_no)
        if last is not None:
            entry = store.load_entry(author, last)
            feed.seq, feed.head, feed.last_ts = entry.seq, entry.id, entry.ts
        if feed.seq != feed.tree.size:
            raise FeedStateError(
                f"the feed ends at seq {feed.seq} but its tree has "
                f"{feed.tree.size} leaves"
            )
        for level in kinds.ROLLUP_LEVELS:
            found = store.last_entry(conn, author_no, f"rollup_{level}")
            after = 0
            if found is not None:
                entry = store.load_entry(author, found)
                end = entry.content["end"]
                assert isinstance(end, int)
                feed.last_rollups[level] = _LastRollup(entry.seq, entry.id, end)
                feed.accumulators[level] = rollup.Accumulator(level, tz, end)
                after = entry.seq
            # Level 1 needs its flows; higher levels only the rollups below them.
            accumulator = feed.accumulators[level]
            rows = store.iter_entries(conn, author_no, after, skip_flows=level > 1)
            for row in rows:
                entry = store.load_entry(author, (row[0], *row[3:]))
                accumulator.add(entry.key, entry.content)
        feed._next_roll = _next_roll(feed.accumulators)
        found_flow = store.last_entry(conn, author_no, kinds.FLOW)
        if found_flow is not None:
            feed.last_flow = store.load_entry(author, found_flow).content
        feed.checkpoint_size = store.checkpoint_size(conn, author_no)
        return feed

    def append(
        self,
        kind: str,
        content: JsonObject,
        now_ms: int,
        refs: tuple[bytes, ...] = (),
    ) -> tuple[Entry, int]:
        """Sign ``content`` as the next entry (after any rollup that is due)."""
        if self._next_roll is not None and now_ms >= self._next_roll:
            self.roll(now_ms)
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kind,
            "building": self.building,
            "ts": max(now_ms, self.last_ts),
        }
        body.update(content)
        return self._append_body(body, refs)

    def roll(self, now_ms: int) -> list[int]:
        """Append the rollups whose period has ended; lower levels first."""
        tickets: list[int] = []
        for level in sorted(self.accumulators):
            accumulator = self.accumulators[level]
            due_at = accumulator.due_at()
            if due_at is None or now_ms < due_at:
                continue
            previous = self.last_rollups.get(level)
            body = accumulator.body(
                building=self.building,
                ts=max(now_ms, self.last_ts),
                seq=self.seq + 1,
                first=1 if previous is None else previous.seq + 1,
                start=None if previous is None else previous.end,
                root=self.tree.root(),
                now_ms=now_ms,
            )
            refs = () if previous is None else (previous.id,)
            tickets.append(self._append_body(body, refs)[1])
        return tickets

    def checkpoint(self, now_ms: int) -> tuple[Statement, int]:
        """Sign the current tree head."""
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kinds.CHECKPOINT,
            "building": self.building,
            "ts": now_ms,
            "size": self.seq,
            "root": self.tree.root().hex(),
        }
        statement = etp.make_statement(self.identity, body)
        self.checkpoint_size = self.seq
        return statement, self.writer.add_statement(
            self.author_no, self.author_no, statement
        )

    def _append_body(
        self, body: JsonObject, refs: tuple[bytes, ...]
    ) -> tuple[Entry, int]:
        entry = etp.make_entry(self.identity, self.seq + 1, self.head, refs, body)
        if len(entry.body) > canonical.MAX_BODY_BYTES:
            # Every peer would refuse it, and the feed would stop replicating.
            raise canonical.CanonicalError(
                "too_large",
                f"a {body['kind']} body of {len(entry.body)} bytes is over "
                f"{canonical.MAX_BODY_BYTES}",
            )
        return entry, self._took(entry, self.writer.add_entry(self.author_no, entry))

    def adopt(self, entry: Entry) -> int:
        """Take a validly signed own entry that follows the head (a peer's copy).

        A node whose store lost entries it had published (a restore from a backup, a
        disk that dropped its last writes) gets them back from its peers: it stores
        them as its own and continues after them, never signing those seqs again.
        The caller has checked the signature and the link to the head.
        """
        if entry.author != self.identity.author or entry.seq != self.seq + 1:
            raise FeedStateError(f"entry {entry.seq} does not follow seq {self.seq}")
        return self._took(entry, self.writer.add_entry(self.author_no, entry))

    def _took(self, entry: Entry, ticket: int) -> int:
        """Bring the feed's state up to ``entry``, queued with ``ticket``."""
        body = entry.content
        self.seq = entry.seq
        self.head = entry.id
        self.last_ts = max(self.last_ts, cast(int, body["ts"]))
        self.tree.append(merkle.leaf_hash(entry.id))
        for listener in self.listeners:
            listener(entry, ticket)
        if body["kind"] == kinds.FLOW:
            # The hot path, once per interval: only level 1 sums flows directly.
            self.last_flow = body
            if self.accumulators[1].add(kinds.FLOW, body):
                self._next_roll = _next_roll(self.accumulators)
            return ticket
        key = entry.key
        rolled = False  # whether any accumulator's due time changed
        for level, accumulator in self.accumulators.items():
            if key == _ROLLUP_KEYS[level]:
                end = body["end"]
                assert isinstance(end, int)
                self.last_rollups[level] = _LastRollup(entry.seq, entry.id, end)
                self.accumulators[level] = rollup.Accumulator(level, self.tz, end)
                rolled = True
            elif accumulator.add(key, body):
                rolled = True  # a range opened: its boundary is now due at some time
        if rolled:
            self._next_roll = _next_roll(self.accumulators)
        return ticket


def _next_roll(accumulators: dict[int, rollup.Accumulator]) -> int | None:
    """The earliest time a rollup becomes due.

    It only changes when a range opens or a rollup is written, so appends need not
    recompute it.
    """
    return min(
        (at for acc in accumulators.values() if (at := acc.due_at()) is not None),
        default=None,
    )
