"""A summary of a node's ledger database, for ``python -m sidecar status``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sidecar.ledger import canonical
from sidecar.storage import store


def summarize(conn: sqlite3.Connection, db_path: Path) -> dict[str, Any]:
    """Building, own author, and per author: entries, rollups, checkpoints, pruning."""
    meta = store.meta(conn)
    authors: list[dict[str, Any]] = []
    for number, aid, _key in store.authors(conn):
        count, low, high = store.entry_span(conn, number)
        by_kind = store.kind_counts(conn, number)
        last = store.last_entry(conn, number)
        last_ts = None
        if last is not None:
            ts = canonical.decode(bytes(last[3])).get("ts")
            last_ts = ts if isinstance(ts, int) else None
        checkpoint = store.checkpoint_summary(conn, number)
        conflicts = store.conflict_count(conn, number)
        authors.append(
            {
                "author": aid.hex(),
                "self": aid.hex() == meta.get("self"),
                "entries": count,
                "first_seq": low,
                "last_seq": high,
                "last_ts": last_ts,
                "by_kind": by_kind,
                "pruned_to": store.pruned(conn, number).frontier.size,
                "checkpoints": checkpoint[1],
                "checkpoint_size": checkpoint[0],
                "equivocations": conflicts,
            }
        )
    files = {
        name: path.stat().st_size
        for name, path in (
            ("database", db_path),
            ("wal", db_path.with_name(db_path.name + "-wal")),
        )
        if path.exists()
    }
    return {
        "building": meta.get("building"),
        "self": meta.get("self"),
        "authors": authors,
        "bytes": files,
    }
