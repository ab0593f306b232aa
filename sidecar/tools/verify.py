"""Audit a whole ledger database and report every problem with where it is.

Nothing here trusts the node that wrote the database: every entry is decoded from its
stored bytes, its id recomputed and its signature checked, the chains, Merkle roots,
rollups and retention state are recomputed (PROTOCOL.md, section 10).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sidecar.ledger import canonical, chain, etp, kinds, merkle, rollup
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import KeyRing, PublicKeyError, author_id
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.storage import store
from sidecar.tools import claims
from sidecar.tools.claims import Claim
from sidecar.tools.flow_order import FlowOrder, flat_problem
from sidecar.tools.members import RosterChain
from sidecar.tools.rollup_checks import Placement, uncovered

NOTICES: Final = frozenset({"flow_hole"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: a stable code, the author it concerns, where, and what."""

    code: str
    author: str
    where: str
    detail: str

    def __str__(self) -> str:
        who = self.author[:16] if self.author else "database"
        return f"{who} {self.where}: {self.code}: {self.detail}"


@dataclass(slots=True)
class Report:
    """The outcome of a verification."""

    findings: list[Finding] = field(default_factory=list)
    # Worth knowing but no sign of damage or dishonesty (``flow_hole``): not failures.
    notices: list[Finding] = field(default_factory=list)
    authors: int = 0
    entries: int = 0
    statements: int = 0

    @property
    def ok(self) -> bool:
        """True if nothing was found."""
        return not self.findings


def verify_database(path: Path, roster: Roster | RosterChain | None = None) -> Report:
    """Verify every feed, statement and piece of evidence in the database.

    With the building's first ``roster``, every author and witness must also have
    been a member when it signed (the later rosters are the feeds' roster entries).
    """
    conn = store.connect(path, readonly=True)
    verifier = _Verifier(conn, roster)
    try:
        return verifier.run()
    except sqlite3.DatabaseError as err:
        # SQLite itself cannot read the file any more: that is a finding, not a crash.
        verifier.report.findings.append(
            Finding("database_corrupt", "", "file", str(err))
        )
        return verifier.report
    except (TypeError, ValueError) as err:
        # A column holds a value of another storage type than the store writes (text
        # where bytes belong): the file was altered outside the node.
        verifier.report.findings.append(
            Finding(
                "bad_column", "", "file", f"a stored value of the wrong type: {err}"
            )
        )
        return verifier.report
    finally:
        conn.close()


@dataclass(slots=True)
class _Rollup:
    seq: int
    level: int
    first: int
    last: int
    id: bytes
    content: canonical.JsonObject


