"""Schema versions of the ledger database and the steps between them.

The version is SQLite's ``PRAGMA user_version`` (0 in a database of the first release,
whose schema is version 1) and is mirrored in the ``meta`` row ``schema``. Opening a
database for writing brings it to :data:`CURRENT` in one transaction per step; a
database of a newer release is refused, never changed.
"""

from __future__ import annotations

import sqlite3
from typing import Final

CURRENT: Final = 2

# Step n takes a database from version n - 1 to version n. Version 1 is the schema the
# first release created (store._SCHEMA); steps only add, so the first release's files
# and its entries stay as they are.
_STEPS: Final[dict[int, str]] = {
    2: """
    -- Outage support's open intervals: what the bus carried and was planned in each,
    -- so a restart during a power cut still writes their transfers and receipts.
    CREATE TABLE IF NOT EXISTS bus_intervals (
        start INTEGER PRIMARY KEY,
        state TEXT NOT NULL
    );
    """,
}


class MigrationError(Exception):
    """The database is of a newer release, or a step could not be applied."""


def version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (1 for the first release's files)."""
    stored = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if stored:
        return stored
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    return 1 if has_meta else 0


def upgrade(conn: sqlite3.Connection) -> list[int]:
    """Apply the steps the database lacks; the versions it went through.

    The caller has created the version-1 tables. Each step and its new version are
    committed together, so a crash leaves the database at one version or the next.
    """
    found = version(conn)
    if found > CURRENT:
        raise MigrationError(
            f"the database has schema version {found}, this release knows up to "
            f"{CURRENT}; run the release that wrote it, or restore a backup"
        )
    done: list[int] = []
    for target in range(max(found, 1) + 1, CURRENT + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _STEPS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
                (str(target),),
            )
            conn.execute(f"PRAGMA user_version = {int(target)}")
        except sqlite3.Error as err:
            conn.execute("ROLLBACK")
            raise MigrationError(
                f"upgrading the database to version {target} failed: {err}"
            ) from err
        conn.execute("COMMIT")
        done.append(target)
    return done
