"""The durability gate around the node's own feed.

An entry is published, acted on or acknowledged only once the writer has committed it:
callers append, then await :meth:`Gate.durable` with the writer's ticket. A write that
fails stops the node, whichever part of it met the failure: ``failed`` is set and the
node shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.storage.feed import Feed
from sidecar.storage.writer import StorageError


class Gate:
    """Appends to the node's own feed, and waits for them to be committed."""

    def __init__(self, feed: Feed, failed: asyncio.Event) -> None:
        self.feed = feed
        self.writer = feed.writer
        self.failed = failed

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

    async def durable(self, ticket: int) -> None:
        """Wait until ``ticket`` is committed; a storage failure stops the node."""
        try:
            await self.writer.durable(ticket)
        except StorageError:
            self.failed.set()
            raise
