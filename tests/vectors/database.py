"""Damaged database files and the findings ``verify`` reports for them.

Not part of the protocol: the layout of a node's database file is this
implementation's own (SIDECAR.md), so another implementation never reads one. These
vectors pin down what the reference ``verify`` says about a damaged file, in the one
form a database can be described in text: the feed of ``feed.json`` (or one of its
altered copies) written into a fresh database, then SQL statements against its tables,
or bytes written over part of the file.
"""

from __future__ import annotations

from typing import Any

from sidecar.ledger.identity import author_id
from tests.vectors.generate import KEY

_TWIN = "a second signed entry for seq 3"
_NOT_A_POINT = bytes([2]) + (1).to_bytes(32, "big")  # x = 1 is not on P-256


def database_vectors() -> dict[str, Any]:
    """Damage done to a database holding a feed, and the findings it causes."""

    def case(
        description: str,
        findings: list[str],
        *,
        sql: list[str] | None = None,
        overwrite: dict[str, Any] | None = None,
        feed: str | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"description": description, "feed": feed}
        if sql is not None:
            item["sql"] = sql
        if overwrite is not None:
            item["overwrite"] = overwrite
        item["findings"] = findings
        return item

    return {
        "description": "Damaged database files (this implementation's layout, "
        "SIDECAR.md; not part of the protocol). Each case starts from a fresh "
        "database holding the lines of feed.json ('feed' null) or of the altered "
        "copy of feed.json with that description, written as they are; then runs "
        "'sql' against it, or writes the hex bytes of 'overwrite' at its offset into "
        "the closed file. 'findings' are codes verify must report at least.",
        "author": KEY.author.hex(),
        "cases": [
            case(
                "an author id that is not the hash of the stored key",
                ["key_mismatch"],
                sql=["UPDATE authors SET id = zeroblob(32)"],
            ),
            case(
                "a stored key that is not a P-256 point",
                ["bad_key"],
                sql=[
                    f"UPDATE authors SET key = X'{_NOT_A_POINT.hex()}', "
                    f"id = X'{author_id(_NOT_A_POINT).hex()}'"
                ],
            ),
            case(
                "a stored kind column that is not the entry's",
                ["bad_column"],
                sql=["UPDATE entries SET kind = 'rollup_1' WHERE seq = 3"],
            ),
            case(
                "an equivocation twin whose signature is damaged",
                ["bad_evidence"],
                sql=["UPDATE conflicts SET sig = zeroblob(64)"],
                feed=_TWIN,
            ),
            case(
                "a stored key of the wrong storage type (text, not bytes)",
                ["bad_column"],
                sql=["UPDATE authors SET key = 'not bytes'"],
            ),
            case(
                "a database that names no building",
                ["bad_meta"],
                sql=["DELETE FROM meta WHERE key = 'building'"],
            ),
            case(
                "an SQLite file without the ledger's tables",
                ["not_a_ledger"],
                sql=["DROP TABLE meta"],
            ),
            case(
                "the first page's b-tree header overwritten",
                ["database_corrupt"],
                overwrite={"offset": 100, "hex": "00" * 8},
            ),
        ],
    }
