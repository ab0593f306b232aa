"""Energy Transfer Proofs: entries and statements, their ids, signatures and wire form.

PROTOCOL.md sections 4-6 and 11. An :class:`Entry` sits in its author's feed (seq,
prev, refs); a :class:`Statement` (checkpoint, cosign) does not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.identity import Identity, KeyRing, signature_problem

TAG_BODY: Final = b"lvpp-etp-v1:body\x00"
TAG_ENTRY: Final = b"lvpp-etp-v1:entry\x00"
TAG_STATEMENT: Final = b"lvpp-etp-v1:statement\x00"
ZERO_ID: Final = bytes(32)
MAX_REFS: Final = 16
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")
_HEX64: Final = re.compile(r"[0-9a-f]{128}\Z")


class EtpError(InvalidData):
    """An entry or statement whose envelope (ids, seq, refs, signature) is invalid."""


def body_digest(body: bytes) -> bytes:
    """First stage: the digest of the canonical body bytes."""
    return hashlib.sha256(TAG_BODY + body).digest()


def entry_id(
    author: bytes, seq: int, prev: bytes, digest: bytes, refs: tuple[bytes, ...]
) -> bytes:
    """Second stage: the id over the position, cross references and body digest."""
    return hashlib.sha256(
        b"".join(
            (
                TAG_ENTRY,
                author,
                seq.to_bytes(8, "big"),
                prev,
                digest,
                len(refs).to_bytes(2, "big"),
                *refs,
            )
        )
    ).digest()


def statement_id(author: bytes, digest: bytes) -> bytes:
    """The id of a statement: its author and body digest."""
    return hashlib.sha256(TAG_STATEMENT + author + digest).digest()


# Not frozen: frozen dataclasses pay for object.__setattr__ on every field, and an entry
# is built for every append and every ingested line.
@dataclass(slots=True)
class Entry:
    """One signed entry of an author's feed, with its decoded body."""

    author: bytes
    seq: int
    prev: bytes
    refs: tuple[bytes, ...]
    body: bytes
    sig: bytes
    id: bytes
    content: JsonObject

    @property
    def kind(self) -> str:
        """The body's kind."""
        return str(self.content["kind"])

    @property
    def ts(self) -> int:
        """The body's creation time, ms."""
        value = self.content["ts"]
        assert isinstance(value, int)  # guaranteed by the schema check
        return value

    @property
    def key(self) -> str:
        """The count key: the kind, rollups with their level (``rollup_1``)."""
        return kinds.count_key(self.kind, self.content)


@dataclass(frozen=True, slots=True)
class Statement:
    """A signed checkpoint or cosignature."""

    author: bytes
    body: bytes
    sig: bytes
    id: bytes
    content: JsonObject

    @property
    def kind(self) -> str:
        """The body's kind."""
        return str(self.content["kind"])


def make_entry(
    identity: Identity,
    seq: int,
    prev: bytes,
    refs: tuple[bytes, ...],
    content: JsonObject,
    *,
    deterministic: bool = False,
) -> Entry:
    """Encode and sign a body built by this node as entry ``seq`` of its feed."""
    if content["kind"] == kinds.FLOW:
        body = kinds.encode_flow(content)
    else:
        body = canonical.encode(content)
    eid = entry_id(identity.author, seq, prev, body_digest(body), refs)
    sig = identity.sign(eid, deterministic=deterministic)
    return Entry(identity.author, seq, prev, refs, body, sig, eid, content)


def make_statement(
    identity: Identity, content: JsonObject, *, deterministic: bool = False
) -> Statement:
    """Encode and sign a statement body built by this node."""
    body = canonical.encode(content)
    sid = statement_id(identity.author, body_digest(body))
    return Statement(
        identity.author,
        body,
        identity.sign(sid, deterministic=deterministic),
        sid,
        content,
    )


def open_entry(  # noqa: PLR0917 - the six parts of an entry, in protocol order
    author: bytes,
    seq: int,
    prev: bytes,
    refs: tuple[bytes, ...],
    body: bytes,
    sig: bytes,
) -> Entry:
    """Rebuild an entry from stored bytes, recomputing its id.

    The body must be canonical and valid; the signature is not checked here (see
    :func:`check_signature`).
    """
    _check_envelope(author, seq, prev, refs)
    content = canonical.decode(body)
    kinds.check_entry_body(content, seq, len(refs))
    eid = entry_id(author, seq, prev, body_digest(body), refs)
    return Entry(author, seq, prev, refs, body, sig, eid, content)


def open_statement(author: bytes, body: bytes, sig: bytes) -> Statement:
    """Rebuild a statement from stored bytes (signature not checked)."""
    _check_author(author)
    content = canonical.decode(body)
    kinds.check_statement_body(content)
    return Statement(
        author, body, sig, statement_id(author, body_digest(body)), content
    )


