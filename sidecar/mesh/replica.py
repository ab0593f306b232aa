"""Members' feeds as this node holds them: verify, chain, store, remember heads.

Every entry that arrives from the mesh passes through :meth:`Replica.accept`: building,
signature, clock window, and its place in its author's chain. What passes is queued to
the writer; what does not raises :class:`~sidecar.ledger.errors.InvalidData` with a
reason the mesh counts. Two validly signed entries with one author and seq are
equivocation: the second is kept as evidence, never stored in place of the first.
"""

from __future__ import annotations

import enum
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from sidecar.ledger import chain, etp, merkle
from sidecar.ledger.chain import Place
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import KeyRing
from sidecar.storage import store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer

RECENT: Final = 1024  # ids and roots remembered per author, for quick comparisons


class Outcome(enum.Enum):
    """What became of an accepted entry."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    GAP = "gap"
    HISTORY = "history"  # a kept entry of pruned history, stored without a chain
    ADOPTED = "adopted"  # an own entry this node had lost, taken back from a peer


class Equivocation(InvalidData):
    """An entry that conflicts with the one held for its author and seq."""

    def __init__(self, held: Entry, other: Entry) -> None:
        super().__init__(
            "equivocation",
            f"author {held.author.hex()[:16]}… signed two entries with seq {held.seq}",
        )
        self.held = held
        self.other = other


@dataclass(slots=True)
class Head:
    """An author's feed as held here."""

    number: int
    seq: int = 0
    id: bytes = etp.ZERO_ID
    ts: int = 0
    pruned: int = 0
    tree: merkle.Frontier = field(default_factory=merkle.Frontier)
    ids: OrderedDict[int, bytes] = field(default_factory=OrderedDict)
    roots: OrderedDict[int, bytes] = field(default_factory=OrderedDict)

    def tip(self) -> chain.Tip:
        """The end of the feed, for the chain rule.

        Right at a pruned frontier this node holds no id to link the next entry to.
        """
        at_frontier = self.seq == self.pruned and self.seq
        return chain.Tip(
            self.seq, None if at_frontier else self.id, self.ts, self.pruned
        )

    def advance(self, entry: Entry) -> None:
        """Take ``entry`` as the new head."""
        self.seq, self.id, self.ts = entry.seq, entry.id, entry.ts
        self.tree.append(merkle.leaf_hash(entry.id))
        _remember(self.ids, entry.seq, entry.id)
        _remember(self.roots, entry.seq, self.tree.root())


