"""The published test vectors hold, and are what the generator writes today."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecar.ledger import canonical, etp, kinds, merkle
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.identity import Identity, KeyRing, author_id
from sidecar.mesh import handshake, peer_auth, roster
from sidecar.mesh.membership import Membership
from sidecar.storage import store
from sidecar.storage.writer import Writer
from sidecar.tools.ingest import Ingestor
from sidecar.tools.verify import verify_database
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
    numbers = {author_id(key): store.add_author(conn, key)}
    try:
        for line in lines[1:]:
            if line["type"] == "author":
                other = bytes.fromhex(line["key"])
                numbers[author_id(other)] = store.add_author(conn, other)
                continue
            author = bytes.fromhex(line["author"])
            number = numbers.get(author)
            body = canonical.encode(line.get("body", {}))
            if line["type"] == "frontier":
                assert number is not None
                nodes = [bytes.fromhex(node) for node in line["nodes"]]
                frontier = merkle.Frontier(line["size"], nodes)
                store.adopt_frontier(conn, number, frontier)
                continue
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
                log = bytes.fromhex(line["body"].get("log", author.hex()))
                conn.execute(
                    store.INSERT_STATEMENT,
                    (
                        number,
                        line["type"],
                        numbers.get(log),
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
        members = case.get("roster")
        report = verify_database(
            path, None if members is None else roster.parse(members)
        )
        found = {(f.code, f.where) for f in report.findings}
        expected = {(f["code"], f["where"]) for f in case["findings"]}
        assert expected <= found, (case["description"], found)
        assert bool(expected) or report.ok, (case["description"], found)
        notices = {(f.code, f.where) for f in report.notices}
        assert {(f["code"], f["where"]) for f in case["notices"]} <= notices


def test_database_vectors(tmp_path: Path) -> None:
    vectors = _load("database.json")
    feed = _load("feed.json")
    copies = {case["description"]: case["lines"] for case in feed["altered"]}
    for number, case in enumerate(vectors["cases"]):
        path = tmp_path / f"damaged{number}.db"
        lines = feed["lines"] if case["feed"] is None else copies[case["feed"]]
        _load_unchecked(path, feed["building"], lines)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            for statement in case.get("sql", []):
                conn.execute(statement)
        finally:
            conn.close()
        if "overwrite" in case:
            data = bytearray(path.read_bytes())
            patch = bytes.fromhex(case["overwrite"]["hex"])
            offset = case["overwrite"]["offset"]
            data[offset : offset + len(patch)] = patch
            path.write_bytes(bytes(data))
        found = {finding.code for finding in verify_database(path).findings}
        assert set(case["findings"]) <= found, (case["description"], found)


def _mesh_ring(vectors: dict[str, Any]) -> KeyRing:
    ring = KeyRing()
    for key in vectors["keys"].values():
        identity = Identity.from_scalar(int(key["private_scalar"], 16))
        assert identity.public_key.hex() == key["public_key"]
        assert author_id(identity.public_key).hex() == key["author"]
        ring.add(identity.public_key)
    return ring


def _approvals(items: list[dict[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(bytes.fromhex(a["author"]), bytes.fromhex(a["sig"])) for a in items]


def test_roster_vectors() -> None:
    vectors = _load("mesh.json")
    ring = _mesh_ring(vectors)
    part = vectors["roster"]
    assert bytes.fromhex(part["tag"]) == roster.TAG_ROSTER
    first = roster.parse(part["first"]["document"])
    assert (
        canonical.encode(part["first"]["document"])
        == part["first"]["canonical"].encode()
    )
    assert first.digest.hex() == part["first"]["digest"]
    assert (
        hashlib.sha256(
            roster.TAG_ROSTER + part["first"]["canonical"].encode()
        ).hexdigest()
        == part["first"]["digest"]
    )
    assert first.majority == part["first"]["majority"]
    proposed = roster.parse(part["proposal"]["document"])
    assert proposed.digest.hex() == part["proposal"]["digest"]
    assert proposed.prev == first.digest
    approvals = _approvals(part["proposal"]["approvals"])
    for author, sig in approvals:
        assert ring.verify(author, proposed.digest, sig)
    roster.check_change(first, proposed, approvals)
    entry = _open(part["entry"])
    assert entry.id.hex() == part["entry"]["id"]
    etp.check_signature(entry, ring)
    recorded, recorded_approvals = roster.from_entry_body(entry.content)
    assert recorded == proposed
    roster.check_change(first, recorded, recorded_approvals)
    for case in part["invalid_changes"]:
        with pytest.raises(roster.RosterError) as caught:
            roster.check_change(
                first,
                roster.parse(case["proposal"]),
                _approvals(case["approvals"]),
            )
        assert caught.value.reason == case["reason"], case["description"]
    for case in part["submissions"]:
        membership = Membership(first, bytes(32), lambda reason: None)
        document = part["proposal"]["document"]
        approvals = part["proposal"]["approvals"]
        refused = _refusal(membership.proposal, document, approvals, case["now_ms"])
        assert refused == case["reason"], case["description"]
    for case in part["invalid_documents"]:
        with pytest.raises(roster.RosterError) as caught:
            roster.parse(case["document"])
        assert caught.value.reason == case["reason"], case["description"]


def test_mesh_auth_vectors() -> None:
    vectors = _load("mesh.json")
    ring = _mesh_ring(vectors)
    auth = vectors["auth"]
    assert bytes.fromhex(auth["tag"]) == peer_auth.TAG_AUTH
    fields = {
        "building": auth["building"],
        "dialer_nonce": bytes.fromhex(auth["dialer_nonce"]),
        "listener_nonce": bytes.fromhex(auth["listener_nonce"]),
        "dialer": bytes.fromhex(auth["dialer"]),
        "listener": bytes.fromhex(auth["listener"]),
    }
    exchange = peer_auth.Exchange(**fields)
    for item in auth["roles"]:
        role = item["role"]
        preimage = bytes.fromhex(item["preimage"])
        assert hashlib.sha256(preimage).hexdigest() == item["transcript"]
        assert exchange.transcript(role).hex() == item["transcript"]
        assert peer_auth.check(ring, role, exchange, bytes.fromhex(item["proof"]))
    hello, challenge, auth_frame, ready = auth["frames"]
    assert (hello["nonce"], challenge["nonce"]) == (
        auth["dialer_nonce"],
        auth["listener_nonce"],
    )
    assert challenge["proof"] == auth["roles"][1]["proof"]
    assert auth_frame["proof"] == auth["roles"][0]["proof"]
    assert ready == {"type": "ready"}
    for case in auth["invalid"]:
        changed = dict(fields)
        if case["exchange"] != "same":
            for name, value in case["exchange"].items():
                changed[name] = value if name == "building" else bytes.fromhex(value)
        assert not peer_auth.check(
            ring,
            case["role"],
            peer_auth.Exchange(**changed),
            bytes.fromhex(case["proof"]),
        ), case["description"]
    for case in auth["hellos"]:
        refused = _refusal(
            handshake.check_hello, case["hello"], auth["building"], generate.T0, 30_000
        )
        assert refused == case["reason"], case["description"]


def _refusal(call: Callable[..., object], *args: Any) -> str | None:
    """The code ``call(*args)`` is refused with, or None if it is taken."""
    try:
        call(*args)
    except InvalidData as err:
        return err.reason
    return None


def test_witnessed_and_invalid_mesh_entries() -> None:
    vectors = _load("mesh.json")
    ring = _mesh_ring(vectors)
    item = vectors["witnessed"]
    entry = _open(item)
    assert etp.body_digest(entry.body).hex() == item["body_digest"]
    assert entry.id.hex() == item["id"]
    etp.check_signature(entry, ring)
    assert entry.kind == kinds.WITNESSED
    for case in vectors["invalid_entries"]:
        with pytest.raises(InvalidData) as caught:
            etp.check_signature(_open(case), ring)
        assert caught.value.reason == case["reason"], case["description"]


def test_exchange_vectors(tmp_path: Path) -> None:
    vectors = _load("exchange.json")
    own = Identity.from_scalar(generate.SCALAR)
    for number, case in enumerate(vectors["cases"]):
        path = tmp_path / f"receiver{number}.db"
        store.create(path, vectors["building"], own.public_key)
        writer = Writer(path)
        writer.start()
        conn = store.connect(path, readonly=True)
        try:
            ingestor = Ingestor(conn, writer)
            for line in vectors["context"]:
                assert ingestor.line(json.dumps(line)) is None, line
            text = case.get("text") or json.dumps(case["line"])
            assert ingestor.line(text) == case["reason"], case["description"]
            ingestor.finish()
        finally:
            writer.close()
            conn.close()
