"""Read queries for battery traceability: a flat's flows and its witnessed heads.

Read-only, through a connection of its own (see :mod:`sidecar.storage.store`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sidecar.ledger import kinds
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.battery_state import BATTERY_STATE
from sidecar.ledger.etp import Entry
from sidecar.storage import store


def entries(conn: sqlite3.Connection, author: int, after: int = 0) -> Iterator[Entry]:
    """An author's stored ``flow``, ``battery_state`` and ``battery_day`` entries.

    Those after seq ``after``,

    In seq order: what battery traceability reads.
    """
    author_id = store.author_id_of(conn, author)
    for row in conn.execute(
        "SELECT seq, prev, refs, body, sig FROM entries "
        "WHERE author = ? AND kind IN (?, ?, ?) AND seq > ? ORDER BY seq",
        (author, kinds.FLOW, BATTERY_STATE, BATTERY_DAY, after),
    ):
        yield store.load_entry(author_id, tuple(row))


def checkpoints(conn: sqlite3.Connection, author: int) -> list[tuple[bytes, bytes]]:
    """``(body, sig)`` of an author's own checkpoints, the largest first."""
    return [
        (bytes(body), bytes(sig))
        for body, sig in conn.execute(
            "SELECT body, sig FROM statements WHERE author = ? AND log = ? "
            "AND kind = ? ORDER BY size DESC, rowid DESC",
            (author, author, kinds.CHECKPOINT),
        )
    ]


def cosignatures(
    conn: sqlite3.Connection, log: int, size: int
) -> list[tuple[bytes, bytes, bytes]]:
    """``(signer id, body, sig)`` of the cosignatures of ``log``'s tree at ``size``."""
    return [
        (bytes(signer), bytes(body), bytes(sig))
        for signer, body, sig in conn.execute(
            "SELECT a.id, s.body, s.sig FROM statements s "
            "JOIN authors a ON a.no = s.author "
            "WHERE s.log = ? AND s.size = ? AND s.kind = ? AND s.author != ? "
            "ORDER BY s.rowid",
            (log, size, kinds.COSIGN, log),
        )
    ]
