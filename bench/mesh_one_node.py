"""One real node in a building of N flats: its CPU per entry, live and catching up.

More flats than this machine holds as processes, measured honestly: the node under test
is a real ``python -m sidecar run`` process with a roster of N members, fed samples
over its local API at 1 Hz like any flat. The other N - 1 members are played by this
driver over the real mesh protocol: each dials the node, completes the signed
handshake, pushes its own signed flow entries at 1 Hz on its own link, sends signed
checkpoints at the cadence a node of that building would (PROTOCOL.md section 14.5),
and every 5 s three of them send a vector. The node takes all of it through its usual
code path (verification, storage, cosigning, anti-entropy); only the peers are
simulated. The node's CPU is read from /proc, so the driver's own work (signing for
every member) is not counted, though on a busy machine it competes for the cores.

Then catch-up: the driver holds back every member's entries for a while and sends them
as ``catchup`` frames of up to 500 (what ``fetch`` answers look like); the node's CPU
until it holds them all, per entry, is the catch-up figure.

Beside each figure, measured in the same run: one bare P-256 verification.

Sizes beyond the roster's limit of 64 members (PROTOCOL.md section 13.1) need that
limit raised in ``sidecar/mesh/roster.py`` first; the figures for 100 and 200 flats in
SIDECAR.md were measured so, with nothing else changed.

Prints readable lines, then one JSON object as the very last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.baselines import bare_verify_us
from bench.etp_throughput import _content
from bench.mesh_building import PROFILED, profile_top
from devkit.building import Building
from devkit.clock import now_ms
from devkit.local_api import hello, sample
from devkit.measure import CORES, cpu_seconds, percentile
from sidecar.ledger import etp, kinds, merkle
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.mesh import handshake, peer_auth, roster

BUILDING = "bldg-bench"
VECTOR_EVERY_S = 5.0
CATCHUP_FRAME = 500
# What peers of each version send a node (PROTOCOL.md 14.3, 14.5): vectors from three
# random peers a round and checkpoints every max(5 s, 0.1 s per member); before, every
# peer's vector every round and checkpoints every 5 s (``--legacy``).
VECTOR_PEERS = 3
CHECKPOINT_S_PER_MEMBER = 0.1


@dataclass
class Member:
    """One simulated member: its key, its feed as signed so far, its link."""

    identity: Identity
    name: str
    seq: int = 0
    head: bytes = etp.ZERO_ID
    tree: merkle.Frontier = field(default_factory=merkle.Frontier)
    held: list[str] = field(default_factory=list)  # wire entries not yet sent
    ws: aiohttp.ClientWebSocketResponse | None = None

    def sign(self, ts: int) -> str:
        """The member's next flow entry, as a wire object's JSON."""
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kinds.FLOW,
            "building": BUILDING,
            "ts": ts,
            **_content(self.seq, ts - 1000),
        }
        entry = etp.make_entry(self.identity, self.seq + 1, self.head, (), body)
        self.seq, self.head = entry.seq, entry.id
        self.tree.append(merkle.leaf_hash(entry.id))
        return json.dumps(etp.entry_to_wire(entry), separators=(",", ":"))

    def checkpoint(self, ts: int) -> str:
        """A signed checkpoint of the member's feed, as a ``statements`` frame."""
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kinds.CHECKPOINT,
            "building": BUILDING,
            "ts": ts,
            "size": self.seq,
            "root": self.tree.root().hex(),
        }
        statement = etp.make_statement(self.identity, body)
        return json.dumps(
            {"type": "statements", "items": [etp.statement_to_wire(statement)]}
        )


