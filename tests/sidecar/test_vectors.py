"""The published test vectors hold, and are what the generator writes today."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sidecar import canonical, etp, kinds, merkle, store
from sidecar.errors import InvalidData
from sidecar.identity import Identity, KeyRing, author_id
from sidecar.verify import verify_database
from tests.vectors import generate

VECTORS = Path(generate.__file__).parent


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", sorted(generate.FILES))
def test_the_vector_files_are_current(name: str) -> None:
    assert (VECTORS / name).read_text(encoding="utf-8") == generate.render(name), (
        f"run: python -m tests.vectors.generate ({name} is stale)"
    )


def test_canonical_vectors() -> None:
    vectors = _load("canonical.json")
    for item in vectors["valid"]:
        data = bytes.fromhex(item["hex"])
        assert data.decode() == item["canonical"]
        assert canonical.encode(item["value"]) == data
        assert canonical.decode(data) == item["value"]
    for item in vectors["invalid"]:
        with pytest.raises(InvalidData) as caught:
            canonical.decode(bytes.fromhex(item["hex"]))
        assert caught.value.reason == item["reason"], item["why"]


def _ring(vectors: dict[str, Any]) -> KeyRing:
    ring = KeyRing()
    for name in ("key", "witness"):
        key = vectors[name]
        identity = Identity.from_scalar(int(key["private_scalar"], 16))
        assert identity.public_key.hex() == key["public_key"]
        assert author_id(identity.public_key).hex() == key["author"]
        ring.add(identity.public_key)
    return ring


def _open(item: dict[str, Any]) -> etp.Entry:
    return etp.open_entry(
        bytes.fromhex(item["author"]),
        item["seq"],
        bytes.fromhex(item["prev"]),
        tuple(bytes.fromhex(ref) for ref in item["refs"]),
        item["body"].encode(),
        bytes.fromhex(item["sig"]),
    )


def test_entry_and_statement_vectors() -> None:
    vectors = _load("etp.json")
    ring = _ring(vectors)
    assert bytes.fromhex(vectors["tags"]["entry"]) == etp.TAG_ENTRY
    for item in vectors["entries"]:
        entry = _open(item)
        assert etp.body_digest(entry.body).hex() == item["body_digest"]
        assert entry.id.hex() == item["id"]
        etp.check_signature(entry, ring)
    for item in vectors["statements"]:
        statement = etp.open_statement(
            bytes.fromhex(item["author"]),
            item["body"].encode(),
            bytes.fromhex(item["sig"]),
        )
        assert statement.id.hex() == item["id"]
        etp.check_signature(statement, ring)
    for item in vectors["invalid"]:
        with pytest.raises(InvalidData) as caught:
            etp.check_signature(_open(item), ring)
        assert caught.value.reason == item["reason"], item["description"]


def _hashes(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(item) for item in items]


def test_merkle_vectors() -> None:
    vectors = _load("merkle.json")
    leaves = _hashes(vectors["leaf_hashes"])
    assert [merkle.leaf_hash(d) for d in _hashes(vectors["leaf_data"])] == leaves
    roots = _hashes(vectors["roots"])
    assert roots == [merkle.root(leaves[:n]) for n in range(len(leaves) + 1)]
    frontier = merkle.Frontier(7, _hashes(vectors["frontier_of_7"]))
    assert frontier.root() == roots[7]
    for item in vectors["inclusion"]:
        path = _hashes(item["path"])
        index, size = item["index"], item["size"]
        assert merkle.verify_inclusion(leaves[index], index, size, path, roots[size])
    for item in vectors["invalid_inclusion"]:
        path = _hashes(item["path"])
        index, size = item["index"], item["size"]
        assert not merkle.verify_inclusion(
            leaves[index], index, size, path, roots[size]
        )
    for item in vectors["consistency"]:
        first, second = item["from"], item["to"]
        assert merkle.verify_consistency(
            first, second, _hashes(item["path"]), roots[first], roots[second]
        )
    for item in vectors["invalid_consistency"]:
        first, second = item["from"], item["to"]
        assert not merkle.verify_consistency(
            first, second, _hashes(item["path"]), roots[first], roots[second]
        )


def _load_unchecked(path: Path, building: str, lines: list[dict[str, Any]]) -> None:
    """Write exchange lines straight into a database, as a damaged node might hold
    them, so that the verifier (not the importer) has to find what is wrong."""
    key = bytes.fromhex(lines[0]["key"])
    store.create(path, building, key)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for line in lines[1:]:
            author = bytes.fromhex(line["author"])
            number = store.add_author(conn, key) if author == author_id(key) else None
            body = canonical.encode(line["body"])
            if line["type"] in ("entry", "equivocation"):
                refs = tuple(bytes.fromhex(ref) for ref in line["refs"])
                prev = bytes.fromhex(line["prev"])
                eid = etp.entry_id(
                    author, line["seq"], prev, etp.body_digest(body), refs
                )
                table = "entries" if line["type"] == "entry" else "conflicts"
                kind = kinds.count_key(line["body"]["kind"], line["body"])
                values = (number, line["seq"], eid, prev, b"".join(refs), body)
                sig = bytes.fromhex(line["sig"])
                if table == "entries":
                    conn.execute(
                        store.INSERT_ENTRY, (*values[:2], kind, *values[2:], sig)
                    )
                else:
                    conn.execute(store.INSERT_CONFLICT, (*values, sig))
            else:
                sid = etp.statement_id(author, etp.body_digest(body))
                conn.execute(
                    store.INSERT_STATEMENT,
                    (
                        number,
                        line["type"],
                        number,
                        line["body"]["size"],
                        sid,
                        body,
                        bytes.fromhex(line["sig"]),
                    ),
                )
    finally:
        conn.close()


def test_feed_vectors(tmp_path: Path) -> None:
    vectors = _load("feed.json")
    _load_unchecked(tmp_path / "clean.db", vectors["building"], vectors["lines"])
    report = verify_database(tmp_path / "clean.db")
    assert report.ok, report.findings
    for number, case in enumerate(vectors["altered"]):
        path = tmp_path / f"altered{number}.db"
        _load_unchecked(path, vectors["building"], case["lines"])
        found = {(f.code, f.where) for f in verify_database(path).findings}
        expected = {(f["code"], f["where"]) for f in case["findings"]}
        assert expected <= found, (case["description"], found)
