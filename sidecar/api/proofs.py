"""Inclusion and consistency proofs of this node's feed against its latest checkpoint.

The ``proof`` reply of the local API (PROTOCOL.md 8 and 12.2): the checkpoint, and the
Merkle path (RFC 6962) from an entry, or between two tree sizes, to its root.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from sidecar.api import messages
from sidecar.ledger import etp, merkle
from sidecar.storage import store


def prove(
    conn: sqlite3.Connection, author: int, request: messages.ProofRequest
) -> messages.ProofReply:
    """The ``proof`` reply to a request for ``seq``, or for ``from`` and ``to``."""
    row = store.latest_checkpoint(conn, author)
    if row is None:
        return messages.ProofReply(
            reason="no_checkpoint", detail="no checkpoint has been signed yet"
        )
    checkpoint = etp.open_statement(store.author_id_of(conn, author), *row)
    size = checkpoint.content["size"]
    root = checkpoint.content["root"]
    assert isinstance(size, int)
    assert isinstance(root, str)
    pruned = store.pruned(conn, author)
    leaves = [
        merkle.leaf_hash(eid)
        for _seq, eid in store.entry_ids(conn, author, pruned.frontier.size, size)
    ]
    tree = merkle.Tree(leaves, pruned.frontier)
    base = messages.ProofReply(
        size=size, root=root, checkpoint=etp.statement_to_wire(checkpoint)
    )
    seq, first, second = request.seq, request.first, request.second
    try:
        if seq is not None:
            path = tree.inclusion_proof(seq - 1, size)
            return replace(base, index=seq - 1, path=_hexes(path))
        if first is not None and second is not None:
            path = tree.consistency_proof(first, second)
            return replace(base, first=first, second=second, path=_hexes(path))
    except merkle.ProofUnavailable as err:
        return replace(base, reason="unavailable", detail=str(err))
    return messages.ProofReply(reason="bad_request", detail="give seq, or from and to")


def _hexes(hashes: list[bytes]) -> tuple[str, ...]:
    return tuple(item.hex() for item in hashes)
