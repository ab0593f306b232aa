"""Taking in ledger data from elsewhere (exchange-format lines): verify, then store.

Used by ``python -m sidecar import``. Every line is checked on its own — signature,
body, building — and placed in its author's chain by the rule entries from other flats
also pass (:mod:`sidecar.ledger.chain`); a bad line is refused with a reason, never
stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.ledger import chain, etp, kinds, merkle
from sidecar.ledger.chain import Place
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.identity import KeyRing, PublicKeyError
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.storage import store
from sidecar.storage.writer import Writer
from sidecar.tools.export import FORMAT
from sidecar.tools.members import RosterChain, parse_line


@dataclass(slots=True)
class _Head:
    number: int
    tip: chain.Tip  # its id is None unless entry ``seq`` is stored


class Ingestor:
    """Checks and stores exchange-format lines for one database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        writer: Writer,
        roster: Roster | None = None,
    ) -> None:
        """``roster``: the building's first roster, if not taken from the lines."""
        self.conn = conn
        self.writer = writer
        self.building = store.meta(conn).get("building", "")
        self.members: RosterChain | None = None
        if roster is not None:
            self._roster(roster)
        self.keys = KeyRing()
        self.numbers: dict[bytes, int] = {}
        for number, aid, key in store.authors(conn):
            self.keys.add(key)
            self.numbers[aid] = number
        self.heads: dict[bytes, _Head] = {}
        self.accepted: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def line(self, text: str) -> str | None:
        """Take one line; returns the reason it was refused, or None."""
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise InvalidData("malformed", "a line is a JSON object")
            self.add(obj)
        except ValueError as err:  # InvalidData is a ValueError, as are JSON errors
            reason = err.reason if isinstance(err, InvalidData) else "malformed"
            self.rejected[reason] += 1
            return reason
        return None

    def add(self, obj: dict[str, object]) -> None:
        """Take one parsed line; raises :class:`InvalidData` if it is refused."""
        kind = obj.get("type")
        if kind == "ledger":
            self._ledger(obj)
        elif kind == "roster":
            self._roster_line(obj)
        elif kind == "author":
            self._author(obj)
        elif kind == "frontier":
            self._frontier(obj)
        elif kind == "entry":
            self._entry(etp.entry_from_wire(obj))
        elif kind == "equivocation":
            self._evidence(etp.entry_from_wire(obj))
        elif kind in ("checkpoint", "cosign"):
            self._statement(etp.statement_from_wire(obj))
        else:
            raise InvalidData("unknown_type", f"unknown line type {kind!r}")
        self.accepted[str(kind)] += 1

    def finish(self) -> None:
        """Wait until everything taken is durable."""
        self.writer.flush()

    def _ledger(self, obj: dict[str, object]) -> None:
        if obj.get("format") != FORMAT:
            raise InvalidData(
                "bad_version", f"exchange format {obj.get('format')!r}, not {FORMAT}"
            )
        if obj.get("building") != self.building:
            raise InvalidData(
                "wrong_building", f"an export of building {obj.get('building')!r}"
            )

    def _roster_line(self, obj: dict[str, object]) -> None:
        item = parse_line(obj)
        if isinstance(item, Roster):
            self._roster(item)
            return
        if self.members is None:
            raise InvalidData("bad_roster", "a roster change before the first roster")
        self.members.add(item)
        if item[0] not in self.members.versions:
            raise InvalidData(
                "roster_refused", f"version {item[0].version} is not a valid change"
            )

    def _roster(self, roster: Roster) -> None:
        if roster.building != self.building:
            raise InvalidData(
                "wrong_building", f"the roster of building {roster.building!r}"
            )
        if self.members is None:
            self.members = RosterChain(roster)
            for entry in store.entries_of_kinds(self.conn, (roster_module.ROSTER,)):
                self.members.offer(entry)
        elif self.members.versions[0].digest != roster.digest:
            raise InvalidData("conflict", "another first roster than the one held")

    def _author(self, obj: dict[str, object]) -> None:
        key_hex = obj.get("key")
        try:
            key = bytes.fromhex(key_hex) if isinstance(key_hex, str) else b""
            aid = self.keys.add(key)
        except (ValueError, PublicKeyError) as err:
            raise InvalidData("bad_key", str(err)) from err
        if aid not in self.numbers:
            self.numbers[aid] = self.writer.call(
                lambda conn: store.add_author(conn, key)
            ).result()

    def _frontier(self, obj: dict[str, object]) -> None:
        author = self._known(obj.get("author"))
        size, nodes = obj.get("size"), obj.get("nodes")
        if not isinstance(size, int) or not isinstance(nodes, list):
            raise InvalidData("malformed", "a frontier has a size and a list of nodes")
        try:
            frontier = merkle.Frontier(
                size, [bytes.fromhex(str(node)) for node in nodes]
            )
        except ValueError as err:
            raise InvalidData("malformed", str(err)) from err
        head = self._head(author)
        if head.tip.seq or head.tip.pruned:
            raise InvalidData(
                "conflict", "a frontier can only start a feed this node lacks"
            )
        anchor = self._anchor(author, frontier, obj.get("anchor"))
        number = head.number
        self.writer.call(
            lambda conn: store.adopt_frontier(conn, number, frontier)
        ).result()
        head.tip.seq = head.tip.pruned = size
        head.tip.id = anchor.prev  # the id of the entry at the frontier

    def _anchor(
        self, author: bytes, frontier: merkle.Frontier, wire: object
    ) -> etp.Entry:
        """The frontier line's anchor rollup, which must sign the frontier's root."""
        if not isinstance(wire, dict):
            raise InvalidData("bad_frontier", "a frontier line carries its anchor")
        anchor = etp.entry_from_wire(wire)
        if anchor.author != author:
            raise InvalidData("bad_frontier", "the anchor is another author's entry")
        self._check(author, anchor)
        problem = chain.anchor_problem(frontier, anchor)
        if problem is not None:
            raise InvalidData("bad_frontier", problem)
        return anchor

    def _entry(self, entry: etp.Entry) -> None:
        self._check(entry.author, entry)
        head = self._head(entry.author)
        tip = head.tip
        place = chain.place(
            tip, entry, self._stored_id(head.number), None, keep_folded_history=True
        )
        if place is Place.GAP:
            raise InvalidData("gap", f"expected seq {tip.seq + 1}, got {entry.seq}")
        if place is Place.DUPLICATE:
            raise InvalidData("duplicate", f"seq {entry.seq} is already stored")
        if place is Place.CONFLICT:
            self.writer.add_conflict(head.number, entry)
            raise InvalidData(
                "equivocation",
                f"seq {entry.seq} differs from the stored entry; kept as evidence",
            )
        # A kept entry of pruned history (below the frontier): nothing to chain to.
        self.writer.add_entry(head.number, entry)
        if self.members is not None:
            self.members.offer(entry)
        if place is Place.NEXT:
            tip.seq, tip.id, tip.ts = entry.seq, entry.id, entry.ts

    def _stored_id(self, number: int) -> Callable[[int], bytes | None]:
        def stored_id(seq: int) -> bytes | None:
            self.finish()  # an earlier line of this run may hold the same seq
            return store.entry_id(self.conn, number, seq)

        return stored_id

    def _evidence(self, entry: etp.Entry) -> None:
        self._check(entry.author, entry)
        self.writer.add_conflict(self._head(entry.author).number, entry)

    def _statement(self, statement: etp.Statement) -> None:
        self._check(statement.author, statement)
        number = self._head(statement.author).number
        log = number
        if statement.kind == kinds.COSIGN:
            log_id = bytes.fromhex(str(statement.content["log"]))
            self._cosigner(statement, log_id)
            log = self._head(log_id).number
        self.writer.add_statement(number, log, statement)

    def _cosigner(self, statement: etp.Statement, log: bytes) -> None:
        """A cosignature counts only by a member, of a member's log, at its time."""
        if log == statement.author:
            raise InvalidData("self_cosign", "a log cannot be cosigned by its author")
        if self.members is None:
            raise InvalidData(
                "non_member", "no roster to check the witness against (give --roster)"
            )
        ts = statement.content["ts"]
        assert isinstance(ts, int)  # schema-checked
        for who, role in ((statement.author, "witness"), (log, "log")):
            if not self.members.member_at(who, ts):
                raise InvalidData(
                    "non_member", f"the {role} {who.hex()[:16]} is not a member at {ts}"
                )

    def _check(self, author: bytes, item: etp.Entry | etp.Statement) -> None:
        if item.content["building"] != self.building:
            raise InvalidData(
                "wrong_building",
                f"from building {item.content['building']!r}, not ours",
            )
        etp.check_signature(item, self.keys)

    def _known(self, author_hex: object) -> bytes:
        try:
            author = bytes.fromhex(author_hex) if isinstance(author_hex, str) else b""
        except ValueError as err:
            raise InvalidData("bad_hex", "author must be hex") from err
        if author not in self.numbers:
            raise InvalidData("unknown_author", f"no public key for {author.hex()}")
        return author

    def _head(self, author: bytes) -> _Head:
        head = self.heads.get(author)
        if head is not None:
            return head
        number = self.numbers.get(author)
        if number is None:
            raise InvalidData("unknown_author", f"no public key for {author.hex()}")
        pruned = store.pruned(self.conn, number).frontier.size
        last = store.last_entry(self.conn, number)
        if last is None:
            head = _Head(number, chain.Tip(pruned, None, 0, pruned))
        else:
            entry = store.load_entry(author, last)
            held = None if pruned > entry.seq else entry.id
            tip = chain.Tip(max(entry.seq, pruned), held, entry.ts, pruned)
            head = _Head(number, tip)
        self.heads[author] = head
        return head
