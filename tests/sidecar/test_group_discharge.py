"""Group discharge across real sidecar processes: allocation, re-sharing, fallback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from devkit.clock import now_ms
from devkit.node_db import newest_offers, offers_everywhere
from tests.sidecar.mesh_support import Building, Flat

ROUND_S = 1.0
STALE_S = 3.0
# Waits on the test's own clock only bound how long a test may take: four processes
# on a busy machine may stall for seconds. The design's bounds are checked on the
# times the nodes put in their messages.
WAIT_S = 20.0


@contextlib.asynccontextmanager
async def offering(building: Building, offers: dict[str, float]) -> AsyncIterator[None]:
    """Send each flat's availability every 0.3 s, as Home Assistant does per poll."""

    async def loop() -> None:
        while True:
            for flat in building.flats:
                if flat.name not in offers or flat.process is None:
                    continue
                # A flat being killed refuses the connection: it simply stops offering.
                with contextlib.suppress(OSError, aiohttp.ClientError, RuntimeError):
                    client = await building.client(flat)
                    await client.ws.send_json(
                        {
                            "type": "availability",
                            "ts": now_ms(),
                            "soc_pct": 50.0,
                            "energy_wh": offers[flat.name],
                            "max_discharge_w": 3000.0,
                            "max_charge_w": 3000.0,
                            "battery_w": 0.0,
                            "participate": True,
                            "max_share_pct": 100.0,
                        }
                    )
            await asyncio.sleep(0.3)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _latest(building: Building, flat: Flat) -> dict[str, Any] | None:
    found = (await building.client(flat)).setpoints()
    return found[-1] if found else None


async def _linked(building: Building) -> None:
    """Wait until every node is linked with every other."""
    size = len(building.flats)

    async def linked() -> bool:
        statuses = [await building.status(flat) for flat in building.flats]
        return all(s["mesh"]["peers_online"] == size - 1 for s in statuses)

    await _wait_for(linked, 30, "links")


async def _offered(building: Building) -> None:
    """Wait until every node holds a fresh availability from every flat."""
    since = now_ms()
    dbs = [flat.db for flat in building.flats]
    authors = {flat.author for flat in building.flats}

    async def offered() -> bool:
        return offers_everywhere(dbs, authors, since)

    await _wait_for(offered, WAIT_S, "availabilities")


async def _planned_with_all(building: Building, flats: list[Flat]) -> None:
    """Wait until every node has planned a round with all of ``flats`` taking part."""

    async def planned() -> bool:
        histories = [(await building.client(f)).setpoints() for f in flats]
        return all(
            any(m["active"] and m["participants"] == len(flats) for m in history)
            for history in histories
        )

    await _wait_for(planned, WAIT_S, "a plan with every flat")


async def _same_round(building: Building, flats: list[Flat]) -> list[dict[str, Any]]:
    """Each flat's active setpoint for the newest instant all of them planned for."""
    histories = [
        {m["at"]: m for m in (await building.client(f)).setpoints() if m["active"]}
        for f in flats
    ]
    common = set.intersection(*(set(h) for h in histories))
    assert common, "no round planned by every node"
    newest = max(common)
    return [history[newest] for history in histories]