def check_signature(item: Entry | Statement, keys: KeyRing) -> None:
    """Raise unless the item carries a valid low-S signature by its author's key."""
    if item.author not in keys:
        raise EtpError(
            "unknown_author", f"no public key for author {item.author.hex()}"
        )
    problem = signature_problem(item.sig)
    if problem is not None:
        raise EtpError("bad_signature", problem)
    if not keys.verify(item.author, item.id, item.sig):
        raise EtpError("bad_signature", "the signature does not verify over the id")


def _check_author(author: bytes) -> None:
    if len(author) != 32:
        raise EtpError("bad_author", "an author id is 32 bytes")


def _check_envelope(
    author: bytes, seq: int, prev: bytes, refs: tuple[bytes, ...]
) -> None:
    _check_author(author)
    if not 1 <= seq <= canonical.MAX_INT:
        raise EtpError("bad_seq", f"seq must be 1..2^53-1, got {seq}")
    if len(prev) != 32:
        raise EtpError("bad_prev", "prev is 32 bytes")
    if (seq == 1) != (prev == ZERO_ID):
        raise EtpError("bad_prev", "prev is all zeros exactly when seq is 1")
    if len(refs) > MAX_REFS or any(len(ref) != 32 for ref in refs):
        raise EtpError("bad_refs", f"at most {MAX_REFS} refs of 32 bytes")


# -- exchange format (PROTOCOL.md section 11) ---------------------------------------


def entry_to_wire(entry: Entry, line_type: str = "entry") -> JsonObject:
    """The exchange-format object of an entry."""
    return {
        "type": line_type,
        "author": entry.author.hex(),
        "seq": entry.seq,
        "prev": entry.prev.hex(),
        "refs": [ref.hex() for ref in entry.refs],
        "body": entry.content,
        "sig": entry.sig.hex(),
        "id": entry.id.hex(),
    }


def statement_to_wire(statement: Statement) -> JsonObject:
    """The exchange-format object of a statement."""
    return {
        "type": statement.kind,
        "author": statement.author.hex(),
        "body": statement.content,
        "sig": statement.sig.hex(),
        "id": statement.id.hex(),
    }


def entry_from_wire(obj: dict[str, object]) -> Entry:
    """Parse an exchange-format entry; body and id are checked, the signature is not."""
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise EtpError("bad_seq", "seq must be an integer")
    raw_refs = obj.get("refs")
    if not isinstance(raw_refs, list):
        raise EtpError("bad_refs", "refs must be a list of hex ids")
    refs = tuple(_hex(ref, "refs", _HEX32) for ref in raw_refs)
    author = _hex(obj.get("author"), "author", _HEX32)
    prev = _hex(obj.get("prev"), "prev", _HEX32)
    sig = _hex(obj.get("sig"), "sig", _HEX64)
    _check_envelope(author, seq, prev, refs)
    content, body = _body(
        obj.get("body"), lambda value: kinds.check_entry_body(value, seq, len(refs))
    )
    eid = entry_id(author, seq, prev, body_digest(body), refs)
    _check_claimed_id(obj, eid)
    return Entry(author, seq, prev, refs, body, sig, eid, content)


def statement_from_wire(obj: dict[str, object]) -> Statement:
    """Parse an exchange-format statement; checks body and id, not the signature."""
    author = _hex(obj.get("author"), "author", _HEX32)
    sig = _hex(obj.get("sig"), "sig", _HEX64)
    content, body = _body(obj.get("body"), kinds.check_statement_body)
    if obj.get("type") != content["kind"]:
        raise EtpError("type_mismatch", "the line's type must equal the body's kind")
    sid = statement_id(author, body_digest(body))
    _check_claimed_id(obj, sid)
    return Statement(author, body, sig, sid, content)


def _body(
    value: object, check: Callable[[JsonObject], None]
) -> tuple[JsonObject, bytes]:
    """Validate a foreign body with its kind's schema and encode it canonically."""
    if not isinstance(value, dict):
        raise EtpError("bad_body", "body must be a JSON object")
    content = cast(JsonObject, value)
    if kinds.fully_checked(content.get("kind")):
        # The schema checks every member's type, so the generic walk over all values
        # (a third of the cost of taking in an entry) would only repeat it.
        check(content)
        if content["kind"] == kinds.FLOW:
            data = kinds.encode_flow(content)
        else:
            data = canonical.encode(content)
        if len(data) > canonical.MAX_BODY_BYTES:
            raise canonical.CanonicalError("too_large", f"{len(data)} bytes")
        return content, data
    data = canonical.encode_checked(content)
    check(content)
    return content, data


def _check_claimed_id(obj: dict[str, object], computed: bytes) -> None:
    claimed = obj.get("id")
    if claimed is not None and claimed != computed.hex():
        raise EtpError("bad_id", "the id given does not match the recomputed id")


def _hex(value: object, name: str, pattern: re.Pattern[str]) -> bytes:
    if not isinstance(value, str) or not pattern.match(value):
        raise EtpError("bad_hex", f"{name} must be lowercase hex of the right length")
    return bytes.fromhex(value)


def wire_json(obj: JsonObject) -> str:
    """One exchange-format line (no trailing newline)."""
    return canonical.encode(obj).decode()
