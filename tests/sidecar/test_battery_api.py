"""The battery routes of a running sidecar's local API."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from devkit.battery_life import SERIAL, Injection
from devkit.sidecar_node import start_sidecar
from sidecar.apps.battery import anomalies
from sidecar.apps.battery.passport_check import check
from simulator.physics.battery import Degradation
from tests.sidecar.battery_support import fill_site
from tests.sidecar.support import init_site


async def test_the_battery_routes_serve_figures_and_a_passport(tmp_path: Path) -> None:
    config_path = init_site(tmp_path)
    injection = Injection(25, Degradation(weak_cell_pct=90.0))
    fill_site(config_path, 32, injection, checkpoint=True)
    node = await start_sidecar(config_path)
    base = f"http://127.0.0.1:{node.port}/api/v1/battery"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base) as response:
                assert response.status == 401
            async with session.get(base, headers=node.headers) as response:
                assert response.status == 200
                summary = await response.json()
            (battery,) = summary["batteries"]
            assert battery["serial"] == SERIAL
            assert battery["days_counted"] == 31
            assert "days" not in battery
            assert [a["kind"] for a in battery["active"]] == [anomalies.CAPACITY_FADING]
            assert battery["recent"]["capacity_mwh"] < 1_850_000
            url = f"{base}/passport"
            params = {"from": "2025-01-20"}
            async with session.get(
                url, headers=node.headers, params=params
            ) as response:
                assert response.status == 200
                document = await response.json()
            assert document["passport"]["battery"]["days_counted"] == 12
            assert check(document) == []
            params = {"from": "yesterday"}
            async with session.get(
                url, headers=node.headers, params=params
            ) as response:
                assert response.status == 400
                assert "not a date" in (await response.json())["detail"]
    finally:
        await node.stop()
