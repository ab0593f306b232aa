"""The node's key pair: creation, the 0600 key file, signing, and cached verification.

Keys are ECDSA P-256; signatures are 64-byte ``r || s`` with low S (PROTOCOL.md
section 4).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

CURVE_ORDER: Final = int(
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16
)
HALF_ORDER: Final = CURVE_ORDER // 2
SIGNATURE_BYTES: Final = 64
PUBLIC_KEY_BYTES: Final = 33
_ECDSA: Final = ec.ECDSA(hashes.SHA256())
_ECDSA_DETERMINISTIC: Final = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


class KeyFileError(Exception):
    """The key file is missing, unreadable, not a P-256 key, or too widely readable."""


class PublicKeyError(ValueError):
    """Bytes that are not a compressed P-256 public key."""


def author_id(public_key: bytes) -> bytes:
    """The author id: SHA-256 of the 33-byte compressed public key."""
    return hashlib.sha256(public_key).digest()


class Identity:
    """A node's private key with its public key and author id."""

    __slots__ = ("author", "private_key", "public_key")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise KeyFileError(f"the key is on {private_key.curve.name}, not P-256")
        self.private_key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        self.author = author_id(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_scalar(cls, scalar: int) -> Identity:
        """A key pair from its private scalar (used for the published test vectors)."""
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()))

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM with mode 0600; never overwrite a file."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as err:
            raise KeyFileError(
                f"{path} already exists; refusing to overwrite a node key "
                "(the key is the flat's identity in the ledger)"
            ) from err
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: Path) -> Identity:
        """Read the key file, refusing one that group or others can read."""
        try:
            key = read_private_key(path, "node's private key")
        except FileNotFoundError as err:
            raise KeyFileError(
                f"{path} does not exist; the node's 'init' command creates it"
            ) from err
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyFileError(f"{path} holds a {type(key).__name__}, not an EC key")
        return cls(key)

    def sign(self, message: bytes, *, deterministic: bool = False) -> bytes:
        """Sign ``message`` (an id); 64-byte ``r || s`` with s normalised to low S."""
        der = self.private_key.sign(
            message, _ECDSA_DETERMINISTIC if deterministic else _ECDSA
        )
        r, s = decode_dss_signature(der)
        if s > HALF_ORDER:
            s = CURVE_ORDER - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def load_public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a 33-byte compressed point."""
    if len(public_key) != PUBLIC_KEY_BYTES or public_key[0] not in (2, 3):
        raise PublicKeyError("a public key is 33 bytes starting with 02 or 03")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    except ValueError as err:
        raise PublicKeyError("not a point on P-256") from err


def signature_problem(sig: bytes) -> str | None:
    """Why a signature's encoding is invalid (length, range, high S), or None."""
    if len(sig) != SIGNATURE_BYTES:
        return f"a signature is {SIGNATURE_BYTES} bytes, got {len(sig)}"
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not 1 <= r < CURVE_ORDER:
        return "r is outside 1..n-1"
    if not 1 <= s <= HALF_ORDER:
        return "s is outside 1..n/2 (high-S or zero)"
    return None


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, sig: bytes) -> bool:
    """Check a low-S ``r || s`` signature over ``message``."""
    if signature_problem(sig) is not None:
        return False
    der = encode_dss_signature(
        int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    )
    try:
        public_key.verify(der, message, _ECDSA)
    except InvalidSignature:
        return False
    return True


class KeyRing:
    """Known authors' public keys, parsed once.

    Loading a point costs a third of a verification, so keys are never parsed per
    entry.
    """

    def __init__(self) -> None:
        self._keys: dict[bytes, ec.EllipticCurvePublicKey] = {}

    def add(self, public_key: bytes) -> bytes:
        """Register a compressed public key; returns its author id."""
        author = author_id(public_key)
        if author not in self._keys:
            self._keys[author] = load_public_key(public_key)
        return author

    def __contains__(self, author: object) -> bool:
        return author in self._keys

    def verify(self, author: bytes, message: bytes, sig: bytes) -> bool:
        """Verify a signature by a known author (KeyError for an unknown one)."""
        return verify(self._keys[author], message, sig)


def read_private_key(path: Path, what: str) -> PrivateKeyTypes:
    """The PEM private key at ``path``, refusing a file group or others can read.

    Raises FileNotFoundError when there is no file, KeyFileError when it is unusable;
    ``what`` names the key in the advice.
    """
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} has mode {stat.S_IMODE(mode):04o}; other users could read the "
            f"{what}. Run: chmod 600 {path}"
        )
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from err
