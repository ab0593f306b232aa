"""A building of real sidecar processes for the mesh tests, and ways to disturb it.

The building itself is devkit's, with settings that make tests quick; its flats know
their identity. Links can be routed through a :class:`Switchboard` of tiny TCP
relays, one per pair, so a test can cut the mesh in two and heal it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import aiohttp

from devkit import building as devkit_building
from devkit.clock import now_ms
from devkit.ports import free_port
from sidecar.ledger.identity import Identity
from sidecar.mesh import handshake, peer_auth, roster
from tests.sidecar.support import BUILDING

# Short intervals and checkpoints, and commits that need not survive a power cut.
QUICK = {
    "interval_ms": 200,
    "checkpoint_interval_s": 1,
    "sync": "normal",
    "roster": "roster.json",
}


class Flat(devkit_building.Flat):
    """One flat's sidecar, which also knows its key pair."""

    @cached_property
    def identity(self) -> Identity:
        return Identity.load(self.key_file)


class Building(devkit_building.Building):
    """N flats with one roster, named 100, 201, 302, … on floors 1, 2, 3, …

    ``alone``: no roster; each flat runs as a building of one.
    """

    flat_type = Flat
    flats: list[Flat]

    def __init__(self, directory: Path, count: int, *, alone: bool = False) -> None:
        names = [f"{index + 1}0{index % 10}" for index in range(count)]
        super().__init__(
            directory, names, building=BUILDING, settings=QUICK, alone=alone
        )


def make_flat(directory: Path, name: str, port: int | None = None) -> Flat:
    """``sidecar init`` for one flat, with settings that make tests quick."""
    return devkit_building.make_flat(
        directory, name, building=BUILDING, settings=QUICK, port=port, flat_type=Flat
    )


def member_of(flat: Flat) -> roster.Member:
    """The flat's roster member."""
    return roster.Member(
        flat.name, flat.name[0], flat.identity.public_key, f"127.0.0.1:{flat.port}"
    )


def write_roster(flats: list[Flat], doc: roster.Roster) -> roster.Roster:
    """Give every flat the same roster file."""
    for flat in flats:
        roster.save(doc, flat.directory / "roster.json")
    return doc


def set_dial(flat: Flat, dial: dict[str, int]) -> None:
    """Route the flat's links to these flats through other ports."""
    text = flat.config.read_text().split("\n[mesh.dial]")[0]
    lines = "".join(f'"{name}" = "127.0.0.1:{port}"\n' for name, port in dial.items())
    flat.config.write_text(text.rstrip("\n") + "\n\n[mesh.dial]\n" + lines)


@dataclass
class _Relay:
    target: int
    port: int
    server: asyncio.Server | None = None
    open: bool = True
    connections: set[asyncio.StreamWriter] = field(default_factory=set)


class Switchboard:
    """One TCP relay per pair of flats, so that links can be cut and healed."""

    def __init__(self, flats: list[Flat]) -> None:
        self.flats = flats
        self.relays: dict[tuple[str, str], _Relay] = {}

    async def __aenter__(self) -> Switchboard:
        for dialer in self.flats:
            dial: dict[str, int] = {}
            for listener in self.flats:
                if listener.author > dialer.author:
                    relay = _Relay(listener.port, free_port())
                    relay.server = await asyncio.start_server(
                        lambda r, w, relay=relay: self._pipe(relay, r, w),
                        "127.0.0.1",
                        relay.port,
                    )
                    self.relays[(dialer.name, listener.name)] = relay
                    dial[listener.name] = relay.port
            set_dial(dialer, dial)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for relay in self.relays.values():
            self._close(relay)
            assert relay.server is not None
            relay.server.close()

    def cut(self, group: list[Flat], others: list[Flat]) -> None:
        """No link between the two groups until :meth:`heal`."""
        names = {f.name for f in group}, {f.name for f in others}
        for (a, b), relay in self.relays.items():
            if (a in names[0] and b in names[1]) or (a in names[1] and b in names[0]):
                relay.open = False
                self._close(relay)

    def heal(self) -> None:
        """Let every link through again."""
        for relay in self.relays.values():
            relay.open = True

    def _close(self, relay: _Relay) -> None:
        for writer in list(relay.connections):
            writer.transport.abort()
        relay.connections.clear()

    async def _pipe(
        self, relay: _Relay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if not relay.open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", relay.target
            )
        except OSError:
            writer.transport.abort()
            return
        relay.connections.update({writer, up_writer})

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        relay.connections.difference_update({writer, up_writer})


async def peer_connect(
    session: aiohttp.ClientSession,
    target: Flat,
    identity: Identity,
    *,
    building: str = BUILDING,
    nonce: bytes | None = None,
    ts: int | None = None,
    signer: Identity | None = None,
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Dial a node's mesh endpoint as ``identity``; the socket and the last reply.

    ``signer`` signs the proof instead of ``identity`` (to forge one).
    """
    ws = await session.ws_connect(f"http://127.0.0.1:{target.port}/api/v1/mesh")
    nonce = nonce or peer_auth.new_nonce()
    await ws.send_json(
        {
            "type": "hello",
            "protocol": handshake.PROTOCOL_VERSION,
            "building": building,
            "author": identity.author.hex(),
            "nonce": nonce.hex(),
            "ts": now_ms() if ts is None else ts,
            "roster": 1,
        }
    )
    reply: dict[str, Any] = await ws.receive_json(timeout=10)
    if reply["type"] != "challenge":
        return ws, reply
    exchange = peer_auth.Exchange(
        building,
        nonce,
        bytes.fromhex(reply["nonce"]),
        identity.author,
        target.author,
    )
    proof = peer_auth.prove(signer or identity, "dialer", exchange)
    await ws.send_json({"type": "auth", "proof": proof.hex()})
    reply = await ws.receive_json(timeout=10)
    return ws, reply
