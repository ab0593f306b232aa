"""The reads renewable origin needs: flows and hourly rollups, in feed order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.etp import Entry
from sidecar.storage import store

ORIGIN_KEYS: Final = (kinds.FLOW, kinds.rollup_key(1))


def origin_rows(
    conn: sqlite3.Connection, author: int, after: int = 0
) -> Iterator[tuple[int, bytes, bytes, bytes, bytes]]:
    """Rows ``(seq, prev, refs, body, sig)`` of an author's flows and hourly rollups."""
    yield from conn.execute(
        "SELECT seq, prev, refs, body, sig FROM entries "
        "WHERE author = ? AND seq > ? AND kind IN (?, ?) ORDER BY seq",
        (author, after, *ORIGIN_KEYS),
    )


def hourly_rows(
    conn: sqlite3.Connection, author: int, after: int = 0
) -> Iterator[tuple[int, bytes, bytes, bytes, bytes]]:
    """Rows ``(seq, prev, refs, body, sig)`` of an author's hourly rollups."""
    yield from conn.execute(
        "SELECT seq, prev, refs, body, sig FROM entries "
        "WHERE author = ? AND seq > ? AND kind = ? ORDER BY seq",
        (author, after, ORIGIN_KEYS[1]),
    )


def first_flow_row(
    conn: sqlite3.Connection, author: int
) -> tuple[int, bytes, bytes, bytes, bytes] | None:
    """The row of an author's earliest stored flow, if any."""
    row: tuple[int, bytes, bytes, bytes, bytes] | None = conn.execute(
        "SELECT seq, prev, refs, body, sig FROM entries "
        "WHERE author = ? AND kind = ? ORDER BY seq LIMIT 1",
        (author, ORIGIN_KEYS[0]),
    ).fetchone()
    return row


def origin_entries(conn: sqlite3.Connection) -> Iterator[Entry]:
    """Every author's flows and hourly rollups, each author's in seq order."""
    for number, aid, _key in store.authors(conn):
        for row in origin_rows(conn, number):
            yield store.load_entry(aid, row)


def checkpoint_rows(
    conn: sqlite3.Connection, log: int
) -> Iterator[tuple[int, str, int, bytes, bytes]]:
    """``(signer, kind, size, body, sig)`` of the checkpoints and cosigns of a log."""
    yield from conn.execute(
        "SELECT author, kind, size, body, sig FROM statements WHERE log = ? "
        "ORDER BY size",
        (log,),
    )
