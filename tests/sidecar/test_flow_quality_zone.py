"""The flow-quality tally counts days of the building's configured time zone."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from devkit.sidecar_node import start_sidecar
from sidecar.ledger.quality import QualityTally
from tests.sidecar.support import T0, flow_content, init_site

# T0 is midnight UTC starting 2026-06-20 (09:00 in Tokyo, 02:00 in Berlin).
BERLIN = ZoneInfo("Europe/Berlin")


def _day(end_ms: int, zone: ZoneInfo) -> str:
    return (
        datetime.fromtimestamp(end_ms / 1000, UTC).astimezone(zone).date().isoformat()
    )


def test_a_configured_zone_moves_the_day_boundary() -> None:
    # Tokyo's day starts at 15:00 UTC, Berlin's (summer) at 22:00 UTC.
    tokyo_midnight = T0 + 15 * 3_600_000
    tokyo, berlin = QualityTally(), QualityTally(zone=BERLIN)
    for tally in (tokyo, berlin):
        tally.note(dict(flow_content(tokyo_midnight - 2000)))
        tally.note(dict(flow_content(tokyo_midnight)))
    assert (tokyo.report().day, tokyo.report().measured) == ("2026-06-21", 1)
    assert (berlin.report().day, berlin.report().measured) == ("2026-06-20", 2)
    berlin.note(dict(flow_content(tokyo_midnight + 7 * 3_600_000)))
    assert (berlin.report().day, berlin.report().measured) == ("2026-06-21", 1)


def _other_zone(now_ms: int) -> str:
    """A zone whose date differs from Tokyo's now (one of the two always does)."""
    tokyo = _day(now_ms, ZoneInfo("Asia/Tokyo"))
    for name in ("Etc/GMT+12", "Pacific/Kiritimati"):
        if _day(now_ms, ZoneInfo(name)) != tokyo:
            return name
    raise AssertionError("UTC−12 and UTC+14 cannot both share Tokyo's date")


def _sample(ts: int, i: int) -> dict[str, Any]:
    return {"type": "sample", "ts": ts, "pv_wh": 1000 + i, "pv_w": 3600}


async def test_a_node_counts_the_days_of_its_configured_zone(tmp_path: Path) -> None:
    start = time.time_ns() // 1_000_000 - 10_000
    name = _other_zone(start)
    node = await start_sidecar(init_site(tmp_path, timezone=name))
    try:
        async with aiohttp.ClientSession() as session:
            ws = await node.connect(session)
            for i in range(3):
                await ws.send_json(_sample(start + i * 1000, i))
            acks = [await ws.receive_json(timeout=10) for _ in range(2)]
            await ws.send_json({"type": "status"})
            status = await ws.receive_json(timeout=10)
            await ws.close()
    finally:
        node.kill()
        assert node.process is not None
        await node.process.wait()
    assert [ack["type"] for ack in acks] == ["entry", "entry"]
    end = start + 2000
    assert status["flow_quality"]["day"] == _day(end, ZoneInfo(name))
    assert status["flow_quality"]["day"] != _day(end, ZoneInfo("Asia/Tokyo"))
