"""Checkpoint witnessing: cosign peers' tree heads, count cosignatures of our own.

A node cosigns a peer's checkpoint only when the root it states is the root of the
peer's feed as this node holds it (a verified hash chain, so it is also consistent with
every earlier checkpoint). A checkpoint is *witnessed* once a majority of the roster
has signed it: its author plus cosigners. A checkpoint whose root contradicts the
author's own signed entries is proof that the author lies; it is reported.
PROTOCOL.md section 14.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import Identity
from sidecar.mesh.replica import Replica

PENDING_PER_LOG: Final = 8


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A log's size and root, as a checkpoint states it."""

    log: bytes
    size: int
    root: bytes
    ts: int


@dataclass(slots=True)
class _Own:
    head: TreeHead
    signers: set[bytes] = field(default_factory=set)


class Witness:
    """Cosigning others' checkpoints and collecting cosignatures of this node's."""

    def __init__(
        self,
        identity: Identity,
        building: str,
        replica: Replica,
        majority: Callable[[], int],
    ) -> None:
        self.identity = identity
        self.building = building
        self.replica = replica
        self.majority = majority
        self.own: dict[int, _Own] = {}  # by size: our recent checkpoints
        self.witnessed: dict[bytes, TreeHead] = {}  # newest known per log
        self.pending: dict[bytes, dict[int, Statement]] = {}
        self.failures: list[tuple[bytes, str]] = []
        self.cosigned = 0

    def own_checkpoint(self, statement: Statement) -> None:
        """Track a checkpoint this node signed, waiting for cosignatures."""
        head = _tree_head(statement.author, statement)
        self.own[head.size] = _Own(head, {self.identity.author})
        for size in sorted(self.own)[:-PENDING_PER_LOG]:
            del self.own[size]
        self._maybe_witnessed(self.own[head.size])

    def checkpoint(self, statement: Statement, now_ms: int) -> Statement | None:
        """A peer's checkpoint: a cosignature to send back, or None for now."""
        head = _tree_head(statement.author, statement)
        held = self.replica.heads.get(statement.author)
        if held is None or head.size == 0:
            return None
        if head.size > held.seq:
            pending = self.pending.setdefault(statement.author, {})
            pending[head.size] = statement
            for size in sorted(pending)[:-PENDING_PER_LOG]:
                del pending[size]
            return None
        return self._judge(head, now_ms)

    def caught_up(self, author: bytes, now_ms: int) -> list[Statement]:
        """Cosignatures for pending checkpoints of ``author`` that are now reachable."""
        pending = self.pending.get(author)
        held = self.replica.heads.get(author)
        if not pending or held is None:
            return []
        made: list[Statement] = []
        for size in sorted(pending):
            if size > held.seq:
                break
            statement = pending.pop(size)
            cosign = self._judge(_tree_head(author, statement), now_ms)
            if cosign is not None:
                made.append(cosign)
        return made

    def cosignature(self, statement: Statement) -> bool:
        """A peer's cosignature of one of our checkpoints; True if it newly counts."""
        log = bytes.fromhex(str(statement.content["log"]))
        if log != self.identity.author:
            return False
        size = statement.content["size"]
        assert isinstance(size, int)
        own = self.own.get(size)
        if own is None or statement.content["root"] != own.head.root.hex():
            return False
        if statement.author in own.signers:
            return False
        own.signers.add(statement.author)
        self._maybe_witnessed(own)
        return True

    def learn(self, heads: list[TreeHead]) -> None:
        """Witnessed heads another member declared in its ``witnessed`` entry."""
        for head in heads:
            known = self.witnessed.get(head.log)
            if known is None or head.size > known.size:
                self.witnessed[head.log] = head

    def declared(self, entry: Entry) -> None:
        """A member's ``witnessed`` entry: learn the heads it may vouch for."""
        if entry.kind != kinds.WITNESSED:
            return
        logs = entry.content["logs"]
        assert isinstance(logs, list)
        heads = []
        for item in logs:
            assert isinstance(item, dict)
            heads.append(
                TreeHead(
                    bytes.fromhex(str(item["log"])),
                    int(str(item["size"])),
                    bytes.fromhex(str(item["root"])),
                    entry.ts,
                )
            )
        # Only what an author says of its own log, and only if it matches the copy
        # held here: nobody can spread a made-up head of someone else's log.
        self.learn(
            [
                head
                for head in heads
                if head.log == entry.author
                and self.replica.root_at(head.log, head.size) in (None, head.root)
            ]
        )

    def declaration(self) -> JsonObject:
        """The body members of a ``witnessed`` entry: every witnessed head known."""
        logs: list[JsonValue] = [
            {"log": head.log.hex(), "size": head.size, "root": head.root.hex()}
            for head in sorted(self.witnessed.values(), key=lambda h: h.log)
        ]
        return {"logs": logs[: kinds.MAX_WITNESSED]}

    def _judge(self, head: TreeHead, now_ms: int) -> Statement | None:
        root = self.replica.root_at(head.log, head.size)
        if root is None:
            return None  # too old to compare from memory; a newer one will come
        if root != head.root:
            self.failures.append(
                (
                    head.log,
                    f"checkpoint of size {head.size} states a root that is not the "
                    "root of the entries it signed",
                )
            )
            return None
        self.cosigned += 1
        return etp.make_statement(
            self.identity,
            {
                "v": kinds.VERSION,
                "kind": kinds.COSIGN,
                "building": self.building,
                "ts": now_ms,
                "log": head.log.hex(),
                "size": head.size,
                "root": head.root.hex(),
            },
        )

    def _maybe_witnessed(self, own: _Own) -> None:
        if len(own.signers) < self.majority():
            return
        known = self.witnessed.get(own.head.log)
        if known is None or own.head.size > known.size:
            self.witnessed[own.head.log] = own.head


def _tree_head(log: bytes, statement: Statement) -> TreeHead:
    size, root, ts = (
        statement.content["size"],
        statement.content["root"],
        statement.content["ts"],
    )
    assert isinstance(size, int)
    assert isinstance(root, str)
    assert isinstance(ts, int)
    return TreeHead(log, size, bytes.fromhex(root), ts)
