"""The local API's origin endpoints on a running sidecar."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from devkit import local_api
from devkit.clock import now_ms
from devkit.sidecar_node import SidecarNode as RunningSidecar

BASE = "/api/v1/origin"


def _url(sidecar: RunningSidecar, path: str) -> str:
    return sidecar.url.removesuffix("/api/v1/ws") + BASE + path


async def test_origin_needs_the_token(sidecar: RunningSidecar) -> None:
    """Without the bearer token both endpoints answer 401."""
    async with aiohttp.ClientSession() as session:
        for path in ("/today", "/certificates?from=0&to=1"):
            async with session.get(_url(sidecar, path)) as response:
                assert response.status == 401


async def test_today_counts_the_flats_pv_and_certificates_check_their_period(
    sidecar: RunningSidecar,
) -> None:
    """PV fed over the local API shows as own renewable energy today, for the flat
    and the building (a building of one); a bad period is refused with 400."""
    async with aiohttp.ClientSession() as session:
        client = await local_api.connect(
            session, sidecar.url, sidecar.token, local_api.hello()
        )
        counter = 1000.0
        deadline = time.monotonic() + 30
        figures: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline:
            for _ in range(10):
                counter += 0.5
                await client.send(local_api.sample(now_ms(), pv_wh=counter, pv_w=1800))
                await asyncio.sleep(0.1)
            async with session.get(
                _url(sidecar, "/today"), headers=sidecar.headers
            ) as response:
                assert response.status == 200
                figures = await response.json()
            if figures["flat"]["pv_wh"] >= 2:
                break
        await client.close()
        assert figures["flat"]["pv_wh"] >= 2, figures
        assert figures["flat"] == figures["building"]
        assert figures["flat"]["renewable_wh"] >= figures["flat"]["pv_wh"]
        assert figures["tz"] == "Asia/Tokyo"
        async with session.get(
            _url(sidecar, "/certificates?from=5&to=1"), headers=sidecar.headers
        ) as response:
            assert response.status == 400
        async with session.get(
            _url(sidecar, f"/certificates?from={now_ms() - 3_600_000}&to={now_ms()}"),
            headers=sidecar.headers,
        ) as response:
            assert response.status == 200
            body = await response.json()
        assert body["lines"][0]["type"] == "certificates"
