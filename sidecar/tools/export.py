"""Writing a database out in the exchange format (JSON lines, PROTOCOL.md sec. 11)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sidecar.ledger import etp, merkle
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.storage import store
from sidecar.tools import members


class ExportError(Exception):
    """A stored item could not be decoded, so it cannot be exported faithfully."""


FORMAT = 2  # the exchange format's version (PROTOCOL.md section 11)


def export_lines(
    conn: sqlite3.Connection,
    author: bytes | None = None,
    *,
    roster: Roster | None = None,
) -> Iterator[str]:
    """Every line of the export, in the order a receiver needs them.

    The ``ledger`` line (format, building); the building's first ``roster`` if known,
    then every later version with its approvals (the roster chain); the authors; per
    author its frontier, entries in seq order and evidence of equivocation; the
    statements last. One author's export holds the statements about its log.
    """
    building = store.meta(conn).get("building", "")
    if roster is not None and roster.building != building:
        raise ExportError(
            f"the roster is for building {roster.building!r}, the ledger for "
            f"{building!r}"
        )
    everyone = store.authors(conn)
    chosen = [row for row in everyone if author is None or row[1] == author]
    if author is not None and not chosen:
        raise ExportError(f"no author {author.hex()} in this database")
    statements = [
        row
        for row in store.all_statements(conn)
        if author is None or row[2] == chosen[0][0]
    ]
    # The witnesses of an exported log come with their keys, or their cosignatures
    # could not be checked.
    signers = {row[0] for row in chosen} | {row[0] for row in statements}
    yield etp.wire_json({"type": "ledger", "format": FORMAT, "building": building})
    if roster is not None:
        yield etp.wire_json({"type": "roster", "roster": roster.document()})
        chain = members.chain_of(
            store.entries_of_kinds(conn, (roster_module.ROSTER,)), roster
        )
        for change in chain.changes():
            yield etp.wire_json(members.change_line(change))
    for number, _aid, key in everyone:
        if number in signers:
            yield etp.wire_json({"type": "author", "key": key.hex()})
    for number, aid, _key in chosen:
        pruned = store.pruned(conn, number)
        if pruned.frontier.size:
            yield etp.wire_json(_frontier(conn, number, aid, pruned.frontier))
        for seq, _kind, _id, prev, refs, body, sig in store.iter_entries(conn, number):
            yield etp.wire_json(_entry(aid, (seq, prev, refs, body, sig), "entry"))
        for row in sorted(store.conflicts(conn, number), key=lambda row: row[0]):
            yield etp.wire_json(_entry(aid, row, "equivocation"))
    ids = {number: aid for number, aid, _key in everyone}
    for number, _kind, _log, _size, _sid, body, sig in statements:
        signer = ids.get(number)
        if signer is None:
            raise ExportError(f"a statement's author {number} has no key; run verify")
        try:
            statement = etp.open_statement(signer, body, sig)
        except InvalidData as err:
            raise ExportError(
                f"a statement of {signer.hex()} is damaged: {err}"
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
