"""C2SP signed notes (c2sp.org/signed-note): the text, signature lines, keys, key IDs.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key ID || signature)``. Three signature types are used here:

* ``0x02`` ECDSA P-256 (the type the spec assigns to ECDSA "as implemented by
  github.com/transparency-dev/witness"): an ASN.1 DER signature over SHA-256 of the
  note text; its key ID is the first four bytes of SHA-256 of the public key's DER
  SubjectPublicKeyInfo (not of the name, unlike the other types);
* ``0x04`` timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature): an 8-byte
  big-endian POSIX time then an Ed25519 signature over the line ``cosignature/v1``,
  the line ``time <t>`` and the note text;
* ``0x01`` plain Ed25519, for reading others' notes.

Verifier keys (*vkeys*) are ``<name>+<hex key ID>+base64(type || public key)``.
PROTOCOL.md, "Checkpoints as C2SP signed notes".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

TYPE_ED25519: Final = 0x01
TYPE_ECDSA: Final = 0x02
TYPE_COSIGNATURE_V1: Final = 0x04
EM_DASH: Final = "\u2014"
# The spec asks verifiers to accept at least 16 signatures; far more is an attack.
MAX_SIGNATURES: Final = 64
MAX_NOTE_BYTES: Final = 64 * 1024
MAX_TIMESTAMP: Final = 2**63 - 1
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE: Final = re.compile(r"\s")
_ECDSA: Final = ec.ECDSA(hashes.SHA256())


class NoteError(ValueError):
    """A note, signature line or key that is malformed, or a signature that fails."""


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: the key's name and ID, and the signature after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as a note carries it, with its final newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


def valid_name(name: str) -> bool:
    """A key name: not empty, no Unicode space, no plus sign."""
    return bool(name) and not _SPACE.search(name) and "+" not in name


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The recommended key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(
        name.encode() + b"\n" + bytes([sig_type]) + public_key
    ).digest()[:4]


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4), or NoteError naming ``what``."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise NoteError(f"{what} is not standard base64") from err


def parse(note: str | bytes) -> tuple[str, list[Signature]]:
    """Split a note into its text (with the final newline) and its signature lines."""
    raw = note if isinstance(note, bytes) else note.encode("utf-8", errors="replace")
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteError(f"a note is at most {MAX_NOTE_BYTES} bytes")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as err:
            raise NoteError("a note must be UTF-8") from err
    if _CONTROL.search(note):
        raise NoteError("a note has no control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a note is text, a blank line, and signature lines")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split("\n") if block else []
    if not lines:
        raise NoteError("a note has at least one signature line")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return text, [parse_line(line) for line in lines]


def parse_line(line: str) -> Signature:
    """One signature line, without its newline."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != EM_DASH or not valid_name(parts[1]):
        raise NoteError(f"not a signature line: {line[:80]!r}")
    blob = b64decode(parts[2], "a signature")
    if len(blob) < 5:
        raise NoteError("a signature is a 4-byte key ID and the signature")
    return Signature(parts[1], blob[:4], blob[4:])


