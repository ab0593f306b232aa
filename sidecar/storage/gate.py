"""The durability gate around the node's own feed.

An own entry is published, acted on or acknowledged only once the writer has committed
it. Callers that answer for an entry append, then await :meth:`Gate.durable` with the
writer's ticket; everything else that wants to hear of new own entries (the replica's
head of the own feed, coordination, the peers) registers in :attr:`Gate.on_durable`
and is told of each entry, in order, only after its commit. So no peer ever holds an
own entry that a crash could take back, and a restarted node, whose next seq follows
what is durable, never signs a seq a peer has seen (PROTOCOL.md, "Durability").

A write that fails stops the node, whichever part of it met the failure: ``failed`` is
set and the node shuts down. A storage fault (a full or read-only disk) does not: what
is queued waits for the disk, and :meth:`Gate.durable` waits with it unless its caller
would rather be told (a sample, refused with the fault's reason).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.storage.faults import StorageFault
from sidecar.storage.feed import Feed
from sidecar.storage.writer import StorageError


class Gate:
    """Appends to the node's own feed, and tells of them once they are committed."""

    def __init__(self, feed: Feed, failed: asyncio.Event) -> None:
        self.feed = feed
        self.writer = feed.writer
        self.failed = failed
        # Told of every own entry, in order, once it is durable.
        self.on_durable: list[Callable[[Entry], None]] = []
        self._waiting: deque[tuple[int, Entry]] = deque()
        self._releasing: asyncio.Task[None] | None = None
        feed.listeners.append(self._appended)

    def guarded[T](self, action: Callable[[], T]) -> T:
        """Run a queueing ``action``; a storage failure in it stops the node."""
        try:
            return action()
        except StorageError:
            self.failed.set()
            raise

    def append(
        self,
        kind: str,
        content: JsonObject,
        now_ms: int,
        refs: tuple[bytes, ...] = (),
    ) -> tuple[Entry, int]:
        """Sign and queue the next entry of the own feed; the entry and its ticket."""
        return self.guarded(lambda: self.feed.append(kind, content, now_ms, refs))

    @property
    def fault(self) -> str | None:
        """``storage_full`` or ``storage_readonly`` while the disk cannot be written."""
        return self.writer.fault

    async def durable(self, ticket: int, *, tell_fault: bool = False) -> None:
        """Wait until ``ticket`` is committed; a storage failure stops the node.

        Through a storage fault this waits until the disk can be written again, or,
        with ``tell_fault``, raises :class:`StorageFault` at once. Whoever hears of
        committed entries has heard of every entry up to ``ticket`` when this returns.
        """
        while True:
            try:
                await self.writer.durable(ticket)
                break
            except StorageFault:
                if tell_fault:
                    raise
                await self.writer.writable()
            except StorageError:
                self.failed.set()
                raise
        self.release()

    def release(self) -> None:
        """Tell :attr:`on_durable` of the queued own entries committed by now."""
        committed = self.writer.committed
        waiting = self._waiting
        while waiting and waiting[0][0] <= committed:
            _, entry = waiting.popleft()
            for listener in self.on_durable:
                listener(entry)

    def _appended(self, entry: Entry, ticket: int) -> None:
        self._waiting.append((ticket, entry))
        if self._releasing is None:
            loop = asyncio.get_running_loop()
            self._releasing = loop.create_task(self._release_when_durable())

    async def _release_when_durable(self) -> None:
        try:
            while self._waiting:
                await self.durable(self._waiting[-1][0])
        except StorageError:
            self.failed.set()
        finally:
            self._releasing = None
