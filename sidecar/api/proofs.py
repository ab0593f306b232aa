"""Inclusion and consistency proofs of this node's feed against its latest checkpoint.

The ``proof`` reply of the local API (PROTOCOL.md 8 and 12.2): the checkpoint, and the
Merkle path (RFC 6962) from an entry, or between two tree sizes, to its root.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sidecar.ledger import etp, merkle
from sidecar.storage import store


def prove(
    conn: sqlite3.Connection, author: int, request: dict[str, object]
) -> dict[str, Any]:
    """Members of the ``proof`` reply to ``seq``, or to ``from`` and ``to``."""
    row = store.latest_checkpoint(conn, author)
    if row is None:
        return {
            "reason": "no_checkpoint",
            "detail": "no checkpoint has been signed yet",
        }
    checkpoint = etp.open_statement(store.author_id_of(conn, author), *row)
    size = checkpoint.content["size"]
    assert isinstance(size, int)
    pruned = store.pruned(conn, author)
    leaves = [
        merkle.leaf_hash(eid)
        for _seq, eid in store.entry_ids(conn, author, pruned.frontier.size, size)
    ]
    tree = merkle.Tree(leaves, pruned.frontier)
    base: dict[str, Any] = {
        "size": size,
        "root": checkpoint.content["root"],
        "checkpoint": etp.statement_to_wire(checkpoint),
    }
    seq, first, second = request.get("seq"), request.get("from"), request.get("to")
    try:
        if isinstance(seq, int) and not isinstance(seq, bool):
            return {
                **base,
                "index": seq - 1,
                "path": _hexes(tree.inclusion_proof(seq - 1, size)),
            }
        if isinstance(first, int) and isinstance(second, int):
            path = tree.consistency_proof(first, second)
            return {**base, "from": first, "to": second, "path": _hexes(path)}
    except merkle.ProofUnavailable as err:
        return {**base, "reason": "unavailable", "detail": str(err)}
    return {"reason": "bad_request", "detail": "give seq, or from and to"}


def _hexes(hashes: list[bytes]) -> list[str]:
    return [item.hex() for item in hashes]