class Replica:
    """The feeds of every author this node holds, its own included."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        writer: Writer,
        building: str,
        keys: KeyRing,
        max_skew_ms: int,
    ) -> None:
        self.conn = conn
        self.writer = writer
        self.building = building
        self.keys = keys
        self.max_skew_ms = max_skew_ms
        self.heads: dict[bytes, Head] = {}
        # The node's own feed: its head here moves only once an entry is durable, but
        # an own entry coming back from a peer is placed against what is signed.
        self.own: Feed | None = None
        # History entries queued but perhaps not yet committed, by (author, seq):
        # a frame may carry one twice, and the database cannot tell yet.
        self._history_queued: dict[tuple[bytes, int], int] = {}

    def load(self, author: bytes, number: int) -> Head:
        """Read an author's head and Merkle frontier from the database."""
        pruned = store.pruned(self.conn, number).frontier
        head = Head(number, seq=pruned.size, pruned=pruned.size, tree=pruned.copy())
        for seq, _kind, eid, _prev, _refs, body, sig in store.iter_entries(
            self.conn, number, pruned.size
        ):
            head.tree.append(merkle.leaf_hash(bytes(eid)))
            head.seq, head.id = seq, bytes(eid)
            _remember(head.ids, seq, head.id)
            del body, sig
        if head.seq > pruned.size:
            last = store.last_entry(self.conn, number)
            assert last is not None
            head.ts = store.load_entry(author, last).ts
            head.roots[head.seq] = head.tree.root()
        self.heads[author] = head
        return head

    def admit(self, keys: list[bytes]) -> None:
        """Hold the feeds of members with these keys, registering the new ones."""
        numbers = self.writer.call(partial(store.add_authors, keys=keys)).result()
        for key, number in zip(keys, numbers, strict=True):
            author = self.keys.add(key)
            if author not in self.heads:
                self.load(author, number)

    def vector(self) -> dict[str, tuple[int, str]]:
        """``{author: (seq, head id)}`` for every author held (anti-entropy)."""
        return {
            author.hex(): (head.seq, head.id.hex())
            for author, head in self.heads.items()
        }

    def root_at(self, author: bytes, size: int) -> bytes | None:
        """The root of an author's tree at ``size`` if it is still remembered."""
        head = self.heads.get(author)
        return None if head is None else head.roots.get(size)

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        """The id of an author's entry ``seq`` (recent ones from memory)."""
        head = self.heads.get(author)
        if head is None:
            return None
        if (found := head.ids.get(seq)) is not None:
            return found
        return store.entry_id(self.conn, head.number, seq)

    def held(self, author: bytes, seq: int) -> Entry | None:
        """A stored entry, read back from the database."""
        head = self.heads.get(author)
        if head is None:
            return None
        row = store.entry_at(self.conn, head.number, seq)
        return None if row is None else store.load_entry(author, row)

    def check(self, item: Entry | etp.Statement, now_ms: int) -> None:
        """Building, clock window and signature of anything a peer sends."""
        if item.content["building"] != self.building:
            raise InvalidData(
                "wrong_building", "signed for another building (replayed?)"
            )
        ts = item.content["ts"]
        assert isinstance(ts, int)
        if ts > now_ms + self.max_skew_ms:
            raise InvalidData(
                "clock_skew", f"made {ts - now_ms} ms in the future of this clock"
            )
        try:
            etp.check_signature(item, self.keys)
        except etp.EtpError as err:
            reason = "non_member" if err.reason == "unknown_author" else "forged"
            raise InvalidData(reason, err.detail) from err

    def accept(self, entry: Entry, now_ms: int) -> tuple[Outcome, int]:
        """Verify and queue one entry; returns the outcome and the writer's ticket.

        The chain rule places it (:func:`sidecar.ledger.chain.place`); the entry is
        checked only where the outcome depends on it being genuine.
        """
        head = self.heads.get(entry.author)
        if head is None:
            raise InvalidData("non_member", f"{entry.author.hex()[:16]}… is unknown")
        if self.writer.fault is not None:
            # Not taken while the disk cannot be written; anti-entropy brings it again.
            raise InvalidData(self.writer.fault, "this node cannot store it now")
        own = self.own
        is_own = own is not None and entry.author == own.identity.author
        tip = head.tip()
        if is_own:
            assert own is not None
            tip = chain.Tip(own.seq, own.head, own.last_ts, head.pruned)
        place = chain.place(
            tip,
            entry,
            lambda seq: self.id_at(entry.author, seq),
            lambda item: self.check(item, now_ms),
            keep_folded_history=False,
        )
        if place is Place.NEXT and is_own:
            assert own is not None
            # A peer holds an own entry this node lost: take it back, never fork.
            return Outcome.ADOPTED, own.adopt(entry)
        if place is Place.NEXT:
            ticket = self.writer.add_entry(head.number, entry)
            head.advance(entry)
            return Outcome.STORED, ticket
        if place is Place.GAP:
            return Outcome.GAP, 0
        if place is Place.DUPLICATE:
            return Outcome.DUPLICATE, 0
        held = self.held(entry.author, entry.seq)
        if place is Place.HISTORY:
            key = (entry.author, entry.seq)
            if held is not None or key in self._history_queued:
                return Outcome.DUPLICATE, 0
            # Nothing below the frontier to chain to; a verifier checks it against
            # the rollups, as for an imported feed.
            ticket = self.writer.add_entry(head.number, entry)
            self._remember_history(key, ticket)
            return Outcome.HISTORY, ticket
        if held is None:  # still in the writer's queue: it is the head's chain
            return Outcome.DUPLICATE, 0
        self.writer.add_conflict(head.number, entry)
        raise Equivocation(held, entry)

    def _remember_history(self, key: tuple[bytes, int], ticket: int) -> None:
        queued = self._history_queued
        if len(queued) >= RECENT:
            # Committed ones are in the database now, where ``held`` finds them.
            committed = self.writer.committed
            for old in [k for k, t in queued.items() if t <= committed]:
                del queued[old]
        queued[key] = ticket

    def pruned_frontier(self, author: bytes) -> merkle.Frontier:
        """How far this node has pruned an author's feed (empty if not at all)."""
        head = self.heads.get(author)
        if head is None:
            return merkle.Frontier()
        return store.pruned(self.conn, head.number).frontier

    def adopt_frontier(
        self, author: bytes, frontier: merkle.Frontier, anchor: Entry, now_ms: int
    ) -> bool:
        """Start an author's feed at a peer's pruned frontier; False if not needed.

        ``anchor`` is the author's level-1 rollup right after the frontier: it signs
        the root of the tree at the frontier's size, so a peer cannot hand over a
        made-up past. What this node held below the frontier stays as it is.
        """
        head = self.heads.get(author)
        if head is None:
            raise InvalidData("non_member", f"{author.hex()[:16]}… is unknown")
        if head.seq >= frontier.size:
            return False
        if anchor.author != author or anchor.seq != frontier.size + 1:
            raise InvalidData(
                "malformed", "the anchor is not the entry after the frontier"
            )
        self.check(anchor, now_ms)
        problem = chain.anchor_problem(frontier, anchor)
        if problem is not None:
            raise InvalidData("bad_frontier", problem)
        number, size, stored = head.number, frontier.size, frontier.copy()
        self.writer.call(lambda conn: store.adopt_frontier(conn, number, stored))
        head.seq = head.pruned = size
        head.id = anchor.prev
        head.tree = frontier.copy()
        head.ids.clear()
        head.roots.clear()
        head.roots[size] = frontier.root()
        return True

    def evidence(self, first: Entry, second: Entry, now_ms: int) -> bool:
        """Check a reported equivocation pair; True if it is new proof.

        Both must be validly signed by one author for one seq and differ. The one that
        is not the entry held here is kept as evidence.
        """
        if first.author != second.author or first.seq != second.seq:
            raise InvalidData("malformed", "evidence is two entries of one author/seq")
        if first.id == second.id:
            raise InvalidData("malformed", "the two entries of evidence are the same")
        self.check(first, now_ms)
        self.check(second, now_ms)
        head = self.heads[first.author]
        held = self.id_at(first.author, first.seq)
        is_new = False
        for entry in (first, second):
            if entry.id != held:
                self.writer.add_conflict(head.number, entry)
                is_new = True
        return is_new

    def read_after(
        self, author: bytes, after: int, limit: int
    ) -> list[tuple[int, str, bytes, bytes, bytes, bytes, bytes]]:
        """Up to ``limit`` stored rows of an author after ``after`` (for a fetch)."""
        head = self.heads.get(author)
        if head is None:
            return []
        rows = store.iter_entries(self.conn, head.number, after, limit=limit)
        return [
            (int(r[0]), str(r[1]), *(bytes(value) for value in r[2:]))  # type: ignore[misc]
            for r in rows
        ]


def _remember(cache: OrderedDict[int, bytes], seq: int, value: bytes) -> None:
    cache[seq] = value
    if len(cache) > RECENT:
        cache.popitem(last=False)
