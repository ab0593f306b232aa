"""Sending the flat's checkpoints to a witness outside the building (tlog-witness).

When ``[c2sp] witness_url`` is set, the node posts its newest checkpoint note to
``<witness_url>/add-checkpoint`` with a consistency proof from the size the witness
last cosigned. A ``409`` tells that size: the node believes it and tries once more.
The cosignature that comes back must verify under ``witness_key``; the note with it
is kept on disk and served. Nothing here can affect the ledger: every failure is
counted by reason and logged the first time it happens.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Final

import aiohttp

from sidecar.ledger import merkle, signed_note, tlog
from sidecar.ledger.signed_note import NoteError, Verifier
from sidecar.ledger.tlog import Checkpoint
from sidecar.mesh import c2sp_checkpoint
from sidecar.mesh.c2sp_checkpoint import NoteCache
from sidecar.storage import store

COSIGNED_FILE: Final = "c2sp-cosigned.txt"
REQUEST_TIMEOUT_S: Final = 10.0
MAX_ANSWER_BYTES: Final = 64 * 1024

_LOGGER = logging.getLogger(__name__)

type Latest = Callable[[], Checkpoint | None]
type Prove = Callable[[int, int], list[bytes]]


class ExternalWitness:
    """One configured outside witness: what it cosigned, and how asking it went."""

    def __init__(
        self,
        *,
        url: str,
        verifier: Verifier,
        notes: NoteCache,
        data_dir: Path,
    ) -> None:
        self.url = url.rstrip("/") + "/add-checkpoint"
        self.verifier = verifier
        self.notes = notes
        self.path = data_dir / COSIGNED_FILE
        self.failures: Counter[str] = Counter()
        self.cosigned: str | None = None
        self.cosigned_size = 0
        self.witness_size: int | None = None  # what the witness last cosigned, as known
        self._load()

    def _load(self) -> None:
        try:
            note = self.path.read_text(encoding="utf-8")
            text, _ = signed_note.open_note(note, [self.verifier])
            self.cosigned_size = tlog.parse_checkpoint(text).size
        except FileNotFoundError:
            return
        except (OSError, NoteError) as err:
            self.fail("stored_note", f"{self.path} is not usable: {err}")
            return
        self.cosigned = note
        self.witness_size = self.cosigned_size

    def served(self, checkpoint: Checkpoint) -> str | None:
        """The cosigned note of ``checkpoint``, if the witness cosigned this one."""
        if self.cosigned is None or self.cosigned_size != checkpoint.size:
            return None
        return self.cosigned

    def status(self) -> dict[str, object]:
        """What the node shows of this witness."""
        return {
            "url": self.url,
            "key": self.verifier.vkey(),
            "cosigned_size": self.cosigned_size,
            "failures": dict(sorted(self.failures.items())),
        }

    async def submit(
        self, session: aiohttp.ClientSession, latest: Latest, prove: Prove
    ) -> bool:
        """Ask for a cosignature of the newest checkpoint; True if one was stored.

        ``latest`` and ``prove`` read the database (they run on a worker thread).
        """
        checkpoint = await asyncio.to_thread(latest)
        if checkpoint is None or checkpoint.size <= self.cosigned_size:
            return False
        for _attempt in range(2):  # a 409 teaches the witness's size: once more
            old = self.witness_size or 0
            if old > checkpoint.size:
                self.fail("witness_ahead", f"the witness has size {old}")
                return False
            try:
                proof = await asyncio.to_thread(prove, old, checkpoint.size)
            except merkle.ProofUnavailable as err:
                self.fail("proof_unavailable", str(err))
                return False
            note = self.notes.note(checkpoint)
            request = tlog.AddCheckpoint(old, tuple(proof), note)
            try:
                status, text = await _post(session, self.url, request.body())
            except (aiohttp.ClientError, TimeoutError) as err:
                self.fail("unreachable", f"{type(err).__name__}: {err}")
                return False
            except NoteError as err:
                self.fail("bad_answer", str(err))
                return False
            if status == 200:
                return self._took(checkpoint, note, text)
            if status != 409:
                self.fail(f"http_{status}", text.strip()[:200])
                return False
            try:
                size = tlog.parse_size_body(text)
            except NoteError as err:
                self.fail("bad_answer", f"409 without a size: {err}")
                return False
            if size == old:  # the same size with another root: a fork, or a bug
                self.fail("conflict", f"the witness holds another root at {size}")
                return False
            self.witness_size = size
        self.fail("conflict", "the witness's size changed twice")
        return False

    def _took(self, checkpoint: Checkpoint, note: str, answer: str) -> bool:
        combined = note + answer
        try:
            signed_note.open_note(combined, [self.verifier])
        except NoteError as err:
            self.fail("bad_cosignature", str(err))
            return False
        try:
            c2sp_checkpoint.write_atomically(self.path, combined)
        except OSError as err:
            self.fail("not_stored", str(err))
        self.cosigned, self.cosigned_size = combined, checkpoint.size
        self.witness_size = checkpoint.size
        return True

    def fail(self, reason: str, detail: str) -> None:
        """Count a failure by reason; log it the first time."""
        self.failures[reason] += 1
        log = _LOGGER.warning if self.failures[reason] == 1 else _LOGGER.debug
        log(
            "C2SP witness %s: %s (%s); counted, the ledger goes on",
            self.url,
            reason,
            detail,
        )


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes
) -> tuple[int, str]:
    async with session.post(
        url, data=body, headers={"Content-Type": "text/plain; charset=utf-8"}
    ) as response:
        data = await read_capped(response.content, MAX_ANSWER_BYTES)
        if data is None:
            raise NoteError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        # Text that is not UTF-8 is no cosignature; it fails as one, not here.
        return response.status, data.decode("utf-8", errors="replace")


async def read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes | None:
    """The whole body, however it arrives in pieces; None once it passes ``limit``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def run(
    witness: ExternalWitness,
    every_s: float,
    latest: Latest,
    prove: Prove,
) -> None:
    """Offer the newest checkpoint to the witness every ``every_s`` seconds."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            try:
                await witness.submit(session, latest, prove)
            except (sqlite3.Error, store.StoreError) as err:
                witness.fail("database", str(err))
            except Exception as err:
                # A fault of this node's own (a record it cannot open): counted and
                # logged once like the others, and tried again at the next interval.
                witness.fail("internal", f"{type(err).__name__}: {err}")
            await asyncio.sleep(every_s)
