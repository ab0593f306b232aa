"""What every fault case measures: acknowledged entries, losses, doubles, accusations.

A :class:`Feeder` plays Home Assistant for some flats of a building: it sends samples
and keeps each flow entry the node acknowledged and each rejection's reason. After
the fault, :func:`audit` reads every node's database and status and says what was
lost, what was counted twice and whom a node accuses of equivocation.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

from devkit import local_api
from devkit.building import Building, Flat
from devkit.clock import now_ms
from devkit.local_api import Message
from devkit.node_db import body, read_rows


@dataclass
class Acks:
    """What one flat's node said to the samples it was sent."""

    entries: dict[int, str] = field(default_factory=dict)  # seq → entry id (hex)
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    twice: int = 0  # seqs acknowledged again with another id

    def take(self, message: Message) -> bool:
        """Record an ``entry`` or ``rejected`` message (and let the client see it)."""
        if message.get("type") == "entry":
            seq, eid = int(message["seq"]), str(message["id"])
            if self.entries.setdefault(seq, eid) != eid:
                self.twice += 1
        elif message.get("type") == "rejected":
            self.rejected[str(message["reason"])] += 1
        return False


class Feeder:
    """Sends samples to flats as Home Assistant does and keeps the answers."""

    def __init__(self, building: Building) -> None:
        self.building = building
        self.acks: dict[str, Acks] = {}

    async def attach(self, flat: Flat) -> None:
        """(Re)open the flat's local API client, recording what it answers."""
        acks = self.acks.setdefault(flat.name, Acks())
        await self.building.connect(
            flat, local_api.hello(subscribe=("mesh",)), acks.take
        )

    async def produce(
        self, seconds: float, *flats: Flat, clock_offset_ms: int = 0
    ) -> None:
        """Samples to these flats every 0.1 s for a while (ts = true time + offset)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for flat in flats:
                client = await self.building.client(flat)
                flat.counter += 0.3
                await client.send(
                    local_api.sample(
                        now_ms() + clock_offset_ms, pv_wh=flat.counter, pv_w=5400
                    )
                )
            await asyncio.sleep(0.1)


@dataclass
class Audit:
    """What the databases and statuses say after a fault."""

    acknowledged: int  # flow entries acknowledged to the feeders
    lost: int  # acknowledged, but missing or different on some node
    duplicated: int  # acknowledged twice, or one interval in two flow entries
    false_equivocations: int  # problems the nodes report against honest flats
    problems: list[Message]
    log_lines: int  # WARNING and worse in the nodes' logs

    def __str__(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, lost {self.lost}, duplicated "
            f"{self.duplicated}, false equivocations {self.false_equivocations}, "
            f"{self.log_lines} warning/error log lines"
        )


def flow_intervals(flat: Flat, author: bytes) -> list[tuple[int, int]]:
    """The (start, end) of every flow entry of ``author`` the flat's node holds."""
    rows = read_rows(
        flat.db,
        "SELECT e.body FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE a.id = ? AND e.kind = 'flow' ORDER BY e.seq",
        (author,),
    )
    return [(int(b["start"]), int(b["end"])) for b in map(body, (r[0] for r in rows))]


def held_ids(flat: Flat, author: bytes) -> dict[int, str]:
    """seq → entry id (hex) of ``author``'s entries in the flat's database."""
    rows = read_rows(
        flat.db,
        "SELECT e.seq, e.id FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE a.id = ?",
        (author,),
    )
    return {int(seq): bytes(eid).hex() for seq, eid in rows}


def overlaps(intervals: list[tuple[int, int]]) -> int:
    """How many intervals begin before the previous one ended (counted twice)."""
    ordered = sorted(intervals)
    return sum(1 for a, b in itertools.pairwise(ordered) if b[0] < a[1])


async def audit(
    building: Building,
    feeder: Feeder,
    *,
    holders: list[Flat] | None = None,
    honest: list[Flat] | None = None,
) -> Audit:
    """Check every acknowledged entry on every holder, and every holder's accusations.

    ``honest`` are the flats no node may accuse (all of them unless given).
    """
    holders = holders or building.running()
    honest_ids = {f.author.hex() for f in (honest or building.flats)}
    acknowledged = lost = duplicated = 0
    for name, acks in feeder.acks.items():
        author = next(f for f in building.flats if f.name == name).author
        acknowledged += len(acks.entries)
        duplicated += acks.twice
        for holder in holders:
            held = held_ids(holder, author)
            lost += sum(1 for seq, eid in acks.entries.items() if held.get(seq) != eid)
            duplicated += overlaps(flow_intervals(holder, author))
    problems: list[Message] = []
    for holder in holders:
        status = await building.status(holder)
        for problem in status["mesh"].get("problems", []):
            problems.append({"seen_by": holder.name, **problem})
    false = sum(1 for p in problems if p.get("author") in honest_ids)
    loud = building.log_count(r" (WARNING|ERROR|CRITICAL) ")
    return Audit(acknowledged, lost, duplicated, false, problems, loud)


def missing(feeder: Feeder, building: Building, holders: list[Flat]) -> int:
    """Acknowledged entries some holder does not (yet) have, counted per holder."""
    count = 0
    for name, acks in feeder.acks.items():
        author = next(f for f in building.flats if f.name == name).author
        for holder in holders:
            held = held_ids(holder, author)
            count += sum(1 for seq, eid in acks.entries.items() if held.get(seq) != eid)
    return count


async def replicated(
    feeder: Feeder, building: Building, holders: list[Flat], within: float
) -> float:
    """Wait until every holder has every acknowledged entry; the seconds it took."""
    started = time.monotonic()
    while missing(feeder, building, holders):
        if time.monotonic() - started > within:
            raise AssertionError(
                f"{missing(feeder, building, holders)} acknowledged entries "
                f"still missing after {within} s"
            )
        await asyncio.sleep(0.2)
    return time.monotonic() - started
