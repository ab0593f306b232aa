"""Writing a database out in the exchange format (JSON lines, PROTOCOL.md sec. 11)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sidecar.ledger import etp, merkle
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.storage import store


class ExportError(Exception):
    """A stored item could not be decoded, so it cannot be exported faithfully."""


def export_lines(
    conn: sqlite3.Connection, author: bytes | None = None
) -> Iterator[str]:
    """Every line of the export, in the order a receiver needs them.

    Authors first, then per author: the frontier, the entries in seq order, the
    evidence of equivocation, and the statements.
    """
    chosen = [row for row in store.authors(conn) if author is None or row[1] == author]
    if author is not None and not chosen:
        raise ExportError(f"no author {author.hex()} in this database")
    for _number, _aid, key in chosen:
        yield etp.wire_json({"type": "author", "key": key.hex()})
    for number, aid, _key in chosen:
        pruned = store.pruned(conn, number)
        if pruned.frontier.size:
            yield etp.wire_json(_frontier(conn, number, aid, pruned.frontier))
        for seq, _kind, _id, prev, refs, body, sig in store.iter_entries(conn, number):
            yield etp.wire_json(_entry(aid, (seq, prev, refs, body, sig), "entry"))
        for row in sorted(store.conflicts(conn, number), key=lambda row: row[0]):
            yield etp.wire_json(_entry(aid, row, "equivocation"))
        for body, sig in store.statements_of(conn, number):
            try:
                statement = etp.open_statement(aid, body, sig)
            except InvalidData as err:
                raise ExportError(
                    f"a statement of {aid.hex()} is damaged: {err}"
                ) from err
            yield etp.wire_json(etp.statement_to_wire(statement))


def _entry(author: bytes, row: tuple[object, ...], line_type: str) -> JsonObject:
    try:
        entry = store.load_entry(author, row)
    except InvalidData as err:
        raise ExportError(
            f"entry {row[0]} of {author.hex()} is damaged ({err}); run verify"
        ) from err
    return etp.entry_to_wire(entry, line_type)


def _frontier(
    conn: sqlite3.Connection, number: int, aid: bytes, frontier: merkle.Frontier
) -> JsonObject:
    """The frontier line, with the rollup after it that signs its root."""
    row = store.entry_at(conn, number, frontier.size + 1)
    if row is None:
        raise ExportError(
            f"the rollup anchoring the frontier of {aid.hex()} is missing; run verify"
        )
    return {
        "type": "frontier",
        "author": aid.hex(),
        "size": frontier.size,
        "nodes": [node.hex() for node in frontier.nodes],
        "anchor": _entry(aid, row, "entry"),
    }
