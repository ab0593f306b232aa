"""C2SP signed notes, checkpoints and tlog-witness texts, against published vectors.

The vectors are data from elsewhere: the example of c2sp.org/signed-note, the example
key and note of golang.org/x/mod/sumdb/note, and an ECDSA (type 0x02) and a
cosignature/v1 (type 0x04) note made by github.com/transparency-dev/formats/note
(the implementation signed-note names for ECDSA).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sidecar.ledger import signed_note, tlog
from sidecar.ledger.signed_note import (
    CosignatureSigner,
    EcdsaSigner,
    NoteError,
    Signature,
)

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsY"
    "jOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
GO_SKEY = (
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
)
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
VECTOR_ROOT = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
ECDSA_VKEY = (
    "vec.example/ecdsa0+edb92772+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA9jLvlRDMRwcSnM"
    "MSOcMPkb5GNEkgcXpG3skkw17+U/xy2NhJ27SfE/7XcSGBT6oxyEY1sKCfnwPuGhShpIKVg="
)
ECDSA_NOTE = (
    f"vec.example/ecdsa0\n42\n{VECTOR_ROOT}\n\n"
    "— vec.example/ecdsa0 7bkncjBEAiBvSS5/zaj/2g0WzBxrHE8qX50ALWhytLBsXvakecgkFwIgbgI"
    "KepLsXT93T2oKbMPI7nwFV5pmDOqsIcCx5FaI7Ro=\n"
)
COSIG_VKEY = (
    "vec.example/cosigv10+c12688da+BLMSTPoQj0PojM8eKiPf9xUT8g6b0OuMyvYb5sSu9JH5"
)
COSIG_NOTE = (
    f"vec.example/cosigv10\n42\n{VECTOR_ROOT}\n\n"
    "— vec.example/cosigv10 wSaI2gAAAABqbL5Q3HjbTCJeqMg3tmpdYGAg05ijTi7k0pyreJSULmtv3g"
    "+yXH+G/Ko87JG+QkLF6af9+GVVNlEIgf6T0bw0wQyMDw==\n"
)


def test_the_signed_note_spec_example_verifies() -> None:
    verifier = signed_note.parse_vkey(SPEC_VKEY)
    text, verified = signed_note.open_note(SPEC_NOTE, [verifier])
    assert text == "This is an example message.\n"
    assert [signature.name for signature in verified] == ["example.com/foo"]
    assert verifier.vkey() == SPEC_VKEY


def test_the_go_reference_key_and_note_byte_for_byte() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    verifier = signed_note.ed25519_verifier("PeterNeumann", public)
    assert verifier.vkey() == GO_VKEY
    line = Signature("PeterNeumann", verifier.key_id, key.sign(GO_TEXT.encode())).line()
    assert line == GO_LINE
    note = signed_note.format_note(GO_TEXT, [signed_note.parse_line(line[:-1])])
    assert note == GO_TEXT + "\n" + GO_LINE
    assert signed_note.open_note(note, [signed_note.parse_vkey(GO_VKEY)])[0] == GO_TEXT


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_LINE[:-1],
        "\x01" + GO_TEXT + "\n" + GO_LINE,
        GO_TEXT + "\n" + GO_LINE.replace("PeterNeumann", "Bad Name"),
        GO_TEXT + "\n" + GO_LINE + "Unexpected line.\n",
    ],
)
def test_the_go_reference_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        signed_note.open_note(note, [signed_note.parse_vkey(GO_VKEY)])


def test_an_ecdsa_note_of_the_reference_implementation_verifies() -> None:
    verifier = signed_note.parse_vkey(ECDSA_VKEY)
    assert verifier.sig_type == signed_note.TYPE_ECDSA
    # Type 0x02 key IDs hash the DER public key alone, without the name.
    assert verifier.key_id == hashlib.sha256(verifier.public_key).digest()[:4]
    text, _ = signed_note.open_note(ECDSA_NOTE, [verifier])
    assert tlog.parse_checkpoint(text) == tlog.Checkpoint(
        "vec.example/ecdsa0", 42, base64.b64decode(VECTOR_ROOT)
    )
    with pytest.raises(NoteError, match="does not verify"):
        signed_note.open_note(ECDSA_NOTE.replace("\n42\n", "\n43\n"), [verifier])


def test_a_cosignature_of_the_reference_implementation_verifies() -> None:
    verifier = signed_note.parse_vkey(COSIG_VKEY)
    assert verifier.sig_type == signed_note.TYPE_COSIGNATURE_V1
    _, verified = signed_note.open_note(COSIG_NOTE, [verifier])
    assert signed_note.cosignature_time(verified[0]) > 1_600_000_000
    with pytest.raises(NoteError, match="does not verify"):
        signed_note.open_note(COSIG_NOTE.replace("\n42\n", "\n43\n"), [verifier])


def test_the_flat_key_signs_a_checkpoint_that_its_vkey_verifies() -> None:
    signer = EcdsaSigner(
        "local-vpp.invalid/b/aa", ec.generate_private_key(ec.SECP256R1())
    )
    text = tlog.Checkpoint("local-vpp.invalid/b/aa", 7, bytes(32)).text()
    assert (
        text
        == "local-vpp.invalid/b/aa\n7\n" + base64.b64encode(bytes(32)).decode() + "\n"
    )
    note = signed_note.format_note(text, [signer.sign(text)])
    verifier = signed_note.parse_vkey(signer.verifier.vkey())
    assert signed_note.open_note(note, [verifier])[0] == text


def test_a_cosignature_signs_the_header_the_time_and_the_text() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    signer = CosignatureSigner("w.example/w1", key)
    text = f"example.com/behind-the-sofa\n20852163\n{VECTOR_ROOT}\n"
    signature = signer.sign(text, 1679315147)
    assert signature.signature[:8] == (1679315147).to_bytes(8, "big")
    key.public_key().verify(
        signature.signature[8:],
        f"cosignature/v1\ntime 1679315147\n{text}".encode(),
    )
    public = signer.verifier.public_key
    assert (
        signer.verifier.key_id
        == hashlib.sha256(b"w.example/w1\n\x04" + public).digest()[:4]
    )
    note = signed_note.format_note(text, [signature])
    assert signed_note.open_note(note, [signed_note.parse_vkey(signer.verifier.vkey())])


def test_unknown_keys_are_ignored_and_a_known_bad_signature_rejects() -> None:
    verifier = signed_note.parse_vkey(GO_VKEY)
    stranger = GO_LINE.replace("PeterNeumann", "someone.else")
    assert signed_note.open_note(GO_TEXT + "\n" + stranger + GO_LINE, [verifier])
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        signed_note.open_note(GO_TEXT + "\n" + stranger, [verifier])
    corrupted = GO_LINE.replace("RyyBwJnAM=", "RyyBwJnBM=")
    with pytest.raises(NoteError, match="does not verify"):
        signed_note.open_note(GO_TEXT + "\n" + corrupted, [verifier])


@pytest.mark.parametrize(
    ("vkey", "problem"),
    [
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "32",
        ),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "0x65"),
        (
            "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key ID",
        ),
        ("PeterNeumann+c74f20a3", "a verifier key is"),
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        signed_note.parse_vkey(vkey)


@pytest.mark.parametrize(
    "text",
    [
        f"o\n01\n{VECTOR_ROOT}\n",
        f"o\n-1\n{VECTOR_ROOT}\n",
        "o\n1\nAAAA\n",
        "o\n1\n",
        f"o\n1\n{VECTOR_ROOT}\n\n",
        f"o\n1\n{VECTOR_ROOT}",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        tlog.parse_checkpoint(text)


def test_an_add_checkpoint_body_round_trips() -> None:
    proof = (bytes(32), bytes([1]) * 32)
    request = tlog.AddCheckpoint(5, proof, ECDSA_NOTE)
    body = request.body()
    assert body.startswith(b"old 5\n" + base64.b64encode(bytes(32)) + b"\n")
    assert tlog.parse_add_checkpoint(body) == request
    assert tlog.parse_add_checkpoint(b"old 0\n\n" + ECDSA_NOTE.encode()).proof == ()
    too_long = tlog.AddCheckpoint(5, (bytes(32),) * 64, ECDSA_NOTE).body()
    with pytest.raises(NoteError, match="at most 63"):
        tlog.parse_add_checkpoint(too_long)
    with pytest.raises(NoteError, match="old"):
        tlog.parse_add_checkpoint(b"new 5\n\n" + ECDSA_NOTE.encode())
    assert tlog.parse_size_body(tlog.size_body(20852014)) == 20852014
