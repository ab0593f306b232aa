"""Roots signed about a log, to hold against the log's own tree (PROTOCOL.md 10).

The author's checkpoints, witnesses' cosignatures and the heads of ``witnessed``
entries each say "the log of this author had this root at this size". The verifier
builds the tree from the entries and compares: a checkpoint that differs is
``checkpoint_mismatch`` (the author's own statement), a cosignature
``cosign_mismatch`` and a witnessed head ``witnessed_mismatch`` (the signer vouched
for a history the log does not have).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sidecar.ledger import etp, kinds
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Statement
from sidecar.ledger.identity import KeyRing
from sidecar.storage import store


@dataclass(frozen=True, slots=True)
class Claim:
    """A root someone signed for a log at a size."""

    size: int
    root: object
    code: str  # the finding when the log's root at ``size`` differs
    where: str
    signer: bytes

    @property
    def is_checkpoint(self) -> bool:
        """Whether the log's author made the claim itself."""
        return self.code == "checkpoint_mismatch"


def of_statement(statement: Statement) -> Claim:
    """The claim a checkpoint or cosignature makes."""
    size = statement.content["size"]
    assert isinstance(size, int)  # schema-checked
    if statement.kind == kinds.CHECKPOINT:
        code, where = "checkpoint_mismatch", f"checkpoint of size {size}"
    else:
        code = "cosign_mismatch"
        where = f"cosign of size {size} by {statement.author.hex()[:16]}"
    return Claim(size, statement.content["root"], code, where, statement.author)


def of_witnessed(
    conn: sqlite3.Connection, keys: KeyRing, known: set[bytes]
) -> dict[bytes, list[Claim]]:
    """The heads of every genuine ``witnessed`` entry held, per log held."""
    claims: dict[bytes, list[Claim]] = {}
    for entry in store.entries_of_kinds(conn, (kinds.WITNESSED,)):
        try:
            etp.check_signature(entry, keys)
        except InvalidData:
            continue  # reported where its feed is walked
        logs = entry.content["logs"]
        assert isinstance(logs, list)  # schema-checked
        for head in logs:
            assert isinstance(head, dict)
            log = bytes.fromhex(str(head["log"]))
            size = head["size"]
            if log not in known or not isinstance(size, int):
                continue
            where = (
                f"witnessed head of size {size} in seq {entry.seq} of "
                f"{entry.author.hex()[:16]}"
            )
            claim = Claim(size, head["root"], "witnessed_mismatch", where, entry.author)
            claims.setdefault(log, []).append(claim)
    return claims