def format_note(text: str, signatures: Iterable[Signature]) -> str:
    """The note of ``text`` (ending in a newline) with these signature lines."""
    if not text.endswith("\n"):
        raise NoteError("a note's text ends in a newline")
    lines = "".join(signature.line() for signature in signatures)
    if not lines:
        raise NoteError("a note has at least one signature line")
    return f"{text}\n{lines}"


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted key: its name, ID, type and how to check a signature by it."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes
    check: Callable[[bytes, bytes], bool]

    def vkey(self) -> str:
        """The verifier key string of c2sp.org/signed-note."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def matches(self, signature: Signature) -> bool:
        """Whether a signature line claims this key (name and ID both)."""
        return signature.name == self.name and signature.key_id == self.key_id


def ecdsa_spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a P-256 public key."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ecdsa_verifier(name: str, public_key: ec.EllipticCurvePublicKey) -> Verifier:
    """A type 0x02 verifier: ECDSA over SHA-256 of the note text."""
    if not valid_name(name):
        raise NoteError(f"{name!r} is not a valid key name")
    spki = ecdsa_spki(public_key)

    def check(text: bytes, sig: bytes) -> bool:
        try:
            public_key.verify(sig, text, _ECDSA)
        except (InvalidSignature, ValueError):
            return False
        return True

    return Verifier(name, hashlib.sha256(spki).digest()[:4], TYPE_ECDSA, spki, check)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, time line, then the note text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosignature_verifier(name: str, public_key: bytes) -> Verifier:
    """A type 0x04 verifier of timestamped Ed25519 cosignatures."""
    if not valid_name(name):
        raise NoteError(f"{name!r} is not a valid key name")
    key = _ed25519_key(public_key)

    def check(text: bytes, sig: bytes) -> bool:
        if len(sig) != 8 + 64:
            return False
        timestamp = int.from_bytes(sig[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        message = cosignature_message(text.decode(), timestamp)
        return _ed25519_ok(key, sig[8:], message)

    return Verifier(
        name,
        key_id(name, TYPE_COSIGNATURE_V1, public_key),
        TYPE_COSIGNATURE_V1,
        public_key,
        check,
    )


def ed25519_verifier(name: str, public_key: bytes) -> Verifier:
    """A type 0x01 verifier: Ed25519 over the note text."""
    if not valid_name(name):
        raise NoteError(f"{name!r} is not a valid key name")
    key = _ed25519_key(public_key)
    return Verifier(
        name,
        key_id(name, TYPE_ED25519, public_key),
        TYPE_ED25519,
        public_key,
        lambda text, sig: _ed25519_ok(key, sig, text),
    )


def parse_vkey(vkey: str) -> Verifier:
    """A verifier from its key string (types 0x01, 0x02 with P-256, and 0x04)."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise NoteError("a verifier key is <name>+<8 hex digits>+<base64>")
    name, claimed, material = parts[0], bytes.fromhex(parts[1]), parts[2]
    raw = b64decode(material, "the key material")
    if len(raw) < 2:
        raise NoteError("the key material is a type byte and a public key")
    sig_type, public = raw[0], raw[1:]
    verifier: Verifier
    if sig_type == TYPE_ECDSA:
        try:
            key = serialization.load_der_public_key(public)
        except ValueError as err:
            raise NoteError("an ECDSA key is a DER SubjectPublicKeyInfo") from err
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise NoteError("only P-256 ECDSA keys are supported")
        verifier = ecdsa_verifier(name, key)
    elif sig_type == TYPE_COSIGNATURE_V1:
        verifier = cosignature_verifier(name, public)
    elif sig_type == TYPE_ED25519:
        verifier = ed25519_verifier(name, public)
    else:
        raise NoteError(f"signature type 0x{sig_type:02x} is not supported")
    if verifier.key_id != claimed:
        raise NoteError(
            f"the key ID {claimed.hex()} does not match the key "
            f"({verifier.key_id.hex()})"
        )
    return verifier


def open_note(
    note: str | bytes, verifiers: Sequence[Verifier]
) -> tuple[str, list[Signature]]:
    """The text and the signatures that verified, as the spec says notes are opened.

    Lines from unknown keys are ignored; a line from a known key that fails rejects the
    note; a note without a verified line from a known key is rejected.
    """
    text, signatures = parse(note)
    data = text.encode()
    verified: list[Signature] = []
    for signature in signatures:
        verifier = next((v for v in verifiers if v.matches(signature)), None)
        if verifier is None or signature in verified:
            continue
        if not verifier.check(data, signature.signature):
            raise NoteError(f"the signature of {signature.name} does not verify")
        verified.append(signature)
    if not verified:
        raise NoteError("no signature by a trusted key")
    return text, verified


class EcdsaSigner:
    """Signs notes with a P-256 key under signature type 0x02."""

    def __init__(self, name: str, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        self.verifier = ecdsa_verifier(name, private_key.public_key())

    def sign(self, text: str) -> Signature:
        """The signature line's content for ``text``."""
        sig = self._key.sign(text.encode(), _ECDSA)
        return Signature(self.verifier.name, self.verifier.key_id, sig)


class CosignatureSigner:
    """Makes tlog-cosignature/v1 (type 0x04) signatures with an Ed25519 key."""

    def __init__(self, name: str, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verifier = cosignature_verifier(name, public)

    def sign(self, text: str, timestamp: int) -> Signature:
        """A cosignature of the checkpoint ``text`` made at POSIX time ``timestamp``."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise NoteError("a cosignature's time is 0 to 2^63-1")
        sig = self._key.sign(cosignature_message(text, timestamp))
        return Signature(
            self.verifier.name,
            self.verifier.key_id,
            timestamp.to_bytes(8, "big") + sig,
        )


def cosignature_time(signature: Signature) -> int:
    """The POSIX time a cosignature/v1 signature states."""
    if len(signature.signature) != 8 + 64:
        raise NoteError("a cosignature is an 8-byte time and a 64-byte signature")
    return int.from_bytes(signature.signature[:8], "big")


def _ed25519_key(public_key: bytes) -> ed25519.Ed25519PublicKey:
    if len(public_key) != 32:
        raise NoteError("an Ed25519 public key is 32 bytes")
    return ed25519.Ed25519PublicKey.from_public_bytes(public_key)


def _ed25519_ok(key: ed25519.Ed25519PublicKey, sig: bytes, message: bytes) -> bool:
    try:
        key.verify(sig, message)
    except InvalidSignature:
        return False
    return True