async def dial(
    session: aiohttp.ClientSession, port: int, member: Member, node: bytes
) -> aiohttp.ClientWebSocketResponse:
    """Link ``member`` to the node with the mesh handshake (PROTOCOL.md 14.2)."""
    ws = await session.ws_connect(
        f"http://127.0.0.1:{port}/api/v1/mesh", max_msg_size=0
    )
    nonce = peer_auth.new_nonce()
    await ws.send_json(
        {
            "type": "hello",
            "protocol": handshake.PROTOCOL_VERSION,
            "building": BUILDING,
            "author": member.identity.author.hex(),
            "nonce": nonce.hex(),
            "ts": now_ms(),
            "roster": 1,
        }
    )
    reply = await ws.receive_json(timeout=30)
    if reply.get("type") != "challenge":
        raise RuntimeError(f"member {member.name} refused: {reply}")
    exchange = peer_auth.Exchange(
        BUILDING, nonce, bytes.fromhex(reply["nonce"]), member.identity.author, node
    )
    proof = peer_auth.prove(member.identity, "dialer", exchange)
    await ws.send_json({"type": "auth", "proof": proof.hex()})
    reply = await ws.receive_json(timeout=30)
    if reply.get("type") != "ready":
        raise RuntimeError(f"member {member.name} not linked: {reply}")
    return ws


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read and drop what the node sends (cosignatures, vectors, its pushes)."""
    async for _ in ws:
        pass


class Simulation:
    """The node under test and the driver's members around it."""

    def __init__(
        self, directory: Path, flats: int, profile: bool, legacy: bool
    ) -> None:
        self.legacy = legacy
        self.building = Building(
            directory,
            ["100"],
            building=BUILDING,
            settings={"interval_ms": 1000, "sync": "full"},
            subscribe=(),
        )
        self.flat = self.building.flats[0]
        self.members = [
            Member(Identity.generate(), f"{1 + (i + 1) // 10}{(i + 1) % 10:02d}")
            for i in range(flats - 1)
        ]
        key = Identity.load(self.flat.key_file).public_key
        listed = [roster.Member("100", "1", key, f"127.0.0.1:{self.flat.port}")]
        # Addresses nobody listens on: the node's dials fail; the members dial it.
        listed += [
            roster.Member(m.name, m.name[0], m.identity.public_key, "127.0.0.1:9")
            for m in self.members
        ]
        roster.save(
            roster.Roster(BUILDING, 1, tuple(listed)),
            self.flat.directory / "roster.json",
        )
        self.tasks: list[asyncio.Task[None]] = []
        self.profile_file = self.flat.directory / "node.prof" if profile else None

    async def start(self, session: aiohttp.ClientSession) -> None:
        """Start the node, link every member to it, feed it samples."""
        self.building.session = aiohttp.ClientSession()
        profiled = None
        if self.profile_file is not None:
            profiled = [sys.executable, "-c", PROFILED, str(self.profile_file)]
            profiled += ["run", "--config", str(self.flat.config)]
        await self.building.start(within=120, command=lambda _flat: profiled)
        await self.building.connect(self.flat, hello(serial="BENCH"))
        author = self.flat.author
        port = self.flat.port
        # A node lets 64 connections from one address handshake at a time.
        dialing = asyncio.Semaphore(32)

        async def link(member: Member) -> aiohttp.ClientWebSocketResponse:
            async with dialing:
                return await dial(session, port, member, author)

        sockets = await asyncio.gather(*(link(member) for member in self.members))
        for member, ws in zip(self.members, sockets, strict=True):
            member.ws = ws
            self.tasks.append(asyncio.create_task(drain(ws)))
        self.tasks.append(asyncio.create_task(self._samples()))

    async def _samples(self) -> None:
        client = self.building.clients[self.flat.name]
        counter = 0.0
        while True:
            counter += 0.5
            await client.send(
                sample(
                    now_ms(),
                    pv_wh=round(counter, 4),
                    pv_w=1800,
                    grid_w=-600,
                    battery_w=-400,
                    soc_pct=55,
                )
            )
            await asyncio.sleep(1.0)

    def cpu(self) -> float:
        """The node's CPU seconds so far."""
        assert self.flat.process is not None
        return cpu_seconds(self.flat.process.pid)

    async def status(self) -> dict[str, Any]:
        """The node's ``status`` reply."""
        return await self.building.status(self.flat)

    async def latencies(self) -> list[float]:
        """The node's pushed-entry latencies so far (ms)."""
        stats = await self.building.ask(self.flat, {"type": "mesh_stats"}, 60)
        return list(stats["latencies_ms"])

    async def live(self, seconds: float, hold: bool = False) -> int:
        """Every member signs an entry a second; pushed now or held back. Count."""
        flats = len(self.members) + 1
        if self.legacy:
            checkpoint_every, vectors = 5.0, len(self.members)
        else:
            checkpoint_every = max(5.0, CHECKPOINT_S_PER_MEMBER * flats)
            vectors = min(VECTOR_PEERS, len(self.members))
        phases = [random.random() for _ in self.members]
        signed = 0
        started = time.monotonic()
        next_vector = started + VECTOR_EVERY_S / vectors
        last_checkpoint = [started - random.uniform(0, 5) for _ in self.members]
        tick = 0
        while time.monotonic() - started < seconds:
            # One pass a second: each member's entry at its own phase of the second.
            second = started + tick
            tick += 1
            order = sorted(range(len(self.members)), key=lambda i: phases[i])
            for i in order:
                member = self.members[i]
                wait = second + phases[i] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                wire = member.sign(now_ms())
                signed += 1
                assert member.ws is not None
                if hold:
                    member.held.append(wire)
                    continue
                await member.ws.send_str(f'{{"type":"entries","entries":[{wire}]}}')
                now = time.monotonic()
                if now - last_checkpoint[i] >= checkpoint_every:
                    last_checkpoint[i] = now
                    await member.ws.send_str(member.checkpoint(now_ms()))
                if now >= next_vector:
                    next_vector = now + VECTOR_EVERY_S / vectors
                    await member.ws.send_str(self._vector())
        return signed

    def _vector(self) -> str:
        heads = {
            m.identity.author.hex(): [m.seq, m.head.hex()]
            for m in self.members
            if not m.held
        }
        return json.dumps({"type": "vector", "heads": heads})

    async def send_held(self) -> int:
        """Send every held entry as catch-up frames of up to 500; how many."""
        sent = 0
        for member in self.members:
            assert member.ws is not None
            for start in range(0, len(member.held), CATCHUP_FRAME):
                chunk = member.held[start : start + CATCHUP_FRAME]
                await member.ws.send_str(
                    '{"type":"entries","catchup":1,"entries":[' + ",".join(chunk) + "]}"
                )
                sent += len(chunk)
            member.held.clear()
        return sent

    async def holds_all(self, within: float) -> bool:
        """Wait until the node holds every member's newest entry."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            heads = (await self.status())["mesh"]["heads"]
            if all(
                heads.get(m.identity.author.hex(), [0])[0] >= m.seq
                for m in self.members
            ):
                return True
            await asyncio.sleep(0.2)
        return False

    async def close(self) -> None:
        """Stop the driver's tasks, close the links, stop the node."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for member in self.members:
            if member.ws is not None:
                await member.ws.close()
        await self.building.close(within=30)


