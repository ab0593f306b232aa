"""Reading a node's ledger database beside the running node, read-only.

The bodies of entries are canonical JSON (docs/PROTOCOL.md), read here as JSON.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

type Body = dict[str, Any]


def read_rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
    """Every row ``sql`` selects from a node's database file."""
    if not db.exists():
        raise FileNotFoundError(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")  # the node may be writing
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def body(data: bytes) -> Body:
    """An entry's body."""
    decoded: Body = json.loads(bytes(data))
    return decoded


def bus_entries(db: Path) -> tuple[dict[bytes, Body], list[tuple[Body, bytes]]]:
    """The ``transfer`` bodies by entry id, and each ``receipt`` body with its ref."""
    transfers = {
        bytes(eid): body(data)
        for eid, data in read_rows(
            db, "SELECT id, body FROM entries WHERE kind = 'transfer'"
        )
    }
    receipts = [
        (body(data), bytes(refs))
        for data, refs in read_rows(
            db, "SELECT body, refs FROM entries WHERE kind = 'receipt'"
        )
    ]
    return transfers, receipts


def stored_ids(db: Path) -> dict[str, list[str]]:
    """Every author's entry ids (hex) in seq order."""
    result: dict[str, list[str]] = {}
    for aid, eid in read_rows(
        db,
        "SELECT a.id, e.id FROM entries e JOIN authors a ON a.no = e.author "
        "ORDER BY a.id, e.seq",
    ):
        result.setdefault(bytes(aid).hex(), []).append(bytes(eid).hex())
    return result


def newest_offers(db: Path) -> dict[bytes, Body]:
    """Each author's newest ``availability`` body."""
    rows = read_rows(
        db,
        "SELECT a.id, e.body FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE e.kind = 'availability' ORDER BY e.seq",
    )
    return {bytes(author): body(data) for author, data in rows}


def offers_everywhere(dbs: list[Path], authors: set[bytes], since_ms: float) -> bool:
    """Whether every database holds an availability from every author since then."""
    for db in dbs:
        newest = newest_offers(db)
        if set(newest) != authors:
            return False
        if any(int(str(offer["ts"])) < since_ms for offer in newest.values()):
            return False
    return True
