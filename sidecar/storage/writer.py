"""The single writer thread: batched writes, acknowledged only after commit.

Committing from the event loop stalls it for milliseconds, and one commit per entry caps
the rate; so the producer hands rows to this thread, which writes whatever has queued up
in one transaction and commits. Every row gets a ticket number; tickets commit in order,
so "ticket t is durable" is simply "the committed watermark ≥ t". That costs one
comparison per entry instead of a future per entry.

Rows are handed over in chunks, each written by one multi-row INSERT. Per-row hand-overs
and per-row SQLite steps would each give up and take back the GIL, and while the
producer is busy signing, every take-back waits for a forced switch: the writer would
crawl, and its work would land on the producer after all. A chunk is handed over when it
is full and whenever someone waits for a ticket in it, so a lone entry is written at
once.

Rows, calls and waits come from one producer thread (the event loop, or the command
line's main thread).

A full or read-only disk does not stop it either (:mod:`.faults`): the transaction that
met it is rolled back and kept, ``fault`` names the problem, whoever waits for a
ticket is told (:class:`StorageFault`), and the writer tries the same transaction
again, more slowly each time, until it commits; then ``fault`` clears by itself.

One bad row never stops the writer: a chunk that breaks a constraint (a second copy of
a stored entry, say) is written again row by row, the offending rows are left out and
counted in :attr:`Writer.rejected`, and the rest commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final

from sidecar.ledger.etp import Entry, Statement
from sidecar.storage import store
from sidecar.storage.faults import RETRY_MAX_S, RETRY_MIN_S, StorageFault, fault_reason

_LOGGER = logging.getLogger(__name__)
ROWS_PER_CHUNK: Final = 200
CHUNKS_PER_TRANSACTION: Final = 20
QUEUE_LIMIT: Final = 200  # chunks: back-pressure beyond ~40 000 rows
_ROWS, _CALL, _STOP = 0, 1, 2
# Errors of the disk rather than of a job (full, read-only, I/O): see faults.py.
_DISK_CODES: Final = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
}

type _Job = tuple[int, int, Any, Any]  # (last ticket, code, sql or function, payload)


class StorageError(Exception):
    """Writing to the ledger database failed; nothing after the failure is stored."""


__all__ = ["StorageError", "StorageFault", "Writer"]


class Writer:
    """Owns the database's only write connection, on a thread of its own."""

    def __init__(self, path: Path, *, sync: str = "full") -> None:
        self._path = path
        self._sync = sync
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer")
        self._started = threading.Event()
        self._open_error: BaseException | None = None
        self._committed_cond = threading.Condition()
        self._waiters: list[
            tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]
        ] = []
        self._pending: list[tuple[Any, ...]] = []
        self._pending_sql = ""
        self._submitted = 0
        self._handed_over = 0
        self.committed = 0
        self.failed: BaseException | None = None
        self.batches = 0
        # Rows left out because they broke a constraint, by reason (writer thread).
        self.rejected: Counter[str] = Counter()
        # ``storage_full`` or ``storage_readonly`` while writes cannot be made.
        self.fault: str | None = None
        self.faults = 0
        self._recovery: list[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]
        ] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        """Open the connection on the writer thread and start taking jobs."""
        self._thread.start()
        self._started.wait()
        if self._open_error is not None:
            raise StorageError(f"cannot open {self._path}: {self._open_error}")

    def add_entry(self, author: int, entry: Entry) -> int:
        """Queue an entry; returns its ticket."""
        return self._add(store.INSERT_ENTRY, store.entry_row(author, entry))

    def add_statement(self, author: int, log: int, statement: Statement) -> int:
        """Queue a checkpoint or cosignature (an identical stored one is kept)."""
        return self._add(
            store.INSERT_STATEMENT, store.statement_row(author, log, statement)
        )

    def add_conflict(self, author: int, entry: Entry) -> int:
        """Queue the second entry of an equivocating pair as evidence."""
        row = (
            author,
            entry.seq,
            entry.id,
            entry.prev,
            b"".join(entry.refs),
            entry.body,
            entry.sig,
        )
        return self._add(store.INSERT_CONFLICT, row)

    def call[T](self, function: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``function(connection)`` after everything queued, in a transaction.

        A savepoint isolates it: if it raises, only its own changes are undone.
        """
        future: Future[T] = Future()
        self._hand_over()
        self._submitted += 1
        self._put((self._submitted, _CALL, function, future))
        self._handed_over = self._submitted
        return future

    def wait(self, ticket: int, timeout: float | None = None) -> None:
        """Block until ``ticket`` is committed."""
        if ticket > self._handed_over:
            self._hand_over()
        with self._committed_cond:
            self._committed_cond.wait_for(
                lambda: (
                    self.committed >= ticket
                    or self.failed is not None
                    or self.fault is not None
                ),
                timeout,
            )
        self._raise_if_lost(ticket)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything submitted so far is committed."""
        self.wait(self._submitted, timeout)

    async def durable(self, ticket: int) -> None:
        """Wait (without blocking the loop) until ``ticket`` is committed."""
        if ticket > self._handed_over:
            self._hand_over()
        with self._committed_cond:
            if (
                self.committed >= ticket
                or self.failed is not None
                or self.fault is not None
            ):
                ready = True
            else:
                ready = False
                loop = asyncio.get_running_loop()
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((ticket, loop, future))
        if not ready:
            await future
        self._raise_if_lost(ticket)

    async def writable(self) -> None:
        """Wait (without blocking the loop) until no storage fault holds writes back."""
        with self._committed_cond:
            if self.fault is None or self.failed is not None:
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            self._recovery.append((loop, future))
        await future

    def close(self) -> None:
        """Write what is queued, then stop the thread and close the connection."""
        if self._thread.is_alive():
            if self.failed is None:
                self._hand_over()
            self._stopping.set()  # a transaction retried for a fault is given up
            self._queue.put((0, _STOP, None, None))
            self._thread.join()

    def _raise_if_lost(self, ticket: int) -> None:
        if self.committed >= ticket:
            return
        fault = self.fault
        if fault is not None and self.failed is None:
            raise StorageFault(fault)
        raise StorageError(f"the ledger database failed: {self.failed}")

    def _add(self, sql: str, row: tuple[Any, ...]) -> int:
        if self.failed is not None:
            raise StorageError(f"the ledger database failed earlier: {self.failed}")
        if sql is not self._pending_sql:
            self._hand_over()
            self._pending_sql = sql
        self._pending.append(row)
        self._submitted += 1
        if len(self._pending) >= ROWS_PER_CHUNK:
            self._hand_over()
        return self._submitted

    def _hand_over(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._put((self._submitted, _ROWS, self._pending_sql, rows))
        self._handed_over = self._submitted

    def _put(self, job: _Job) -> None:
        if self._queue.qsize() > QUEUE_LIMIT:
            # Back-pressure: let the disk catch up before queueing more.
            with self._committed_cond:
                self._committed_cond.wait_for(
                    lambda: (
                        self._queue.qsize() <= QUEUE_LIMIT // 2
                        or self.failed is not None
                        or self.fault is not None  # never block the loop for one
                    )
                )
        self._queue.put(job)

    def _run(self) -> None:
        try:
            conn = store.connect(self._path, sync=self._sync)
        except (sqlite3.Error, store.StoreError) as err:
            self._open_error = err
            self._started.set()
            return
        self._started.set()
        try:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < CHUNKS_PER_TRANSACTION:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1][1] == _STOP:
                    stopping = True
                    batch.pop()
                delay = RETRY_MIN_S
                while batch and not self._write(conn, batch):
                    # A full or read-only disk: the same transaction again, later.
                    if self._stopping.wait(delay):
                        _LOGGER.error(
                            "Stopped with %d writes not made (%s)",
                            batch[-1][0] - self.committed,
                            self.fault,
                        )
                        return
                    delay = min(RETRY_MAX_S, delay * 2)
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, batch: list[_Job]) -> bool:
        """Write and commit ``batch``; False if a storage fault kept it back."""
        calls: list[tuple[Future[Any], Any, BaseException | None]] = []
        if self.failed is None:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for _ticket, code, what, payload in batch:
                    if code == _ROWS:
                        self._insert(conn, what, payload)
                    elif payload.running() or payload.set_running_or_notify_cancel():
                        # A caller that gave up (cancelled) gets no run and no answer.
                        calls.append((payload, *_isolated(conn, what)))
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                reason = fault_reason(err, self._path)
                if reason is not None:
                    self._enter_fault(reason, err)
                    return False
                self.failed = err
                _LOGGER.error("Writing to the ledger database failed: %s", err)
        if self.failed is not None:
            for _ticket, code, _what, payload in batch:
                if code == _CALL and (
                    payload.running() or payload.set_running_or_notify_cancel()
                ):
                    payload.set_exception(StorageError(f"write failed: {self.failed}"))
        else:
            self.batches += 1
            for future, result, error in calls:
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
        if self.fault is not None and self.failed is None:
            _LOGGER.warning("The ledger database is writable again (%s)", self.fault)
            with self._committed_cond:
                self.fault = None
                recovered, self._recovery = self._recovery, []
            for loop, waiter in recovered:
                loop.call_soon_threadsafe(_settle, waiter)
        self._publish(batch[-1][0])
        return True

    def _enter_fault(self, reason: str, err: sqlite3.Error) -> None:
        """Tell everyone waiting that their writes are held back by ``reason``."""
        if self.fault is None:
            self.faults += 1
            _LOGGER.error(
                "Cannot write the ledger database (%s: %s); new samples are refused "
                "and writes are retried until it can be written again",
                reason,
                err,
            )
        with self._committed_cond:
            self.fault = reason
            self._committed_cond.notify_all()
            waiting, self._waiters = self._waiters, []
        for _ticket, loop, future in waiting:
            loop.call_soon_threadsafe(_settle, future)

    def _insert(
        self, conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]
    ) -> None:
        """Write a chunk; if a row breaks a constraint, write the others without it."""
        conn.execute("SAVEPOINT chunk")
        try:
            conn.execute(
                _multi_row(sql, len(rows)), [value for row in rows for value in row]
            )
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO chunk")
            for row in rows:
                try:
                    conn.execute(sql, row)
                except sqlite3.IntegrityError as err:
                    reason = _constraint_reason(err)
                    self.rejected[reason] += 1
                    _LOGGER.warning("Left out a row the ledger refuses: %s", err)
        conn.execute("RELEASE chunk")

    def _publish(self, last_ticket: int) -> None:
        with self._committed_cond:
            if self.failed is None:
                self.committed = last_ticket
            self._committed_cond.notify_all()
            done = self.committed
            ready = [
                w for w in self._waiters if w[0] <= done or self.failed is not None
            ]
            if ready:
                self._waiters = [w for w in self._waiters if w not in ready]
        for _ticket, loop, future in ready:
            loop.call_soon_threadsafe(_settle, future)


@functools.cache
def _multi_row(sql: str, count: int) -> str:
    """``INSERT ... VALUES (...)`` for ``count`` rows in one statement."""
    head, _, values = sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * count)}"


def _constraint_reason(err: sqlite3.IntegrityError) -> str:
    """The counted reason for a row that broke a constraint."""
    return "duplicate_row" if "UNIQUE" in str(err) else "bad_row"


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _isolated(
    conn: sqlite3.Connection, function: Callable[[sqlite3.Connection], Any]
) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        result = function(conn)
    except sqlite3.OperationalError as err:
        if err.sqlite_errorcode & 0xFF in _DISK_CODES:
            raise  # the disk's fault, not the job's: the transaction is retried
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, err
    except Exception as err:  # handed to the caller through its future
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, err
    conn.execute("RELEASE job")
    return result, None
