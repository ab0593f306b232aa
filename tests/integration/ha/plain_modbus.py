"""A real Modbus TCP server with plain registers and no SunSpec map, in a thread.

For the config flow's "not SunSpec" case: a device that answers, but is not ours.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager

from simulator.modbus.server import ModbusTcpUnits


class ZeroRegisters:
    """A unit whose every holding register reads 0 and refuses writes."""

    def read(self, address: int, count: int) -> list[int]:
        """Zeros: no 'SunS' marker anywhere."""
        return [0] * count

    def write(self, address: int, words: Sequence[int]) -> None:
        """Accept and forget."""


@contextmanager
def plain_modbus_server(unit_ids: Sequence[int]) -> Iterator[int]:
    """Serve zero registers for ``unit_ids`` on 127.0.0.1; yields the port."""
    started: Future[int] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        server = ModbusTcpUnits(
            {unit_id: ZeroRegisters() for unit_id in unit_ids}, "127.0.0.1", 0
        )
        await server.start()
        started.set_result(server.port)
        await stop.wait()
        await server.stop()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()))
    thread.start()
    try:
        yield started.result(10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