async def measure(
    directory: Path,
    flats: int,
    window_s: float,
    away_s: float,
    *,
    profile: Path | None,
    legacy: bool,
) -> dict[str, Any]:
    """One building size: live window, then a catch-up."""
    verify_us = bare_verify_us()
    simulation = Simulation(directory / f"n{flats}", flats, profile is not None, legacy)
    # One connection per member: more than the default pool of 100.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0)
    ) as session:
        try:
            await simulation.start(session)
            await simulation.live(5.0)  # warm up: links settle, first checkpoints
            before = await simulation.latencies()
            cpu0, wall0 = simulation.cpu(), time.monotonic()
            signed = await simulation.live(window_s)
            cpu1, wall1 = simulation.cpu(), time.monotonic()
            await simulation.holds_all(30.0)
            after = await simulation.latencies()
            status = await simulation.status()
            # Catch-up: everything made meanwhile arrives at once, as fetch answers.
            held = await simulation.live(away_s, hold=True)
            cpu2, wall2 = simulation.cpu(), time.monotonic()
            await simulation.send_held()
            caught = await simulation.holds_all(120.0 + held / 1000)
            cpu3, wall3 = simulation.cpu(), time.monotonic()
            final = await simulation.status()
        finally:
            await simulation.close()
    latencies = after[len(before) :] if len(after) >= len(before) else after
    own = 1  # the node signs about one entry a second itself
    handled = signed + own * (wall1 - wall0)
    missing = sum(
        max(0, m.seq - final["mesh"]["heads"].get(m.identity.author.hex(), [0])[0])
        for m in simulation.members
    )
    profiled = simulation.profile_file
    return {
        "profile": [] if profiled is None else profile_top(profiled, 25),
        "nodes": flats,
        "rate_hz": 1,
        "simulated": True,
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "cpu_pct_node": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
        "cpu_us_per_entry_handled": round(1e6 * (cpu1 - cpu0) / handled, 1),
        "verify_us": round(verify_us, 1),
        "links": status["mesh"]["peers_online"],
        "missing_at_end": missing,
        "rejected": final["rejected"],
        "catchup_entries": held,
        "catchup_complete": caught,
        "catchup_s": round(wall3 - wall2, 2),
        "catchup_cpu_us_per_entry": round(1e6 * (cpu3 - cpu2) / max(1, held), 1),
    }


