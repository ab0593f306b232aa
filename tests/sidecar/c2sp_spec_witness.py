"""A C2SP tlog-witness written for the tests from the C2SP texts alone.

Nothing here uses the sidecar's code: the note parsing follows c2sp.org/signed-note,
the checkpoint c2sp.org/tlog-checkpoint, the HTTP answers c2sp.org/tlog-witness, the
cosignature c2sp.org/tlog-cosignature (Ed25519, type 0x04, big-endian timestamp), the
ECDSA log signature the type 0x02 that signed-note assigns (DER ECDSA over SHA-256,
key ID = SHA-256 of the DER public key), and the consistency check RFC 9162 section
2.1.4.2. It serves on 127.0.0.1 as a real HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

DASH = "\u2014"


def mth_node(left: bytes, right: bytes) -> bytes:
    """RFC 6962 inner node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of leaf *data* (each hashed with 0x00)."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return mth_node(mth(leaves[:k]), mth(leaves[k:]))


def consistent(
    first: int, second: int, proof: list[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162 2.1.4.2, step by step as the RFC words it."""
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = mth_node(c, fr), mth_node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = mth_node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Text (with its newline) and (name, key ID || signature) of each line."""
    cut = note.rindex("\n\n")
    lines = note[cut + 2 :].rstrip("\n").split("\n")
    signatures = []
    for line in lines:
        dash, name, blob = line.split(" ")
        assert dash == DASH
        signatures.append((name, base64.b64decode(blob, validate=True)))
    return note[: cut + 1], signatures


@dataclass
class Log:
    """A log the witness trusts: its key ID and P-256 key."""

    key_id: bytes
    key: ec.EllipticCurvePublicKey


def ecdsa_ok(log: Log, text: str, signature: bytes) -> bool:
    """Check a type 0x02 signature."""
    try:
        log.key.verify(signature, text.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def trusted_log(vkey: str) -> tuple[str, Log]:
    """A log verifier key (type 0x02): its name and key."""
    name, key_hex, material = vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x02
    spki = raw[1:]
    assert hashlib.sha256(spki).digest()[:4].hex() == key_hex
    key = serialization.load_der_public_key(spki)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return name, Log(bytes.fromhex(key_hex), key)


@dataclass
class SpecWitness:
    """The witness: its key, trusted logs, latest cosigned sizes, what it answered."""

    name: str
    key: ed25519.Ed25519PrivateKey = field(
        default_factory=ed25519.Ed25519PrivateKey.generate
    )
    logs: dict[str, Log] = field(default_factory=dict)
    latest: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    answers: list[tuple[int, int]] = field(default_factory=list)  # (old, status)
    bodies: list[bytes] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def public(self) -> bytes:
        """The raw Ed25519 public key."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
        return hashlib.sha256(self.name.encode() + b"\n\x04" + self.public).digest()[:4]

    @property
    def vkey(self) -> str:
        """The verifier key of the witness (type 0x04)."""
        material = base64.b64encode(b"\x04" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def cosignature_ok(self, text: str, blob: bytes) -> bool:
        """Check a cosignature/v1 line's blob over a checkpoint text."""
        if blob[:4] != self.key_id or len(blob) != 4 + 8 + 64:
            return False
        timestamp = int.from_bytes(blob[4:12], "big")
        message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
        try:
            self.key.public_key().verify(blob[12:], message)
        except InvalidSignature:
            return False
        return True

    async def start(self) -> None:
        """Serve ``<url>/add-checkpoint`` on 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/w1/add-checkpoint", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/w1"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def post(self, body: bytes) -> tuple[int, str, str]:
        """Answer a body directly (status, text, content type)."""
        return self.answer(body)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        status, text, content_type = self.answer(body)
        return web.Response(
            status=status, body=text.encode(), headers={"Content-Type": content_type}
        )

    def answer(self, body: bytes) -> tuple[int, str, str]:
        """The witness's answer to an add-checkpoint body."""
        head, _, note = body.decode().partition("\n\n")
        lines = head.split("\n")
        old = int(lines[0].removeprefix("old "))
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        result = self._judge(old, proof, note)
        self.answers.append((old, result[0]))
        return result

    def _judge(self, old: int, proof: list[bytes], note: str) -> tuple[int, str, str]:
        plain = "text/plain"
        text, signatures = split_note(note)
        origin, size_line, root_line = text.split("\n")[:3]
        size, root = int(size_line), base64.b64decode(root_line)
        log = self.logs.get(origin)
        if log is None:
            return 404, "unknown log\n", plain
        known = [
            blob
            for name, blob in signatures
            if name == origin and blob[:4] == log.key_id
        ]
        if not known or not all(ecdsa_ok(log, text, blob[4:]) for blob in known):
            return 403, "bad signature\n", plain
        if old > size:
            return 400, "old size above the checkpoint's\n", plain
        latest_size, latest_root = self.latest.get(origin, (0, b""))
        if old != latest_size:
            return 409, f"{latest_size}\n", "text/x.tlog.size"
        if old == size:
            if root != latest_root:
                return 409, f"{latest_size}\n", "text/x.tlog.size"
        elif old == 0:
            if proof:
                return 422, "a proof from 0 must be empty\n", plain
        elif not consistent(old, size, proof, latest_root, root):
            return 422, "inconsistent\n", plain
        self.latest[origin] = (size, root)
        timestamp = int(time.time())
        message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
        blob = self.key_id + timestamp.to_bytes(8, "big") + self.key.sign(message)
        return 200, f"{DASH} {self.name} {base64.b64encode(blob).decode()}\n", plain
