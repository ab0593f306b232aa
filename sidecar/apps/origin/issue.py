"""Issuing a period's certificates from a node's database.

The file is JSON lines (docs/ORIGIN.md): a header, one ``anchor`` per flat, then one
``bundle`` per flat-hour. An hour is issued once every flat's ledger has closed it
(its figures can no longer change) and once its flat's anchor proves it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sidecar.apps.origin import anchors, certificates, model
from sidecar.apps.origin.hourly import Tracker
from sidecar.ledger.canonical import JsonObject
from sidecar.storage import origin_reads, store

HEADER: Final = "certificates"


@dataclass(slots=True)
class Issued:
    """The lines of a certificate file, and what was left out and why."""

    lines: list[JsonObject] = field(default_factory=list)
    pending: int = 0  # flat-hours closed but not yet proven by a cosigned head
    open_hours: int = 0  # flat-hours some flat has not closed yet


def track(conn: sqlite3.Connection, tz: str) -> Tracker:
    """Every flat's closed hours from the database.

    Only the hourly rollups are read (and each flat's first flow, for its location
    and device): certificates cover closed hours, which the rollups sum.
    """
    tracker = Tracker(tz)
    for number, aid, _key in store.authors(conn):
        first = origin_reads.first_flow_row(conn, number)
        if first is not None:
            tracker.locate(store.load_entry(aid, first))
        for row in origin_reads.hourly_rows(conn, number):
            tracker.add(store.load_entry(aid, row))
    return tracker


def final_until(tracker: Tracker) -> int:
    """The end of the last hour every flat has closed."""
    return min((flat.closed_until for flat in tracker.flats.values()), default=0)


def issue(
    conn: sqlite3.Connection,
    tz: str,
    *,
    start: int,
    end: int,
    authors: Iterable[bytes] | None = None,
) -> Issued:
    """The certificate lines of the hours starting in [start, end)."""
    tracker = track(conn, tz)
    figures = model.compute(tracker.flats, closed_only=True)
    until = final_until(tracker)
    building = store.meta(conn).get("building", "")
    issued = Issued()
    issued.lines.append(
        {
            "type": HEADER,
            "scheme": certificates.SCHEME,
            "building": building,
            "tz": tz,
            "from": start,
            "to": end,
            "storage_method": certificates.STORAGE_METHOD,
        }
    )
    chosen = list(tracker.flats) if authors is None else list(authors)
    proofs = {
        author: anchors.anchor(conn, tracker.flats[author])
        for author in chosen
        if author in tracker.flats
    }
    for proof in proofs.values():
        if proof is not None:
            issued.lines.append(proof.line)
    for author, hour, made in certificates.bundles(
        figures, tracker.flats, tz, start=start, end=end, authors=chosen
    ):
        if hour >= until:
            issued.open_hours += 1
            continue
        proof = proofs.get(author)
        entries = made["entries"]
        assert isinstance(entries, dict)
        if proof is None or entries["seq"] not in proof.covered:
            issued.pending += 1
            continue
        issued.lines.append(made)
    return issued
