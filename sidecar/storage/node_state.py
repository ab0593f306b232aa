"""Rows beside the ledger: outage support's open intervals, the restore mark, copies.

None of this is signed; it helps a node carry on after a restart or a restore.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sidecar.storage.store import connect


def save_bus_intervals(
    conn: sqlite3.Connection, rows: list[tuple[int, str]], horizon: int
) -> None:
    """Store outage support's interval states; forget those before ``horizon``."""
    conn.executemany(
        "INSERT OR REPLACE INTO bus_intervals (start, state) VALUES (?, ?)", rows
    )
    conn.execute("DELETE FROM bus_intervals WHERE start < ?", (horizon,))


def bus_intervals(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """Every stored ``(start, state)`` of outage support's intervals."""
    return [
        (int(start), str(state))
        for start, state in conn.execute(
            "SELECT start, state FROM bus_intervals ORDER BY start"
        )
    ]


def recent_bodies(
    conn: sqlite3.Connection, author: int, keys: tuple[str, ...], limit: int
) -> list[bytes]:
    """The bodies of an author's newest ``limit`` entries of these count keys."""
    marks = ", ".join("?" * len(keys))
    return [
        bytes(body)
        for (body,) in conn.execute(
            f"SELECT body FROM entries WHERE author = ? AND kind IN ({marks}) "
            "ORDER BY seq DESC LIMIT ?",
            (author, *keys, limit),
        )
    ]


def snapshot(path: Path, target: Path) -> None:
    """Copy the database at ``path`` to ``target`` while it may be written.

    SQLite's online backup API in one step: one consistent read transaction. The copy
    is a plain file without a write-ahead log.
    """
    source = connect(path, readonly=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()


def write_meta(path: Path, key: str, value: str | None) -> None:
    """Set (or, with None, remove) one ``meta`` row of a database not in use."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
