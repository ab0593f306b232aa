"""Storage faults the node lives through: a full disk, a read-only store.

Anything else that fails a write is a failure that stops the node. A fault does not:
the writer keeps the transaction and retries it (:mod:`.writer`), the node refuses new
samples with the fault's reason, reports it, and carries on when the disk can be
written again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Final

FULL: Final = "storage_full"
READONLY: Final = "storage_readonly"
RETRY_MIN_S: Final = 0.25
RETRY_MAX_S: Final = 5.0
# Less free room than this on the database's file system counts as full.
FULL_BELOW_BYTES: Final = 256 * 1024
_FULL_CODES: Final = {sqlite3.SQLITE_FULL}
_READONLY_CODES: Final = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}


class StorageFault(Exception):
    """Writes are held back by a storage fault (``reason``); they are not lost.

    What was queued is written once the disk can be written again; whoever waited
    for it has not been told it is durable.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(describe(reason))
        self.reason = reason


def describe(reason: str) -> str:
    """A sentence for an operator about a fault."""
    if reason == FULL:
        return (
            "the ledger's disk is full: new samples are refused until space is "
            "freed; nothing acknowledged is lost"
        )
    return (
        "the ledger's store is read-only: new samples are refused until it can be "
        "written again; nothing acknowledged is lost"
    )


def fault_reason(err: sqlite3.Error, path: Path) -> str | None:
    """``storage_full``/``storage_readonly`` if ``err`` is one of those, else None.

    SQLite says "disk full" for a full disk, and "readonly" for a store it opened
    read-only; a file system remounted read-only under an open database, or one that
    refuses growth, shows as an I/O error: then the file system itself is asked.
    """
    code = getattr(err, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary in _FULL_CODES:
        return FULL
    if primary in _READONLY_CODES:
        return READONLY
    if primary == sqlite3.SQLITE_IOERR:
        return filesystem_fault(path)
    return None


def writable_again(path: Path) -> bool:
    """Whether the store at ``path`` can be written now (its file system says so).

    SQLite keeps a store it opened on a read-only file system read-only in that
    process for as long as any connection to it is open; so a node that started on
    one has to start afresh to write, once this is true.
    """
    return filesystem_fault(path) is None and os.access(path, os.W_OK)


def filesystem_fault(path: Path) -> str | None:
    """What the file system holding ``path`` says: read-only, full, or fine (None)."""
    folder = path.parent
    with contextlib.suppress(OSError):
        stats = os.statvfs(folder)
        if stats.f_flag & os.ST_RDONLY:
            return READONLY
        if stats.f_bavail * stats.f_frsize < FULL_BELOW_BYTES:
            return FULL
    return None
