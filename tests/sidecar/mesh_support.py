"""A building of real sidecar processes on 127.0.0.1 for the mesh tests.

Every flat gets its own directory, key, configuration and port; the roster lists them
all. Links can be routed through a :class:`Switchboard` of tiny TCP relays, one per
pair, so a test can cut the mesh in two and heal it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import now_ms
from bench.ports import free_port
from sidecar import cli
from sidecar.ledger import canonical
from sidecar.ledger.identity import Identity
from sidecar.mesh import peer_auth, roster
from tests.sidecar.support import BUILDING, RunningSidecar, read_rows, start_sidecar


@dataclass
class Flat:
    """One flat's sidecar: files, identity and (while running) its process."""

    name: str
    directory: Path
    port: int
    identity: Identity
    process: RunningSidecar | None = None
    counter: float = 1000.0

    @property
    def config(self) -> Path:
        return self.directory / "sidecar.toml"

    @property
    def db(self) -> Path:
        return self.directory / "data" / "ledger.db"

    @property
    def author(self) -> bytes:
        return self.identity.author

    @property
    def running(self) -> RunningSidecar:
        assert self.process is not None, f"flat {self.name} is not running"
        return self.process


def make_flat(directory: Path, name: str, port: int | None = None) -> Flat:
    """``sidecar init`` for one flat, with settings that make tests quick."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    code = cli.main(
        [
            "init",
            "--config",
            str(directory / "sidecar.toml"),
            "--building",
            BUILDING,
            "--floor",
            name[0],
            "--flat",
            name,
            "--listen",
            f"127.0.0.1:{port}",
        ]
    )
    assert code == 0
    text = (directory / "sidecar.toml").read_text()
    text = text.replace("interval_ms = 1000", "interval_ms = 200")
    text = text.replace("checkpoint_interval_s = 5", "checkpoint_interval_s = 1")
    text = text.replace('sync = "full"', 'sync = "normal"')
    text = text.replace('roster = ""', 'roster = "roster.json"')
    (directory / "sidecar.toml").write_text(text)
    identity = Identity.load(directory / "data" / "node.key")
    return Flat(name, directory, port, identity)


def member_of(flat: Flat) -> roster.Member:
    """The flat's roster member."""
    return roster.Member(
        flat.name, flat.name[0], flat.identity.public_key, f"127.0.0.1:{flat.port}"
    )


def write_roster(flats: list[Flat], doc: roster.Roster | None = None) -> roster.Roster:
    """Give every flat the same roster file (by default: all of them, version 1)."""
    doc = doc or roster.Roster(BUILDING, 1, tuple(member_of(flat) for flat in flats))
    for flat in flats:
        roster.save(doc, flat.directory / "roster.json")
    return doc


def set_dial(flat: Flat, dial: dict[str, int]) -> None:
    """Route the flat's links to these flats through other ports."""
    text = flat.config.read_text().split("\n[mesh.dial]")[0]
    lines = "".join(f'"{name}" = "127.0.0.1:{port}"\n' for name, port in dial.items())
    flat.config.write_text(text.rstrip("\n") + "\n\n[mesh.dial]\n" + lines)


