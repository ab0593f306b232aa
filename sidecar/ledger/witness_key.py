"""The node's Ed25519 witness key, for C2SP tlog-cosignatures.

C2SP cosignatures (type 0x04) are Ed25519, and the flat's identity is a P-256 key, so
each node has a second key for cosigning other logs' checkpoints. It lives beside the
flat key in the data directory, as unencrypted PKCS#8 PEM with mode 0600, is made on
the node's first start, and is never logged or sent. Losing it costs nothing in the
ledger: a new one is made, and whoever trusts the old one is given the new vkey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sidecar.ledger.files import create_durably
from sidecar.ledger.identity import KeyFileError, read_private_key

FILE_NAME: Final = "witness.key"


def load_or_create(path: Path) -> tuple[ed25519.Ed25519PrivateKey, bool]:
    """The key at ``path``, made first if there is none; and whether it was made."""
    try:
        return load(path), False
    except FileNotFoundError:
        pass
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Whole or not at all: a crash never leaves an empty key that stops the witness.
    if not create_durably(path, pem, 0o600):
        return load(path), False  # made by another process meanwhile
    return key, True


def load(path: Path) -> ed25519.Ed25519PrivateKey:
    """Read the key, refusing a file group or others can read.

    Raises FileNotFoundError when there is no file, KeyFileError when it is unusable.
    """
    key = read_private_key(path, "node's witness key")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
