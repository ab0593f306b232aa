"""The texts of c2sp.org/tlog-checkpoint and c2sp.org/tlog-witness.

A checkpoint's note text is the origin line, the tree size in decimal, the base64 RFC
6962 root hash, then optional extension lines (none are written here). An
``add-checkpoint`` request body is ``old <size>``, up to 63 base64 consistency-proof
hashes, a blank line and the signed checkpoint; a ``409`` answer is the witness's
size and a newline, of type ``text/x.tlog.size``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Final

from sidecar.ledger.signed_note import MAX_NOTE_BYTES, NoteError, b64decode

SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
MAX_PROOF_LINES: Final = 63
# The old size, the proof lines (44 base64 characters each) and a note at its largest.
MAX_REQUEST_BYTES: Final = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES
# Sizes are uint64 in C2SP; a ledger counts at most 2^63 - 1 entries (SQLite integers).
MAX_SIZE: Final = 2**63 - 1
HASH_BYTES: Final = 32
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head as a checkpoint states it."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text: origin, size, root and extensions, each ending a line."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(f"{line}\n" for line in [*lines, *self.extensions])


def parse_decimal(text: str, what: str) -> int:
    """A size in ASCII decimal without leading zeroes."""
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_SIZE:
        raise NoteError(
            f"{what} must be a decimal number without leading zeroes, at most "
            f"{MAX_SIZE}"
        )
    return int(text)


def parse_hash(text: str, what: str) -> bytes:
    """A 32-byte hash in standard base64."""
    value = b64decode(text, what)
    if len(value) != HASH_BYTES:
        raise NoteError(f"{what} is {HASH_BYTES} bytes, got {len(value)}")
    return value


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note text states (the text must end in a newline)."""
    if not text.endswith("\n"):
        raise NoteError("a checkpoint's text ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("a checkpoint is at least three non-empty lines")
    return Checkpoint(
        lines[0],
        parse_decimal(lines[1], "the tree size"),
        parse_hash(lines[2], "the root hash"),
        tuple(lines[3:]),
    )


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An ``add-checkpoint`` request: the old size, the proof, the signed note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def body(self) -> bytes:
        """The request body."""
        proof = "".join(f"{base64.b64encode(node).decode()}\n" for node in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.note}".encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """An ``add-checkpoint`` body (NoteError says what is wrong)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise NoteError(f"a request is at most {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NoteError("the request must be UTF-8") from err
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise NoteError("the request needs a blank line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise NoteError("the request starts with 'old <size>'")
    old = parse_decimal(lines[0][4:], "the old size")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise NoteError(f"at most {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(parse_hash(line, "a proof line") for line in lines[1:])
    return AddCheckpoint(old, proof, note)


def size_body(size: int) -> str:
    """The body of a ``409`` answer: the size and a newline."""
    return f"{size}\n"


def parse_size_body(body: str) -> int:
    """The size in a ``409`` answer."""
    if not body.endswith("\n"):
        raise NoteError("a size answer ends in a newline")
    return parse_decimal(body[:-1], "the witness's size")