class _Client:
    """A local API connection whose replies a background task collects."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pushed: list[dict[str, Any]] = []  # mesh and setpoint messages
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                reply = message.json()
                kind = reply.get("type")
                if kind in {"mesh", "setpoint", "bus_setpoint"}:
                    reply["received_ms"] = now_ms()
                    self.pushed.append(reply)
                elif kind not in {"entry", "rejected"}:
                    self.replies.put_nowait(reply)

    def setpoints(self) -> list[dict[str, Any]]:
        """The setpoint messages received so far."""
        return [m for m in self.pushed if m["type"] == "setpoint"]

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.ws.close()


class Building:
    """N flats with one roster."""

    def __init__(self, directory: Path, count: int) -> None:
        self.flats = [
            make_flat(directory / f"flat{index}", f"{index + 1}0{index % 10}")
            for index in range(count)
        ]
        self.roster = write_roster(self.flats)
        self.session: aiohttp.ClientSession | None = None
        self._feeds: dict[str, _Client] = {}

    async def __aenter__(self) -> Building:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._feeds.values():
            await client.close()
        stopped = await asyncio.gather(
            *(self.stop(flat) for flat in self.flats if flat.process is not None),
            return_exceptions=True,
        )
        assert self.session is not None
        await self.session.close()
        failures = [result for result in stopped if isinstance(result, BaseException)]
        if failures and exc[0] is None:
            raise failures[0]

    async def start(self, *flats: Flat) -> None:
        """Start these flats (all if none given) as processes."""
        chosen = flats or tuple(self.flats)
        started = await asyncio.gather(
            *(start_sidecar(f.config) for f in chosen), return_exceptions=True
        )
        for flat, process in zip(chosen, started, strict=True):
            if isinstance(process, RunningSidecar):
                flat.process = process  # stopped on exit even if another failed
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure

    async def stop(self, flat: Flat) -> None:
        """Stop one flat cleanly."""
        client = self._feeds.pop(flat.name, None)
        if client is not None:
            await client.close()
        assert flat.process is not None
        await flat.process.stop()
        flat.process = None

    async def kill(self, flat: Flat) -> None:
        """kill -9 one flat."""
        assert flat.process is not None
        flat.process.kill()
        await flat.process.process.wait()
        flat.process = None
        client = self._feeds.pop(flat.name, None)
        if client is not None:
            await client.close()

    async def ask(self, flat: Flat, message: dict[str, Any]) -> dict[str, Any]:
        """One request/reply on the flat's local API connection."""
        client = await self.client(flat)
        async with client.lock:
            await client.ws.send_json(message)
            while True:
                reply = await asyncio.wait_for(client.replies.get(), 15)
                if reply.get("type") not in {"entry", "rejected"}:
                    return reply

    async def client(self, flat: Flat) -> _Client:
        # The node serves one local client at a time: samples and requests share it.
        client = self._feeds.get(flat.name)
        if client is None or client.ws.closed:
            assert self.session is not None
            client = _Client(
                await flat.running.connect(
                    self.session, subscribe=("mesh", "setpoint", "bus_setpoint")
                )
            )
            self._feeds[flat.name] = client
        return client

    async def status(self, flat: Flat) -> dict[str, Any]:
        """The flat's ``status`` reply."""
        return await self.ask(flat, {"type": "status"})

    async def produce(self, seconds: float, *flats: Flat) -> None:
        """Feed samples to these flats (all running ones if none) for a while."""
        chosen = flats or tuple(f for f in self.flats if f.process is not None)
        assert self.session is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for flat in chosen:
                client = await self.client(flat)
                flat.counter += 0.3
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await client.ws.send_json(
                        {
                            "type": "sample",
                            "ts": now_ms(),
                            "pv_wh": flat.counter,
                            "pv_w": 5400,
                        }
                    )
            await asyncio.sleep(0.1)

    async def converged(
        self, flats: list[Flat] | None = None, within: float = 60
    ) -> dict[str, Any]:
        """Wait until the flats hold identical heads for every author; those heads."""
        chosen = flats or [f for f in self.flats if f.process is not None]
        deadline = time.monotonic() + within
        while True:
            heads = [(await self.status(flat))["mesh"]["heads"] for flat in chosen]
            if all(h == heads[0] for h in heads):
                return heads[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no convergence: {json.dumps(heads)[:2000]}")
            await asyncio.sleep(0.3)


def stored_ids(db: Path) -> dict[str, list[str]]:
    """Every author's entry ids in seq order, read from a database file."""
    result: dict[str, list[str]] = {}
    for aid, eid in read_rows(
        db,
        "SELECT a.id, e.id FROM entries e JOIN authors a ON a.no = e.author "
        "ORDER BY a.id, e.seq",
    ):
        result.setdefault(bytes(aid).hex(), []).append(bytes(eid).hex())
    return result


def newest_offers(db: Path) -> dict[bytes, dict[str, object]]:
    """Each author's newest ``availability`` body held in a database file."""
    rows = read_rows(
        db,
        "SELECT a.id, e.body FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE e.kind = 'availability' ORDER BY e.seq",
    )
    return {bytes(author): dict(canonical.decode(bytes(body))) for author, body in rows}


def offers_everywhere(dbs: list[Path], authors: set[bytes], since_ms: float) -> bool:
    """Whether every database holds an availability from every author since then."""
    for db in dbs:
        newest = newest_offers(db)
        if set(newest) != authors:
            return False
        if any(int(str(offer["ts"])) < since_ms for offer in newest.values()):
            return False
    return True


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
            "protocol": 1,
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
