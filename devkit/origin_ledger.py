"""A building's ledger written in one database, for origin tests and benchmarks.

Each flat gets a real feed (:class:`sidecar.storage.feed.Feed`: signed flows, the
hourly, daily and monthly rollups at the time zone's boundaries) through the real
writer; at the end every flat signs a checkpoint and every other flat cosigns it,
as the mesh does. The flats' energy follows a deterministic day: PV by day, a
load, a battery that stores the surplus and covers the evening.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer

BUILDING = "bldg-01"
GRID_REN_PPM = 250_000


@dataclass(slots=True)
class FlatProfile:
    """One flat's equipment: PV peak and load (W), battery size (Wh, 0 for none)."""

    pv_w: int
    load_w: int
    battery_wh: int
    stated_battery_ren: int = 500_000  # what its flows claim; origin ignores it
    stored_mwh: float = 0.0


@dataclass(slots=True)
class LedgerBuilding:
    """The database and the identities of its flats."""

    path: Path
    identities: list[Identity] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)
    writer: Writer | None = None


def interval_totals(
    profile: FlatProfile,
    start_ms: int,
    interval_ms: int,
    tz_offset_ms: int,
    rng: random.Random,
) -> kinds.Totals:
    """One interval's six totals (mWh) for a flat with this profile."""
    hours = ((start_ms + tz_offset_ms) % 86_400_000) / 3_600_000
    sun = max(0.0, math.sin(math.pi * (hours - 6) / 12)) if 6 <= hours <= 18 else 0.0
    scale = interval_ms / 3_600_000 * 1000  # W over the interval → mWh
    pv = round(profile.pv_w * sun * rng.uniform(0.7, 1.0) * scale)
    home = round(profile.load_w * rng.uniform(0.5, 1.5) * scale)
    capacity = profile.battery_wh * 1000
    bat_in = bat_out = grid_in = grid_out = 0
    if pv >= home:
        surplus = pv - home
        bat_in = min(surplus, max(0, round(capacity - profile.stored_mwh)))
        grid_out = surplus - bat_in
    else:
        deficit = home - pv
        bat_out = min(deficit, max(0, round(profile.stored_mwh * 0.98)))
        grid_in = deficit - bat_out
    if capacity and 16.5 <= hours < 17:
        # A cheap-tariff top-up from the grid: stored energy of mixed origin.
        # Never above the capacity: the SoC the flows state stays the stored energy.
        room = max(0, round(capacity - profile.stored_mwh) - bat_in)
        top_up = min(round(capacity * 0.2 * interval_ms / 1_800_000), room)
        bat_in += top_up
        grid_in += top_up
    profile.stored_mwh += bat_in * 0.95 - bat_out
    return kinds.Totals(pv, grid_in, bat_out, home, bat_in, grid_out)


def flow_content(
    totals: kinds.Totals, start: int, end: int, flat: str, profile: FlatProfile
) -> JsonObject:
    """The members of a flow body for these totals (the feed adds the common ones)."""
    ren = {"pv": kinds.PPM, "grid": GRID_REN_PPM, "battery": profile.stated_battery_ren}
    transfers: list[JsonValue] = [
        {"from": source, "to": sink, "mwh": mwh, "ren": ren[source]}
        for source, sink, mwh in kinds.allocate(totals)
    ]
    body: JsonObject = {
        "start": start,
        "end": end,
        "loc": {"floor": flat[:-2] or "1", "flat": flat},
        "serial": f"INV-{flat}",
        "samples": 1,
        "balance": kinds.balance(totals, metered=True),
        "transfers": transfers,
    }
    if profile.battery_wh:
        # The SoC at the end of the interval, as an inverter reports it.
        share = round(profile.stored_mwh * kinds.PPM / (profile.battery_wh * 1000))
        body["soc"] = min(kinds.PPM, max(0, share))
    return body


def profiles(count: int, seed: int = 1) -> list[FlatProfile]:
    """``count`` flats: some with PV only, some with batteries, some consumers."""
    rng = random.Random(seed)
    result = []
    for number in range(count):
        kind = number % 3
        result.append(
            FlatProfile(
                pv_w=0 if kind == 2 else rng.randint(800, 3000),
                load_w=rng.randint(200, 900),
                battery_wh=rng.choice((1000, 2000, 10_000)) if kind == 1 else 0,
            )
        )
    return result


def write_building(
    path: Path,
    flats: list[FlatProfile],
    *,
    start_ms: int,
    seconds: int,
    interval_ms: int = 1000,
    tz: str = "Asia/Tokyo",
    tz_offset_ms: int = 9 * 3_600_000,
    seed: int = 7,
    cosign: bool = True,
) -> LedgerBuilding:
    """Write ``seconds`` of flows of every flat, the rollups, checkpoints, cosigns."""
    identities = [Identity.from_scalar(1000 + number) for number in range(len(flats))]
    store.create(path, BUILDING, identities[0].public_key)
    conn = store.connect(path)
    numbers = [store.add_author(conn, identity.public_key) for identity in identities]
    conn.close()
    writer = Writer(path, sync="normal")
    writer.start()
    building = LedgerBuilding(path, identities, [], writer)
    feeds = [
        Feed(identity, BUILDING, writer, number, tz)
        for identity, number in zip(identities, numbers, strict=True)
    ]
    building.feeds = feeds
    rng = random.Random(seed)
    names = [f"{100 * (1 + n // 4) + 1 + n % 4}" for n in range(len(flats))]
    for at in range(start_ms, start_ms + seconds * 1000, interval_ms):
        for feed, profile, name in zip(feeds, flats, names, strict=True):
            totals = interval_totals(profile, at, interval_ms, tz_offset_ms, rng)
            feed.append(
                kinds.FLOW,
                flow_content(totals, at, at + interval_ms, name, profile),
                at + interval_ms + 20,
            )
    finish = start_ms + seconds * 1000 + 1000
    for feed in feeds:
        feed.roll(finish)
    sign_heads(building, finish, cosign=cosign)
    writer.flush(60)
    return building


def sign_heads(building: LedgerBuilding, now_ms: int, *, cosign: bool = True) -> None:
    """Every flat signs a checkpoint; every other flat cosigns it (if ``cosign``)."""
    assert building.writer is not None
    for feed in building.feeds:
        statement, _ticket = feed.checkpoint(now_ms)
        for other in building.feeds:
            if other is feed or not cosign:
                continue
            witness = etp.make_statement(
                other.identity,
                {
                    "v": kinds.VERSION,
                    "kind": kinds.COSIGN,
                    "building": BUILDING,
                    "ts": now_ms,
                    "log": feed.identity.author.hex(),
                    "size": statement.content["size"],
                    "root": statement.content["root"],
                },
            )
            building.writer.add_statement(other.author_no, feed.author_no, witness)


def close(building: LedgerBuilding) -> None:
    """Stop the writer."""
    if building.writer is not None:
        building.writer.close()
        building.writer = None
