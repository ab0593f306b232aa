"""A summary of a node's ledger database, for ``python -m sidecar status``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sidecar.ledger import canonical, kinds
from sidecar.ledger.quality import QualityTally
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
                "flow_quality": flow_quality_by_day(conn, number),
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


def flow_quality_by_day(
    conn: sqlite3.Connection, author: int
) -> dict[str, dict[str, int]]:
    """The author's stored flows per building day, by quality (PROTOCOL.md 7.1).

    Only flows retention has kept are counted; the rollups keep the energy, not this.
    """
    days: dict[str, QualityTally] = {}
    for _seq, kind, _id, _prev, _refs, body, _sig in store.iter_entries(conn, author):
        if kind != kinds.FLOW:
            continue
        try:
            content = canonical.decode(bytes(body))
        except canonical.CanonicalError:
            continue  # verify names it; a summary counts what it can read
        tally = QualityTally()
        tally.note(content)
        counted = days.setdefault(tally.day, tally)
        if counted is not tally:
            counted.note(content)
    return {
        day: {
            "measured": tally.measured,
            "estimated": tally.estimated,
            "reconciled": tally.reconciled,
        }
        for day, tally in sorted(days.items())
    }
