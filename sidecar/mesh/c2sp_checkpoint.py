"""Each feed's checkpoints in the C2SP view: names, the signed note, proofs.

Every author's feed is an RFC 6962 log whose leaves are the hashes of its entry ids
(``SHA-256(0x00 || id)``). Its C2SP origin is ``local-vpp.invalid/<building>/<author
hex>``; the flat signs the checkpoint note with its P-256 key under the name of the
origin (type 0x02), and cosigns other logs with its Ed25519 witness key under the
origin followed by ``/witness`` (type 0x04). Everything here reads a database
connection given by the caller, so that it can run on a worker thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.config import Config
from sidecar.ledger import etp, files, merkle, signed_note, witness_key
from sidecar.ledger.identity import Identity, author_id, load_public_key
from sidecar.ledger.signed_note import CosignatureSigner, EcdsaSigner, Verifier
from sidecar.ledger.tlog import Checkpoint
from sidecar.storage import store

ORIGIN_HOST: Final = "local-vpp.invalid"
WITNESS_SUFFIX: Final = "/witness"
# What the node's witness cosigned, per origin: its last size and root.
WITNESS_RECORD: Final = "c2sp-witness.json"


def origin(building: str, author: bytes) -> str:
    """The C2SP origin (and the log key's name) of an author's feed."""
    return f"{ORIGIN_HOST}/{building}/{author.hex()}"


def witness_name(building: str, author: bytes) -> str:
    """The name of a node's witness key."""
    return origin(building, author) + WITNESS_SUFFIX


def log_verifier(building: str, public_key: bytes) -> Verifier:
    """The type 0x02 verifier of a member's checkpoints, from its compressed key."""
    key: ec.EllipticCurvePublicKey = load_public_key(public_key)
    return signed_note.ecdsa_verifier(origin(building, author_id(public_key)), key)


def latest(conn: sqlite3.Connection, building: str, author: bytes) -> Checkpoint | None:
    """The author's largest stored checkpoint, as a C2SP checkpoint (None if none)."""
    number = store.author_no(conn, author)
    if number is None:
        return None
    row = store.latest_checkpoint(conn, number)
    if row is None:
        return None
    statement = etp.open_statement(author, *row)
    size, root = statement.content["size"], statement.content["root"]
    assert isinstance(size, int)
    assert isinstance(root, str)
    return Checkpoint(origin(building, author), size, bytes.fromhex(root))


def tree(conn: sqlite3.Connection, author: bytes, size: int) -> merkle.Tree:
    """The author's tree of ``size`` leaves as stored (pruned leaves as a frontier)."""
    number = store.author_no(conn, author)
    if number is None:
        raise merkle.ProofUnavailable("this node holds nothing of that feed")
    pruned = store.pruned(conn, number)
    leaves = [
        merkle.leaf_hash(eid)
        for _seq, eid in store.entry_ids(conn, number, pruned.frontier.size, size)
    ]
    held = merkle.Tree(leaves, pruned.frontier)
    if held.size < size:
        raise merkle.ProofUnavailable(f"this node holds {held.size} of {size} entries")
    return held


def consistency(
    conn: sqlite3.Connection, author: bytes, first: int, second: int
) -> list[bytes]:
    """RFC 6962 consistency proof between sizes (empty from size 0, as C2SP asks)."""
    if first in (0, second):
        return []
    return tree(conn, author, second).consistency_proof(first, second)


class NoteCache:
    """The flat's checkpoint note of each tree head, signed once."""

    def __init__(self, signer: EcdsaSigner) -> None:
        self._signer = signer
        self.verifier = signer.verifier
        self._made: tuple[Checkpoint, str] | None = None

    def note(self, checkpoint: Checkpoint) -> str:
        """The checkpoint as a note signed by the flat's key (the same note again)."""
        if self._made is not None and self._made[0] == checkpoint:
            return self._made[1]
        text = checkpoint.text()
        note = signed_note.format_note(text, [self._signer.sign(text)])
        self._made = (checkpoint, note)
        return note


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` durably (whole or not at all, and kept)."""
    files.replace_durably(path, text.encode(), 0o600)


def read[R](db_path: Path, job: Callable[[sqlite3.Connection], R]) -> R:
    """Run ``job`` on a fresh read-only connection (for a worker thread)."""
    conn = store.connect(db_path, readonly=True)
    try:
        return job(conn)
    finally:
        conn.close()


def log_signer(config: Config, identity: Identity) -> EcdsaSigner:
    """The signer of the node's checkpoint notes: the flat key, named by the origin."""
    return EcdsaSigner(origin(config.building, identity.author), identity.private_key)


def witness_signer(
    config: Config, identity: Identity
) -> tuple[CosignatureSigner, bool]:
    """The node's cosigner, and whether its witness key was made just now.

    A new key comes with an empty record of what it cosigned, written first: a key
    without its record is a witness that forgot, and is refused (see ``TlogWitness``).
    Raises OSError when the key cannot be made, KeyFileError when it is unusable.
    """
    key_path = config.data_dir / witness_key.FILE_NAME
    if not key_path.exists():
        files.create_durably(config.data_dir / WITNESS_RECORD, b"{}\n", 0o600)
    key, made = witness_key.load_or_create(key_path)
    name = witness_name(config.building, identity.author)
    return CosignatureSigner(name, key), made