class _Verifier:
    def __init__(
        self, conn: sqlite3.Connection, roster: Roster | RosterChain | None
    ) -> None:
        self.conn = conn
        self.report = Report()
        self.keys = KeyRing()
        self.building = ""
        self.roster = roster
        self.members: RosterChain | None = None

    def run(self) -> Report:
        problem = store.quick_check(self.conn)
        if problem != "ok":
            self._find("database_corrupt", "", "file", str(problem))
            return self.report
        try:
            meta = store.meta(self.conn)
        except store.StoreError as err:
            self._find("not_a_ledger", "", "file", str(err))
            return self.report
        self.building = meta.get("building", "")
        if not self.building:
            self._find("bad_meta", "", "meta", "the database names no building")
        known: dict[int, bytes] = {}
        for number, aid, key in store.authors(self.conn):
            self.report.authors += 1
            try:
                if author_id(key) != aid:
                    self._find(
                        "key_mismatch",
                        aid.hex(),
                        "authors table",
                        "the key does not hash to the author id",
                    )
                else:
                    self.keys.add(key)
            except PublicKeyError as err:
                self._find("bad_key", aid.hex(), "authors table", str(err))
            known[number] = aid
        self._unknown_authors(known)
        self._roster_chain()
        checkpoints = self._statements(known)
        witnessed = claims.of_witnessed(self.conn, self.keys, set(known.values()))
        for number, aid in known.items():
            said = checkpoints.get(aid, []) + witnessed.get(aid, [])
            _FeedCheck(self, number, aid, said).run()
            self._conflicts(number, aid)
        return self.report

    def _roster_chain(self) -> None:
        """The roster versions from the first roster and the signed roster entries."""
        if self.roster is None:
            return
        chain = (
            self.roster
            if isinstance(self.roster, RosterChain)
            else RosterChain(self.roster)
        )
        if chain.building != self.building:
            self._find("wrong_building", "", "roster", "the roster is for another one")
            return
        genuine = []
        for entry in store.entries_of_kinds(self.conn, (roster_module.ROSTER,)):
            try:
                etp.check_signature(entry, self.keys)
            except InvalidData:
                continue  # reported where the feed is walked
            genuine.append(entry)
        for entry in genuine:
            chain.offer(entry)
        self.members = chain

    def member_problem(self, author: bytes, ts: int) -> str | None:
        """Why ``author`` could not sign at ``ts``; None if it was a member.

        Always None when no roster was given.
        """
        if self.members is None or self.members.member_at(author, ts):
            return None
        return f"{author.hex()[:16]} is not on the roster in force at {ts}"

    def _find(self, code: str, author: str, where: str, detail: str) -> None:
        self.report.findings.append(Finding(code, author, where, detail))

    def _unknown_authors(self, known: dict[int, bytes]) -> None:
        for table in ("entries", "statements", "conflicts"):
            for number, count in store.rows_per_author(self.conn, table):
                if number not in known:
                    self._find(
                        "unknown_author",
                        "",
                        f"{table}, author number {number}",
                        f"{count} rows signed by an author with no public key",
                    )

    def _statements(self, known: dict[int, bytes]) -> dict[bytes, list[Claim]]:
        """Check every statement; return the roots they sign per log author."""
        checkpoints: dict[bytes, list[Statement]] = {}
        cosigned: list[Statement] = []
        for number, kind, log, size, sid, body, sig in store.all_statements(self.conn):
            self.report.statements += 1
            aid = known.get(number)
            if aid is None:
                continue
            where = f"{kind} of size {size}"
            try:
                statement = etp.open_statement(aid, body, sig)
                etp.check_signature(statement, self.keys)
            except InvalidData as err:
                self._find(err.reason, aid.hex(), where, err.detail)
                continue
            log_id = (
                aid if statement.kind == kinds.CHECKPOINT else _hex(statement, "log")
            )
            problems = [
                name
                for name, stored, actual in (
                    ("id", sid, statement.id),
                    ("kind", kind, statement.kind),
                    ("size", size, statement.content["size"]),
                    ("log", known.get(log), log_id),
                )
                if stored != actual
            ]
            if problems:
                self._find(
                    "bad_column",
                    aid.hex(),
                    where,
                    f"stored {', '.join(problems)} differ",
                )
            if statement.content["building"] != self.building:
                self._find(
                    "wrong_building", aid.hex(), where, "another building's ledger"
                )
            ts = _int(statement.content, "ts")
            for who in {aid, log_id}:
                problem = self.member_problem(who, ts)
                if problem is not None:
                    self._find("non_member", who.hex(), where, problem)
            if statement.kind == kinds.CHECKPOINT:
                checkpoints.setdefault(aid, []).append(statement)
            elif log_id == aid:
                self._find("self_cosign", aid.hex(), where, "a log cosigned by itself")
            else:
                cosigned.append(statement)
        for log_id, items in checkpoints.items():
            roots: dict[object, set[object]] = {}
            for item in items:
                roots.setdefault(item.content["size"], set()).add(item.content["root"])
            for stated, distinct in roots.items():
                if len(distinct) > 1:
                    self._find(
                        "equivocation",
                        log_id.hex(),
                        f"checkpoint of size {stated}",
                        f"{len(distinct)} different roots signed for one size",
                    )
        for item in cosigned:
            log_id = _hex(item, "log")
            for checkpoint in checkpoints.get(log_id, []):
                same_size = checkpoint.content["size"] == item.content["size"]
                if same_size and checkpoint.content["root"] != item.content["root"]:
                    self._find(
                        "equivocation",
                        log_id.hex(),
                        f"checkpoint of size {item.content['size']}",
                        f"witness {item.author.hex()[:16]} cosigned a different root",
                    )
        result: dict[bytes, list[Claim]] = {}
        for item in [*(s for group in checkpoints.values() for s in group), *cosigned]:
            log_id = item.author if item.kind == kinds.CHECKPOINT else _hex(item, "log")
            result.setdefault(log_id, []).append(claims.of_statement(item))
        return result

    def _conflicts(self, number: int, aid: bytes) -> None:
        for seq, prev, refs, body, sig in store.conflicts(self.conn, number):
            where = f"seq {seq} (evidence)"
            try:
                evidence = store.load_entry(aid, (seq, prev, refs, body, sig))
                etp.check_signature(evidence, self.keys)
            except InvalidData as err:
                self._find("bad_evidence", aid.hex(), where, err.detail)
                continue
            held = store.entry_id(self.conn, number, seq)
            kept = "pruned" if held is None else held.hex()[:16]
            self._find(
                "equivocation",
                aid.hex(),
                f"seq {seq}",
                f"two signed entries: {evidence.id.hex()[:16]} and {kept}",
            )


