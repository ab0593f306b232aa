"""A Modbus TCP device that misbehaves: a relay in front of the simulated flat.

The relay passes requests through and, by :attr:`ModbusFaults.mode`, does to each
response frame what a sick device or gateway does: pass it, answer garbage (the
right transaction header around random bytes), answer line noise (random bytes, no
header at all), answer well-formed reads with
random register values, answer too late, or send half of it
and drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from enum import StrEnum

MBAP_BYTES = 7  # transaction, protocol, length, unit


class Mode(StrEnum):
    """What happens to each response."""

    PASS = "pass"
    GARBAGE = "garbage"
    NOISE = "noise"  # random bytes of random length, not even a header
    WRONG_VALUES = "wrong_values"  # well-formed reads of random register values
    SLOW = "slow"
    DROP = "drop"


class ModbusFaults:
    """Listens on 127.0.0.1 and relays to ``target`` with :attr:`mode` applied."""

    def __init__(self, target: int, *, slow_s: float = 4.0) -> None:
        self.target = target
        self.slow_s = slow_s  # longer than the integration's request timeout
        self.mode = Mode.PASS
        self.port = 0
        self.stats: Counter[str] = Counter()
        self._random = random.Random(13)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on a free port (:attr:`port`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every connection."""
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self._writers |= pair
        tasks = [
            asyncio.create_task(self._requests(reader, up_writer)),
            asyncio.create_task(self._responses(up_reader, writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for one in pair:
            one.transport.abort()
        self._writers -= pair

    async def _requests(
        self, reader: asyncio.StreamReader, up: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                up.write(data)
                await up.drain()

    async def _responses(
        self, up: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError, asyncio.IncompleteReadError):
            while True:
                header = await up.readexactly(MBAP_BYTES)
                body = await up.readexactly(int.from_bytes(header[4:6]) - 1)
                frame = header + body
                mode = self.mode
                self.stats[mode] += 1
                if mode is Mode.GARBAGE:
                    noise = bytes(self._random.randrange(256) for _ in body)
                    frame = header + noise
                elif mode is Mode.NOISE:
                    size = self._random.randrange(1, 40)
                    frame = bytes(self._random.randrange(256) for _ in range(size))
                elif mode is Mode.WRONG_VALUES and body[1] == 3 and len(body) > 3:
                    noise = bytes(self._random.randrange(256) for _ in body[3:])
                    frame = header + body[:3] + noise
                elif mode is Mode.SLOW:
                    await asyncio.sleep(self.slow_s)
                elif mode is Mode.DROP:
                    writer.write(frame[: len(frame) // 2])
                    await writer.drain()
                    return
                writer.write(frame)
                await writer.drain()