def report(run: dict[str, Any]) -> None:
    """Readable lines for one building size."""
    verify = run["verify_us"]
    print(
        f"{run['nodes']:4d} flats (1 real node, {run['nodes'] - 1} simulated peers): "
        f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms sign → durable here; node "
        f"CPU {run['cpu_pct_node']:.1f} % of a core; {run['links']} links"
    )
    print(
        f"     CPU per entry handled {run['cpu_us_per_entry_handled']:.0f} µs = "
        f"{run['cpu_us_per_entry_handled'] / verify:.2f}× a bare verify "
        f"({verify:.1f} µs); catching up {run['catchup_entries']} entries: "
        f"{run['catchup_cpu_us_per_entry']:.0f} µs each = "
        f"{run['catchup_cpu_us_per_entry'] / verify:.2f}× in {run['catchup_s']:.1f} s"
        f"{'' if run['catchup_complete'] else ' (NOT complete)'}; "
        f"{run['missing_at_end']} missing at the end; rejected {run['rejected']}"
    )
    for line in run["profile"]:
        print(f"     {line}")


async def run_all(
    sizes: list[int],
    window_s: float,
    away_s: float,
    profile: Path | None,
    legacy: bool,
) -> list[Any]:
    """Every size in a fresh directory."""
    results = []
    with tempfile.TemporaryDirectory(prefix="mesh-one-") as folder:
        for flats in sizes:
            run = await measure(
                Path(folder), flats, window_s, away_s, profile=profile, legacy=legacy
            )
            if profile is not None:
                shutil.copy(Path(folder) / f"n{flats}" / "100" / "node.prof", profile)
            report(run)
            results.append(run)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 flats, short")
    parser.add_argument("--sizes", help="building sizes, e.g. 30,100,200")
    parser.add_argument("--window", type=float, help="seconds measured live")
    parser.add_argument("--away", type=float, help="seconds of backlog to catch up")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="peers send as before: every vector to everyone, checkpoints every 5 s",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the node under cProfile and keep its stats in this file",
    )
    args = parser.parse_args()
    sizes = [30] if args.quick else [30, roster.MAX_MEMBERS]
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    if max(sizes) > roster.MAX_MEMBERS:
        parser.error(
            f"a roster holds at most {roster.MAX_MEMBERS} members (PROTOCOL.md 13.1); "
            "larger sizes need that limit raised in sidecar/mesh/roster.py"
        )
    window = args.window or (8.0 if args.quick else 20.0)
    away = args.away or (8.0 if args.quick else 30.0)
    print(
        f"one real node among simulated peers, 127.0.0.1, {CORES} cores; "
        f"{window:.0f} s live at 1 Hz, then {away:.0f} s of backlog caught up"
    )
    results = asyncio.run(run_all(sizes, window, away, args.profile, args.legacy))
    if args.profile:
        print(f"the node's profile (the last size's) is in {args.profile}")
    ratios = [r["cpu_us_per_entry_handled"] / r["verify_us"] for r in results]
    catchup = [r["catchup_cpu_us_per_entry"] / r["verify_us"] for r in results]
    print(
        json.dumps(
            {
                "runs": [
                    {k: v for k, v in r.items() if k != "profile"} for r in results
                ],
                "verify_us": statistics.median(r["verify_us"] for r in results),
                "catchup_cpu_us_per_entry": max(
                    r["catchup_cpu_us_per_entry"] for r in results
                ),
                "live_verifies_max": round(max(ratios), 2),
                "catchup_verifies_max": round(max(catchup), 2),
                "quick": args.quick,
                "legacy_peers": args.legacy,
            }
        )
    )


if __name__ == "__main__":
    main()