async def _wait_for(check: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while True:
        result = await check()
        if result:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"{what}: {result!r}"
        await asyncio.sleep(0.05)


async def test_every_flat_gets_its_proportional_share_and_reshares_after_a_loss(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 4) as building:
        await building.start()
        await _linked(building)
        flats = building.flats
        energy = {flats[0].name: 4000.0, flats[1].name: 2000.0}
        energy |= {flats[2].name: 1000.0, flats[3].name: 1000.0}
        async with offering(building, energy):
            await _offered(building)
            reply = await building.ask(
                flats[0],
                {
                    "type": "dispatch_request",
                    "id": 7,
                    "direction": "discharge",
                    "mode": "power",
                    "target_w": 4000,
                    "duration_s": 600,
                    "reason": "evening peak",
                },
            )
            assert reply["type"] == "dispatch", reply
            assert reply["id"] == 7
            event = reply["event"]

            async def all_active() -> bool:
                latest = [await _latest(building, f) for f in flats]
                return all(m and m["active"] and m["event"] == event for m in latest)

            await _wait_for(all_active, WAIT_S, "setpoints everywhere")
            # Every node plans each round from the same signed inputs: compare the
            # plans made for one instant.
            await _planned_with_all(building, flats)
            latest = await _same_round(building, flats)
            assert [m["w"] for m in latest] == [2000, 1000, 500, 500]
            for message in latest:
                assert message is not None
                assert message["target_w"] == 4000
                assert message["participants"] == 4
                assert message["mode"] == "group"
                assert message["reason"] == "evening peak"
            assert [m["share_ppm"] for m in latest if m] == [
                500_000,
                250_000,
                125_000,
                125_000,
            ]

            # Flat 2 dies mid-event: the rest take over its 1000 W.
            await building.kill(flats[1])
            survivors = [flats[0], flats[2], flats[3]]

            async def reshared() -> bool:
                latest = [await _latest(building, f) for f in survivors]
                return (
                    all(m and m.get("participants") == 3 for m in latest)
                    and sum(m["w"] for m in latest if m) == 4000
                )

            await _wait_for(reshared, WAIT_S, "re-share")
            for flat in survivors:
                messages = (await building.client(flat)).setpoints()
                for message in messages:
                    assert message["active"], message  # no gap while re-sharing
                # The dead flat is left out from the first round in which its last
                # availability is stale, not before: by the node's own clock.
                dead = newest_offers(flat.db)[flats[1].author]
                first = next(
                    m
                    for m in messages
                    if m["participants"] == 3 and m["at"] > int(str(dead["ts"]))
                )
                late_ms = first["at"] - int(str(dead["ts"]))
                # One round for the rounds' phase, one for a node that ran late.
                assert STALE_S * 1000 < late_ms <= (STALE_S + 2 * ROUND_S) * 1000, (
                    late_ms
                )
            latest = [await _latest(building, f) for f in survivors]
            # 4000 W over 4000:1000:1000 Wh; the spare watt goes by author id.
            shares = [m["w"] for m in latest if m]
            assert sum(shares) == 4000
            assert all(
                abs(w - exact) < 1
                for w, exact in zip(shares, (8000 / 3, 2000 / 3, 2000 / 3), strict=True)
            )

            reply = await building.ask(
                flats[3], {"type": "dispatch_cancel", "id": 8, "event": None}
            )
            assert reply == {"type": "dispatch_cancelled", "id": 8, "event": event}

            async def all_released() -> bool:
                latest = [await _latest(building, f) for f in survivors]
                return all(m and not m["active"] for m in latest)

            await _wait_for(all_released, WAIT_S, "release")
            latest = [await _latest(building, f) for f in survivors]
            assert {m["reason"] for m in latest if m} == {"cancelled"}


async def test_without_the_mesh_a_flat_falls_back_to_its_local_rules(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 2) as building:
        alone, other = building.flats
        await building.start()
        await _linked(building)
        async with offering(building, {alone.name: 3000.0, other.name: 3000.0}):
            await _offered(building)
            reply = await building.ask(
                alone,
                {
                    "type": "dispatch_request",
                    "direction": "discharge",
                    "mode": "meter_limit",
                    "limit_w": 5000,
                    "meter_w": 7000,
                    "duration_s": 600,
                    "reason": "peak",
                },
            )
            assert reply["type"] == "dispatch", reply

            async def group() -> bool:
                latest = await _latest(building, alone)
                return bool(latest and latest["active"] and latest["mode"] == "group")

            await _wait_for(group, WAIT_S, "group mode")
            await _planned_with_all(building, [alone, other])
            latest = await _latest(building, alone)
            assert latest is not None
            assert latest["target_w"] == 2000
            assert latest["w"] == 1000
            await building.kill(other)

            async def fallback() -> bool:
                latest = await _latest(building, alone)
                return bool(latest and latest["mode"] == "local_fallback")

            await _wait_for(fallback, WAIT_S, "local fallback")
            latest = await _latest(building, alone)
            assert latest is not None
            assert latest["w"] == 0  # no local peak rule configured: keep the reserve
            # With nobody to reach, a new request is refused rather than lost.
            reply = await building.ask(
                alone,
                {
                    "type": "dispatch_request",
                    "id": 3,
                    "direction": "discharge",
                    "mode": "power",
                    "target_w": 1000,
                    "duration_s": 60,
                    "reason": "x",
                },
            )
            assert reply["type"] == "error"
            assert reply["reason"] == "no_mesh"
            assert reply["id"] == 3


async def test_bad_requests_get_a_reason_and_change_nothing(tmp_path: Path) -> None:
    async with Building(tmp_path, 1) as building:
        await building.start()
        (flat,) = building.flats
        bad = [
            {"mode": "power", "target_w": 0},
            {"mode": "power", "target_w": 1000, "duration_s": 0},
            {"mode": "sideways", "target_w": 1000},
            {"mode": "meter_limit", "limit_w": 1000},
            {"mode": "power", "target_w": 1000, "reason": ""},
        ]
        for number, change in enumerate(bad):
            request: dict[str, object] = {
                "type": "dispatch_request",
                "id": number,
                "direction": "discharge",
                "duration_s": 60,
                "reason": "test",
                **change,
            }
            reply = await building.ask(flat, request)
            assert reply["type"] == "error", (change, reply)
            assert reply["reason"] == "bad_request"
            assert reply["id"] == number
        reply = await building.ask(
            flat, {"type": "availability", "ts": now_ms(), "participate": True}
        )
        assert reply["type"] == "error"
        assert reply["reason"] == "missing_value"
        status = await building.status(flat)
        assert status["next_seq"] == 1  # nothing was recorded
