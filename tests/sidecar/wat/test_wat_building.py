"""Three real sidecar processes adopt a currency and settle their neighbours' energy."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit import local_api
from devkit.building import Building, Flat
from devkit.clock import now_ms
from sidecar import config as config_module
from sidecar.apps.wat import adoption, spec
from sidecar.ledger.identity import Identity

MINUTE = 60_000
# Per flat: PV, grid (+ import, − export) and home power, W.
POWERS = {"100": (2500, -2000, 500), "101": (0, 1500, 1500), "102": (0, 500, 500)}


async def _wat(session: aiohttp.ClientSession, flat: Flat, path: str = "") -> Any:
    config = config_module.load(flat.config)
    async with session.get(
        f"http://127.0.0.1:{config.port}/api/v1/wat{path}",
        headers={"Authorization": f"Bearer {config.api_token}"},
    ) as reply:
        return await reply.json()


async def _feed(building: Building, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for flat in building.flats:
            pv, grid, home = POWERS[flat.name]
            client = await building.client(flat)
            await client.send(
                local_api.sample(now_ms(), pv_w=pv, grid_w=grid, home_w=home)
            )
        await asyncio.sleep(0.2)


@pytest.mark.long
@pytest.mark.timeout(400)
async def test_a_building_adopts_a_currency_and_settles_alike(tmp_path: Path) -> None:
    """Flat 100 exports, 101 and 102 import; every node computes the same balances."""
    async with Building(tmp_path, list(POWERS)) as building:
        await building.start()
        await building.linked(within=30)
        assert building.session is not None
        session = building.session
        effective = (now_ms() // MINUTE + 1) * MINUTE
        if effective - now_ms() < 20_000:
            effective += MINUTE
        currency = dataclasses.replace(
            spec.default(building.building, effective), interval_min=1, final_min=1
        )
        keys = [
            Identity.load(config_module.load(flat.config).key_file)
            for flat in building.flats
        ]
        approvals = [adoption.approve(key, currency) for key in keys[:2]]
        stop = asyncio.Event()
        feeder = asyncio.create_task(_feed(building, stop))
        try:
            config = config_module.load(building.flats[0].config)
            async with session.post(
                f"http://127.0.0.1:{config.port}/api/v1/wat/currency",
                headers={"Authorization": f"Bearer {config.api_token}"},
                json={"proposal": currency.document(), "approvals": approvals},
            ) as reply:
                assert reply.status == 200, await reply.text()
            target = effective + 2 * MINUTE
            deadline = time.monotonic() + 300
            states: list[Any] = []
            while time.monotonic() < deadline:
                states = [await _wat(session, flat) for flat in building.flats]
                if all((s.get("settled_until") or 0) >= target for s in states):
                    break
                await asyncio.sleep(1)
        finally:
            stop.set()
            await feeder
        assert all(s["settled_until"] >= target for s in states), states
        at_target = [
            await _wat(session, flat, f"/statement?from={effective}&to={target}")
            for flat in building.flats
        ]
    seller, small = at_target[0], at_target[1]
    assert [line["kind"] for line in seller["lines"][:2]] == ["sold", "sold"]
    assert [line["kind"] for line in small["lines"][:2]] == ["bought", "bought"]
    # Each node computed its own flat's statement: the interval's totals agree.
    totals = [
        {key: doc["lines"][0][key] for key in ("start", "exported", "matched", "paid")}
        for doc in at_target
    ]
    assert totals[1:] == totals[:1] * 2
    # Every node's statement of its own flat: what one was paid, the others paid.
    first = [doc["lines"][0]["amount"] for doc in at_target]
    assert sum(first) == 0
    assert first[0] > 0
    assert first[1] < first[2] < 0  # 101 imports three times what 102 does
