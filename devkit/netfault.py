"""A faulty network between ledger nodes: TCP relays that delay, stall, reset and cut.

Each link of a building (the member with the smaller author id dials) is routed
through a :class:`Relay` on 127.0.0.1 by the dialer's ``[mesh.dial]`` table. A relay
keeps the byte stream intact, as TCP does, and injects what a bad network does to
it: a delay on every chunk (with jitter), a lost packet as a stall of one
retransmission timeout (later bytes wait behind it), a connection reset now and
then, and a partition that aborts every connection and refuses new ones until it
heals. Kernel-level emulation (``tc netem``) needs a kernel module that containers
often lack; this needs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devkit.ports import free_port


@dataclass
class Conditions:
    """What the network does to the bytes; all zero is a clean link."""

    delay_s: float = 0.0  # every chunk, each way
    jitter_s: float = 0.0  # added to the delay, uniformly 0…jitter
    loss: float = 0.0  # chance per chunk that it is lost once and resent
    retransmit_s: float = 0.2  # how long a lost chunk stalls the stream
    reset: float = 0.0  # chance per chunk that the connection is reset


@dataclass
class Relay:
    """One listening port that forwards to ``target`` under the network's conditions."""

    network: Network
    target: int
    port: int = field(default_factory=free_port)
    cut: bool = False
    server: asyncio.Server | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        """Listen on 127.0.0.1:port."""
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    def close(self) -> None:
        """Stop listening and abort every connection."""
        self.abort_all()
        if self.server is not None:
            self.server.close()

    def abort_all(self) -> None:
        """Abort the connections that pass through now."""
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        stats = self.network.stats
        if self.cut:
            stats["refused"] += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            writer.transport.abort()
            return
        stats["connections"] += 1
        pair = {writer, up_writer}
        self.writers.update(pair)
        await asyncio.gather(
            self._direction(reader, up_writer, pair),
            self._direction(up_reader, writer, pair),
        )
        self.writers.difference_update(pair)

    async def _direction(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        pair: set[asyncio.StreamWriter],
    ) -> None:
        """Copy one way; each chunk leaves at its release time, in order."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def release() -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while (item := await queue.get()) is not None:
                    due, data = item
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    dst.write(data)
                    await dst.drain()
            for writer in pair:
                writer.transport.abort()

        sender = asyncio.create_task(release())
        stats, now = self.network.stats, time.monotonic
        last_due = 0.0
        with contextlib.suppress(OSError, ConnectionError):
            while data := await src.read(65536):
                rules = self.network.conditions
                stats["chunks"] += 1
                if random.random() < rules.reset:
                    stats["resets"] += 1
                    break
                due = now() + rules.delay_s + random.uniform(0, rules.jitter_s)
                if random.random() < rules.loss:
                    stats["lost"] += 1
                    due += rules.retransmit_s
                last_due = max(last_due, due)  # a stream keeps its order
                queue.put_nowait((last_due, data))
        queue.put_nowait(None)
        if not sender.done():
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        for writer in pair:
            writer.transport.abort()


class Network:
    """A relay for every pair of nodes; :meth:`partition` and :meth:`heal` them.

    ``nodes`` are (name, author id, mesh port, configuration file). Use it in an
    ``async with`` block before the nodes start: it writes each dialer's
    ``[mesh.dial]`` table.
    """

    def __init__(
        self,
        nodes: Iterable[tuple[str, bytes, int, Path]],
        conditions: Conditions | None = None,
    ) -> None:
        self.nodes = list(nodes)
        self.conditions = conditions or Conditions()
        self.stats: Counter[str] = Counter()
        self.relays: dict[tuple[str, str], Relay] = {}

    async def __aenter__(self) -> Network:
        for dialer, author, _, config in self.nodes:
            dial: dict[str, int] = {}
            for listener, other, port, _ in self.nodes:
                if other > author:
                    relay = Relay(self, port)
                    await relay.start()
                    self.relays[(dialer, listener)] = relay
                    dial[listener] = relay.port
            write_dial(config, dial)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for relay in self.relays.values():
            relay.close()

    def partition(self, *groups: Iterable[str]) -> None:
        """No link between nodes of different groups until :meth:`heal`."""
        side = {name: index for index, group in enumerate(groups) for name in group}
        for (a, b), relay in self.relays.items():
            if side.get(a) != side.get(b):
                relay.cut = True
                relay.abort_all()

    def heal(self) -> None:
        """Let every link through again (under the same conditions)."""
        for relay in self.relays.values():
            relay.cut = False


def write_dial(config: Path, dial: dict[str, int]) -> None:
    """Route a node's links to these flats through other ports (``[mesh.dial]``)."""
    text = config.read_text().split("\n[mesh.dial]")[0]
    lines = "".join(f'"{name}" = "127.0.0.1:{port}"\n' for name, port in dial.items())
    config.write_text(text.rstrip("\n") + "\n\n[mesh.dial]\n" + lines)
