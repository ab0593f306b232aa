"""Flow entries for the battery traceability tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from devkit.battery_life import Injection, contents, life
from sidecar import config as config_module
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from tests.sidecar.support import open_ledger

TZ = "Asia/Tokyo"
# 2025-01-01 00:00 JST.
DAY0_MS = 1_735_657_200_000
DAY_MS = 86_400_000


def flow(
    seq: int,
    start: int,
    end: int,
    *,
    bat_in: int = 0,
    bat_out: int = 0,
    soc: int | None = None,
    quality: str | None = None,
    serial: str = "BAT-1",
) -> Entry:
    """An unsigned flow entry carrying what the battery figures read."""
    content: JsonObject = {
        "kind": "flow",
        "start": start,
        "end": end,
        "serial": serial,
        "balance": {"bat_in": bat_in, "bat_out": bat_out},
    }
    if soc is not None:
        content["soc"] = soc
    if quality is not None:
        content["quality"] = quality
    eid = seq.to_bytes(32, "big")
    return Entry(b"", seq, b"", (), b"", b"", eid, content)


@cache
def identity() -> Identity:
    """One key for every simulated life (signing is part of the path under test)."""
    return Identity.generate()


def entries(
    days: int, injection: Injection | None = None, seed: int = 1
) -> list[Entry]:
    """A simulated flat's flows over ``days`` days (see devkit.battery_life)."""
    return list(life(days, identity=identity(), injection=injection, seed=seed))


def fill_site(
    config_path: Path, days: int, injection: Injection | None, *, checkpoint: bool
) -> None:
    """Write ``days`` simulated days of flat 301's flows into its node's database.

    Through the node's own feed and writer; with ``checkpoint``, the node then signs
    a checkpoint of it all (in a building of one, its own signature is a majority).
    """
    config = config_module.load(config_path)
    ledger = open_ledger(config.db_path, Identity.load(config.key_file))
    try:
        now = 0
        made = contents(days, injection=injection, place=("3", "301"))
        for now, kind, content in made:
            ledger.feed.append(kind, content, now)
        ledger.sync()
        if checkpoint:
            ledger.feed.checkpoint(now + 1)
            ledger.sync()
    finally:
        ledger.writer.close()
