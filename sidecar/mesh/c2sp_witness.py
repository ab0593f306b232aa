"""The node as a C2SP tlog-witness of the building's members' logs.

``add-checkpoint`` (c2sp.org/tlog-witness) takes a member's checkpoint note signed
with its flat key (type 0x02), the size this witness last cosigned for that origin and
a consistency proof from it. Checked in the spec's order: a malformed request is 400,
an origin that is not a known author's 404, no valid signature by its key 403, an old
size above the new one 400, an old size other than the one recorded 409 (with the
recorded size, ``text/x.tlog.size``), a proof that does not verify 422, and the same
size with another root 409. One more check is this node's own: when it holds the
member's feed up to that size and the root differs, the checkpoint contradicts the
entries the member signed and is refused with 422 and logged. Otherwise the new size
and root are written to disk, then the Ed25519 cosignature (type 0x04) is returned.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from sidecar.ledger import merkle, signed_note, tlog
from sidecar.ledger.signed_note import CosignatureSigner, NoteError, Verifier
from sidecar.mesh import c2sp_checkpoint
from sidecar.storage import store

TEXT: Final = "text/plain"

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, body and content type."""

    status: int
    text: str
    content_type: str = TEXT


class TlogWitness:
    """Cosigns members' checkpoints after a consistency proof, remembering sizes."""

    def __init__(
        self,
        *,
        building: str,
        signer: CosignatureSigner,
        data_dir: Path,
        db_path: Path,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.building = building
        self.signer = signer
        self.state_path = data_dir / c2sp_checkpoint.WITNESS_RECORD
        self.db_path = db_path
        self.clock_s = clock_s
        # Without the record of what it cosigned, the witness could cosign a split
        # view: it answers 503 until the file is fixed, and the ledger goes on.
        self.broken: str | None = None
        try:
            self.state = _load_state(self.state_path)
        except NoteError as err:
            self.state, self.broken = {}, str(err)
            _LOGGER.error("The node's C2SP witness is off: %s", err)
        self.refused: dict[int, int] = {}
        self.cosigned = 0
        # The check of the old size and the write of the new one are one step.
        self._lock = asyncio.Lock()

    async def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` request body."""
        answer = await self._add(body)
        if answer.status != 200:
            self.refused[answer.status] = self.refused.get(answer.status, 0) + 1
        return answer

    async def _add(self, body: bytes) -> Answer:
        if self.broken is not None:
            return Answer(503, f"this witness is off: {self.broken}\n")
        try:
            request = tlog.parse_add_checkpoint(body)
            text, _signatures = signed_note.parse(request.note)
            checkpoint = tlog.parse_checkpoint(text)
        except NoteError as err:
            return Answer(400, f"malformed request: {err}\n")
        # Who signed it is checked before the queue: a request that is not a
        # member's never waits for, or holds up, the members' requests.
        known = await asyncio.to_thread(self._read, partial(_logs, self.building))
        log = known.get(checkpoint.origin)
        if log is None:
            return Answer(404, "unknown origin\n")
        author, verifier = log
        try:
            signed_note.open_note(request.note, [verifier])
        except NoteError as err:
            return Answer(403, f"not signed by the log's key: {err}\n")
        async with self._lock:
            if request.old_size > checkpoint.size:
                return Answer(400, "the old size is larger than the checkpoint's\n")
            size, root = self.state.get(checkpoint.origin, (0, b""))
            if request.old_size != size:
                return Answer(409, tlog.size_body(size), tlog.SIZE_CONTENT_TYPE)
            problem = _inconsistent(request, checkpoint, root)
            if problem is not None:
                return problem
            held = await asyncio.to_thread(
                self._read, partial(_held_root, author=author, size=checkpoint.size)
            )
            if held is not None and held != checkpoint.root:
                _LOGGER.warning(
                    "Refused to cosign %s at size %d: its root is not the root of "
                    "the entries this node holds of that feed",
                    checkpoint.origin,
                    checkpoint.size,
                )
                return Answer(422, "the root contradicts the entries held here\n")
            state = {
                **self.state,
                checkpoint.origin: (checkpoint.size, checkpoint.root),
            }
            try:
                await asyncio.to_thread(_save_state, self.state_path, state)
            except OSError as err:
                _LOGGER.error("The C2SP witness cannot record a cosignature: %s", err)
                return Answer(503, "this witness cannot write its record now\n")
            self.state = state
        self.cosigned += 1
        cosignature = self.signer.sign(text, int(self.clock_s()))
        return Answer(200, cosignature.line())

    def _read[R](self, job: Callable[[sqlite3.Connection], R]) -> R:
        return c2sp_checkpoint.read(self.db_path, job)


def _inconsistent(
    request: tlog.AddCheckpoint, checkpoint: tlog.Checkpoint, root: bytes
) -> Answer | None:
    """The answer to a request whose proof fails, or None if it is consistent."""
    old = request.old_size
    if old == checkpoint.size:
        if old > 0 and root != checkpoint.root:
            return Answer(409, tlog.size_body(old), tlog.SIZE_CONTENT_TYPE)
        if request.proof:
            return Answer(422, "no proof is needed between equal sizes\n")
        return None
    if old == 0:
        if request.proof:
            return Answer(422, "the proof from size 0 must be empty\n")
        return None
    if not merkle.verify_consistency(
        old, checkpoint.size, request.proof, root, checkpoint.root
    ):
        return Answer(422, "the consistency proof does not verify\n")
    return None


def _logs(building: str, conn: sqlite3.Connection) -> dict[str, tuple[bytes, Verifier]]:
    """Every known author's origin, with its author id and checkpoint verifier."""
    logs: dict[str, tuple[bytes, Verifier]] = {}
    for _number, author, key in store.authors(conn):
        verifier = c2sp_checkpoint.log_verifier(building, key)
        logs[verifier.name] = (author, verifier)
    return logs


def _held_root(conn: sqlite3.Connection, *, author: bytes, size: int) -> bytes | None:
    """The root of the author's feed at ``size`` as stored here, if it can be known."""
    try:
        return c2sp_checkpoint.tree(conn, author, size).root(size)
    except merkle.ProofUnavailable:
        return None


def _load_state(path: Path) -> dict[str, tuple[int, bytes]]:
    """The recorded size and root of each origin.

    The record is made with the witness key; a key without it is a witness that
    forgot what it cosigned, which could cosign a smaller or a forked tree.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            origin: (int(item["size"]), base64.b64decode(item["root"]))
            for origin, item in raw.items()
        }
    except FileNotFoundError as err:
        raise NoteError(
            f"{path} is missing; it records what this node's witness key cosigned. "
            "Restore it from a backup, or remove witness.key as well to start "
            "witnessing afresh under a new key"
        ) from err
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise NoteError(
            f"{path} cannot be read ({type(err).__name__}: {err}); it records what "
            "this node's witness key cosigned. Restore it from a backup, or remove "
            "it and witness.key to start witnessing afresh under a new key"
        ) from err


def _save_state(path: Path, state: dict[str, tuple[int, bytes]]) -> None:
    data = {
        origin: {"size": size, "root": base64.b64encode(root).decode()}
        for origin, (size, root) in sorted(state.items())
    }
    c2sp_checkpoint.write_atomically(path, json.dumps(data, indent=1) + "\n")
