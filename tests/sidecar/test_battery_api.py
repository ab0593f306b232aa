"""The battery routes of a running sidecar's local API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from devkit.battery_life import SERIAL, Injection
from devkit.local_api import hello, open_session, sample
from devkit.node_db import body, read_rows
from devkit.sidecar_node import start_sidecar
from devkit.waiting import until
from sidecar import config as config_module
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
            # The weak cell shows in the cell voltages at full charge, and in the
            # capacity.
            assert {a["kind"] for a in battery["active"]} == {
                anomalies.CAPACITY_FADING,
                anomalies.CELL_VOLTAGE,
            }
            assert battery["recent"]["capacity_mwh"] < 1_850_000
            # The fill left day 31 closed but not summarised: the node wrote its
            # battery_day at start (PROTOCOL.md 7.10), after the last checkpoint.
            db = config_module.load(config_path).db_path
            await until(
                lambda: bool(
                    read_rows(db, "SELECT seq FROM entries WHERE kind = 'battery_day'")
                )
            )
            url = f"{base}/passport"
            params = {"from": "2025-01-20"}
            statuses: list[int] = []

            async def passport() -> bool:
                async with session.get(
                    url, headers=node.headers, params=params
                ) as response:
                    statuses.append(response.status)
                    replies.append(await response.json())
                return response.status == 200

            replies: list[Any] = []
            # A passport once the next checkpoint covering the summary is signed.
            for _ in range(200):
                if await passport():
                    break
                await asyncio.sleep(0.05)
            assert statuses[-1] == 200, statuses
            document = replies[-1]
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


async def test_a_battery_counter_that_goes_back_is_recorded_and_flagged(
    tmp_path: Path,
) -> None:
    config_path = init_site(tmp_path)
    node = await start_sidecar(config_path)
    db = config_module.load(config_path).db_path
    readings = {
        "soh_pct": 99.0,
        "battery_cycles": 12,
        "cell_v_max": 3.34,
        "cell_v_min": 3.33,
        "battery_out_wh": 800.0,
        "soc_pct": 50.0,
    }
    try:
        async with aiohttp.ClientSession() as session:
            ws = await open_session(session, node.ws_url, node.token, hello())
            now = time.time_ns() // 1_000_000
            await ws.send_json(sample(now - 3000, battery_in_wh=1000.0, **readings))
            await ws.send_json(sample(now - 2000, battery_in_wh=1001.0, **readings))
            # The battery's meter was replaced: its charge counter starts again.
            await ws.send_json(sample(now - 1000, battery_in_wh=5.0, **readings))

            def states() -> list[dict[str, object]]:
                rows = read_rows(
                    db, "SELECT body FROM entries WHERE kind = 'battery_state'"
                )
                return [body(row[0]) for row in rows]

            await until(lambda: len(states()) == 2)
            first, second = states()
            assert (first["in_wh"], second["in_wh"]) == (1000, 5)
            assert first["soh"] == 990_000
            assert first["serial"] == "LVPP-301-BAT"
            base = f"http://127.0.0.1:{node.port}/api/v1/battery"
            async with session.get(base, headers=node.headers) as response:
                (battery,) = (await response.json())["batteries"]
            assert [a["kind"] for a in battery["active"]] == [
                anomalies.COUNTER_REGRESSION
            ]
            assert battery["reported_soh_ppm"] == 990_000
            await ws.close()
    finally:
        await node.stop()