class _FeedCheck:
    """One author's feed, walked once in seq order."""

    def __init__(
        self, parent: _Verifier, number: int, aid: bytes, checkpoints: list[Claim]
    ) -> None:
        self.parent = parent
        self.number = number
        self.aid = aid
        self.hex = aid.hex()
        try:
            self.pruned = store.pruned(parent.conn, number)
        except store.StoreError as err:
            self.find("bad_frontier", "frontier", str(err))
            self.pruned = store.Pruned(merkle.Frontier(), 0)
        self.tree: merkle.Frontier | None = self.pruned.frontier.copy()
        self.checkpoints = sorted(checkpoints, key=lambda claim: claim.size)
        self.next_checkpoint = 0
        self.missing: list[tuple[int, int]] = []
        self.rollups: list[_Rollup] = []
        self.last_rollup: dict[int, _Rollup] = {}
        self.accumulators = {
            level: rollup.Accumulator(level) for level in kinds.ROLLUP_LEVELS
        }
        self.acc_start = dict.fromkeys(kinds.ROLLUP_LEVELS, 1)
        self.acc_clean = dict.fromkeys(kinds.ROLLUP_LEVELS, True)
        self.outsider: str | None = None  # reported once per feed, at its first entry
        self.flows = FlowOrder()
        self.placement = Placement()

    def find(self, code: str, where: str, detail: str) -> None:
        if code in NOTICES:
            self.parent.report.notices.append(Finding(code, self.hex, where, detail))
        else:
            self.parent._find(code, self.hex, where, detail)

    def run(self) -> None:
        previous: Entry | None = None
        previous_seq = 0
        self._check_checkpoints_up_to()
        for seq, key, eid, prev, refs, body, sig in store.iter_entries(
            self.parent.conn, self.number
        ):
            self.parent.report.entries += 1
            if seq > previous_seq + 1:
                self.missing.append((previous_seq + 1, seq - 1))
                previous = None
                self.flows.lost_track()
            entry = self._open(seq, key, bytes(eid), (seq, prev, refs, body, sig))
            if entry is None:
                self.flows.lost_track()
            else:
                for code, detail in self.flows.see(entry):
                    self.find(code, f"seq {seq}", detail)
            if entry is not None and previous is not None:
                tip = chain.Tip(previous.seq, previous.id, previous.ts)
                for code, detail in chain.link_problems(tip, entry):
                    self.find(code, f"seq {seq}", detail)
            self._merkle(seq, entry, bytes(eid))
            self._accumulate(seq, entry)
            previous, previous_seq = entry, seq
        self._coverage(previous_seq)
        for item in self.checkpoints[self.next_checkpoint :]:
            # A witness may hold a newer head than this copy of the log: no gap.
            if item.is_checkpoint and item.size > previous_seq:
                self.find("gap", item.where, f"the feed ends at seq {previous_seq}")

    def _open(
        self, seq: int, key: str, eid: bytes, row: tuple[object, ...]
    ) -> Entry | None:
        where = f"seq {seq}"
        try:
            entry = store.load_entry(self.aid, row)
            etp.check_signature(entry, self.parent.keys)
        except InvalidData as err:
            self.find(err.reason, where, err.detail)
            for level in self.acc_clean:
                self.acc_clean[level] = False
            self.placement.damaged()
            return None
        if entry.id != eid:
            self.find("bad_column", where, "the stored id is not the recomputed id")
        if entry.key != key:
            self.find(
                "bad_column", where, f"stored kind {key!r}, body says {entry.key!r}"
            )
        if entry.content["building"] != self.parent.building:
            self.find(
                "wrong_building", where, f"building {entry.content['building']!r}"
            )
        if self.outsider is None:
            self.outsider = self.parent.member_problem(self.aid, entry.ts)
            if self.outsider is not None:
                self.find("non_member", where, self.outsider)
        if self.parent.members is not None:
            roster = self.parent.members.at(entry.ts)
            problem = flat_problem(entry, roster.member(self.aid))
            if problem is not None:
                self.find("wrong_flat", where, problem)
        return entry

    def _merkle(self, seq: int, entry: Entry | None, stored_id: bytes) -> None:
        tree = self.tree
        if tree is None or seq <= tree.size:
            return
        if seq != tree.size + 1:
            self.tree = None  # the gap is reported by the coverage check
            return
        anchor = self.pruned.frontier
        if anchor.size and seq == anchor.size + 1:
            problem = (
                "the entry after it is missing"
                if entry is None
                else chain.anchor_problem(anchor, entry)
            )
            if problem is not None:
                # Every later root is built on the frontier: report the cause once.
                self.find("bad_frontier", "frontier", problem)
                self.tree = None
                return
        elif (
            entry is not None
            and entry.kind == kinds.ROLLUP
            and entry.content["root"] != tree.root().hex()
        ):
            self.find(
                "rollup_mismatch",
                f"seq {seq}",
                f"root is not the tree's at size {seq - 1}",
            )
        # A damaged entry still takes its place in the tree by its stored id, so the
        # damage is reported once, not again at every later root.
        tree.append(merkle.leaf_hash(entry.id if entry is not None else stored_id))
        self._check_checkpoints_up_to()

    def _check_checkpoints_up_to(self) -> None:
        tree = self.tree
        if tree is None:
            return
        while self.next_checkpoint < len(self.checkpoints):
            item = self.checkpoints[self.next_checkpoint]
            if item.size > tree.size:
                return
            if item.size == tree.size and item.root != tree.root().hex():
                self.parent._find(
                    item.code,
                    item.signer.hex(),
                    item.where,
                    f"its root is not the root of {self.hex[:16]}'s entries",
                )
            self.next_checkpoint += 1

    def _accumulate(self, seq: int, entry: Entry | None) -> None:
        if entry is None:
            return
        key = entry.key
        if entry.kind == kinds.ROLLUP:
            self._check_rollup(seq, entry)
        self.placement.see(entry)
        for level, accumulator in self.accumulators.items():
            if key == f"rollup_{level}":
                end = _int(entry.content, "end")
                self.accumulators[level] = rollup.Accumulator(level, after=end)
                self.acc_start[level] = seq + 1
                self.acc_clean[level] = True
            else:
                accumulator.add(key, entry.content)

    def _check_rollup(self, seq: int, entry: Entry) -> None:
        content = entry.content
        level, first = _int(content, "level"), _int(content, "first")
        item = _Rollup(seq, level, first, seq - 1, entry.id, content)
        where = f"seq {seq}"
        self.rollups.append(item)
        before = self.last_rollup.get(level)
        # Retention deletes the oldest level-1 rollups first, so the present rollups
        # of a level follow each other without holes.
        if before is not None and before.seq != first - 1:
            self.find(
                "rollup_mismatch",
                where,
                f"its range does not start after the level-{level} rollup at seq "
                f"{before.seq}",
            )
        elif before is not None and entry.refs != (before.id,):
            self.find("broken_chain", where, "refs does not name the previous rollup")
        elif before is not None and content["start"] != before.content["end"]:
            self.find(
                "rollup_mismatch",
                where,
                f"its start is not the end of the level-{level} rollup at seq "
                f"{before.seq}",
            )
        elif before is None and first > 1 and level == kinds.TOP_LEVEL:
            self.find(
                "gap", where, f"the level-{level} rollup at seq {first - 1} is missing"
            )
        self.last_rollup[level] = item
        adjacent = before is not None and before.seq == first - 1
        opened = self.accumulators[level].opened_at
        previous = before.content if before is not None and adjacent else None
        for code, detail in self.placement.close(entry, opened, previous):
            self.find(code, where, detail)
        stated = content["counts"]
        assert isinstance(stated, dict)
        present = Counter(
            store.kind_counts(self.parent.conn, self.number, first, seq - 1)
        )
        for key in set(stated) | set(present):
            counted = stated.get(key, 0)
            assert isinstance(counted, int)
            here = present.get(key, 0)
            allowed = here <= counted if kinds.foldable(level, key) else here == counted
            if not allowed:
                self.find(
                    "rollup_mismatch",
                    where,
                    f"counts {counted} {key} in {first}..{seq - 1}, {here} present",
                )
        wrong = self._recomputed_differences(level, first, content, present)
        if wrong:
            self.find(
                "rollup_mismatch",
                where,
                f"{', '.join(wrong)} do not match the entries it covers",
            )

    def _recomputed_differences(
        self,
        level: int,
        first: int,
        content: canonical.JsonObject,
        present: Counter[str],
    ) -> list[str]:
        """The summary members that differ from what the entries still held give.

        Retention deletes routine entries, so a member is recomputed only when every
        entry it is made of is still here (PROTOCOL.md section 9.3): the sums (totals,
        unbalanced, flow span) need all the flows (level 1) or all the rollups one
        level down (higher levels); the counts need every entry the level counts
        itself, that is every key but the flows a higher level takes from the rollups
        below it.
        """
        if self.acc_start[level] != first or not self.acc_clean[level]:
            return []
        stated = content["counts"]
        assert isinstance(stated, dict)
        source = kinds.FLOW if level == 1 else kinds.rollup_key(level - 1)
        sums = present.get(source, 0) == stated.get(source, 0)
        counts = all(
            present.get(key, 0) == stated.get(key, 0)
            for key in set(stated) | set(present)
            if level == 1 or key != kinds.FLOW
        )
        return [
            name
            for name in rollup.differences(content, self.accumulators[level].summary())
            if (counts if name == "counts" else sums)
        ]

    def _coverage(self, last_seq: int) -> None:
        """Every missing seq must be pruned history: at most P, inside a rollup."""
        limit = self.pruned.frontier.size
        spans = sorted((item.first, item.last) for item in self.rollups)
        for low, high in self.missing:
            if high > limit:
                self.find(
                    "gap",
                    f"seq {max(low, limit + 1)}..{high}",
                    "entries missing after the point retention has pruned to",
                )
            if low <= limit:
                for a, b in uncovered((low, min(high, limit)), spans):
                    self.find(
                        "gap",
                        f"seq {a}..{b}",
                        "entries missing and no rollup covers them",
                    )
        if limit > last_seq:
            self.find(
                "gap", f"frontier of size {limit}", f"the feed ends at seq {last_seq}"
            )


def _int(content: canonical.JsonObject, key: str) -> int:
    value = content[key]
    assert isinstance(value, int)  # schema-checked
    return value


def _hex(item: Statement, key: str) -> bytes:
    return bytes.fromhex(str(item.content[key]))
