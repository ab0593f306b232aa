"""Key pairs: the 0600 key file, author ids, low-S signatures, cached verification."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sidecar.ledger import identity
from sidecar.ledger.identity import (
    CURVE_ORDER,
    Identity,
    KeyFileError,
    KeyRing,
    PublicKeyError,
)


def test_the_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    key = Identity.generate()
    path = tmp_path / "node.key"
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Identity.load(path).author == key.author
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        Identity.generate().save(path)
    assert Identity.load(path).author == key.author


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    Identity.generate().save(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Identity.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a key", "not an unencrypted PEM"), (None, "does not exist")],
)
def test_bad_key_files_say_what_is_wrong(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "node.key"
    if content is not None:
        path.write_bytes(content)
        path.chmod(0o600)
    with pytest.raises(KeyFileError, match=message):
        Identity.load(path)


def test_the_author_id_is_the_hash_of_the_compressed_key() -> None:
    key = Identity.generate()
    assert len(key.public_key) == 33
    assert key.public_key[0] in (2, 3)
    assert key.author == hashlib.sha256(key.public_key).digest()


def test_signatures_are_low_s_and_verify() -> None:
    key = Identity.generate()
    ring = KeyRing()
    assert ring.add(key.public_key) == key.author
    for index in range(64):
        message = (index + 1).to_bytes(32, "big")
        sig = key.sign(message)
        assert len(sig) == 64
        assert int.from_bytes(sig[32:], "big") <= CURVE_ORDER // 2
        assert ring.verify(key.author, message, sig)
        assert not ring.verify(key.author, bytes(32), sig)


def test_the_high_s_twin_of_a_valid_signature_is_refused() -> None:
    key = Identity.generate()
    sig = key.sign(bytes(32))
    s = int.from_bytes(sig[32:], "big")
    twin = sig[:32] + (CURVE_ORDER - s).to_bytes(32, "big")
    assert identity.signature_problem(twin) == "s is outside 1..n/2 (high-S or zero)"
    assert not identity.verify(key.private_key.public_key(), bytes(32), twin)


@pytest.mark.parametrize(
    "sig",
    [
        b"\x01" * 63,
        bytes(32) + b"\x01" * 32,
        CURVE_ORDER.to_bytes(32, "big") + b"\x01" * 32,
    ],
)
def test_malformed_signatures_are_refused_before_verification(sig: bytes) -> None:
    assert identity.signature_problem(sig) is not None


@pytest.mark.parametrize("key", [b"\x04" + bytes(32), b"\x02" + b"\xff" * 32, b"\x02"])
def test_bad_public_keys_are_refused(key: bytes) -> None:
    with pytest.raises(PublicKeyError):
        identity.load_public_key(key)


def test_deterministic_signing_reproduces_the_same_bytes() -> None:
    key = Identity.from_scalar(0xC0FFEE)
    assert key.sign(b"x" * 32, deterministic=True) == key.sign(
        b"x" * 32, deterministic=True
    )
