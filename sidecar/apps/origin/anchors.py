"""Ledger proofs of certificates: hourly rollups anchored in cosigned checkpoints.

A certificate names the hourly rollup that sums its entries; the rollup is signed by
the flat and carries the Merkle root of the flat's whole log up to its last entry,
so it names every entry summed. Each hourly rollup refers to the previous one, so
one RFC 6962 inclusion proof of a flat's latest hourly rollup (the *anchor*) in a
checkpoint that a majority of the building signed (the flat's checkpoint and the
witnesses' cosignatures of the same root) proves every earlier one through the
chain of references.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sidecar.apps.origin.hourly import Flat
from sidecar.ledger import canonical, etp, kinds, merkle
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.storage import origin_reads, store


@dataclass(frozen=True, slots=True)
class Anchor:
    """A flat's anchor line and the hourly rollups it proves (by seq)."""

    line: JsonObject
    covered: frozenset[int]


def majority(signers: int, members: int) -> bool:
    """Whether ``signers`` of ``members`` are more than half."""
    return 2 * signers > members


def cosigned_heads(
    conn: sqlite3.Connection, log: int, members: int
) -> list[tuple[int, str]]:
    """The (size, root) heads of a log a majority signed, largest size first.

    A head counts when the log's author signed it as a checkpoint; each witness
    cosigning the same size and root adds one signer.
    """
    signers: dict[tuple[int, str], set[int]] = {}
    checkpointed: set[tuple[int, str]] = set()
    for signer, kind, size, body, _sig in origin_reads.checkpoint_rows(conn, log):
        try:
            root = canonical_root(body)
        except InvalidData:
            continue
        head = (size, root)
        signers.setdefault(head, set()).add(signer)
        if kind == kinds.CHECKPOINT and signer == log:
            checkpointed.add(head)
    heads = [head for head in checkpointed if majority(len(signers[head]), members)]
    return sorted(heads, reverse=True)


def canonical_root(body: bytes) -> str:
    """The ``root`` of a stored checkpoint or cosign body."""
    root = canonical.decode(body).get("root")
    if not isinstance(root, str):
        raise InvalidData("bad_member", "a head without a root")
    return root


def anchor(conn: sqlite3.Connection, flat: Flat) -> Anchor | None:
    """The anchor of a flat's certificates, if a majority cosigned a head over one."""
    number = store.author_no(conn, flat.author)
    if number is None or not flat.rollups:
        return None
    members = len(store.authors(conn))
    for size, root in cosigned_heads(conn, number, members):
        seqs = [seq for seq in flat.rollups if seq <= size]
        if not seqs:
            continue
        seq = max(seqs)
        pruned = store.pruned(conn, number)
        leaves = [
            merkle.leaf_hash(eid)
            for _seq, eid in store.entry_ids(conn, number, pruned.frontier.size, size)
        ]
        tree = merkle.Tree(leaves, pruned.frontier)
        try:
            path = tree.inclusion_proof(seq - 1, size)
        except merkle.ProofUnavailable:
            return None
        if tree.root(size).hex() != root:
            return None  # the store does not hold the log that was signed
        rollup_id = flat.rollups[seq][0]
        line: JsonObject = {
            "type": "anchor",
            "log": flat.author.hex(),
            "seq": seq,
            "id": rollup_id.hex(),
            "checkpoint": {"size": size, "root": root},
            "path": [node.hex() for node in path],
        }
        return Anchor(line, chain(flat.rollups, seq))
    return None


def chain(rollups: dict[int, tuple[bytes, bytes | None]], seq: int) -> frozenset[int]:
    """The seqs of the hourly rollups reached from ``seq`` through their refs."""
    by_id = {eid: number for number, (eid, _ref) in rollups.items()}
    covered: set[int] = set()
    current: int | None = seq
    while current is not None and current not in covered:
        covered.add(current)
        ref = rollups[current][1]
        current = None if ref is None else by_id.get(ref)
    return frozenset(covered)


def check_anchor(line: dict[str, object], rollup: etp.Entry) -> str | None:
    """Why an anchor line does not prove its rollup in its head (None if it does)."""
    head = line.get("checkpoint")
    path = line.get("path")
    if not isinstance(head, dict) or not isinstance(path, list):
        return "the anchor has no checkpoint or path"
    size, root = head.get("size"), head.get("root")
    if not isinstance(size, int) or not isinstance(root, str):
        return "the anchor's checkpoint has no size or root"
    try:
        nodes = [bytes.fromhex(str(node)) for node in path]
        expected = bytes.fromhex(root)
    except ValueError:
        return "the anchor's hashes are not hex"
    if not merkle.verify_inclusion(
        merkle.leaf_hash(rollup.id), rollup.seq - 1, size, nodes, expected
    ):
        return "the inclusion proof does not lead to the checkpoint's root"
    return None
