"""A sidecar restart: replayed samples are not signed again, the hole is a gap flow.

Home Assistant resends what it had not seen acknowledged, and after a restart of
either program the samples start again later: the flows must go on from the last
durable flow's end, never cover a second twice, and cover the time in between from
the meters' counters.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from devkit import local_api
from devkit.sidecar_node import SidecarNode as RunningSidecar
from devkit.sidecar_node import start_sidecar
from sidecar.ledger import kinds
from sidecar.tools.verify import verify_database
from tests.sidecar.flow_checks import overlaps_and_holes, own_flows, totals_mwh
from tests.sidecar.support import T0, Ledger, flow_content

# Watts of one steady afternoon: PV feeds the home, the battery and the grid.
PV_W, HOME_W, CHARGE_W, EXPORT_W = 5400, 1800, 1200, 2400


def _reading(ts: int, second: int) -> dict[str, Any]:
    hours = second / 3600
    return local_api.sample(
        ts,
        pv_wh=10_000 + PV_W * hours,
        home_wh=20_000 + HOME_W * hours,
        battery_in_wh=3_000 + CHARGE_W * hours,
        battery_out_wh=4_000.0,
        grid_in_wh=50_000.0,
        grid_out_wh=7_000 + EXPORT_W * hours,
        pv_w=PV_W,
        home_w=HOME_W,
        battery_w=-CHARGE_W,
        grid_w=-EXPORT_W,
    )


async def _send(node: RunningSidecar, start: int, seconds: range) -> None:
    async with aiohttp.ClientSession() as session:
        client = local_api.LocalApiClient(await node.connect(session))
        for second in seconds:
            assert await client.send(_reading(start + second * 1000, second))
        # The node answers in order: once status is back, every sample is durable.
        await client.ask({"type": "status"})
        await client.close()


async def test_replayed_samples_after_a_restart_are_not_signed_again(
    sidecar: RunningSidecar,
) -> None:
    start = (time.time_ns() // 1_000_000 // 1000 - 300) * 1000
    await _send(sidecar, start, range(0, 8))
    assert await sidecar.stop() == 0
    again = await start_sidecar(sidecar.config)
    try:
        # Home Assistant resends the last samples, then carries on 40 s later.
        await _send(again, start, range(4, 8))
        await _send(again, start, range(48, 52))
    finally:
        assert await again.stop() == 0
    flows = own_flows(again.db)
    assert overlaps_and_holes(flows) == []
    assert flows[0]["start"] == start
    assert flows[-1]["end"] == start + 51_000
    hours = 51 / 3600
    sums = totals_mwh(flows)
    for key, watts in (
        ("pv", PV_W),
        ("home", HOME_W),
        ("bat_in", CHARGE_W),
        ("grid_out", EXPORT_W),
    ):
        assert abs(sums[key] - watts * hours * 1000) <= 1, (key, sums[key])
    assert sums["grid_in"] == sums["bat_out"] == 0
    assert verify_database(again.db).ok


def test_verify_names_flows_that_cover_a_second_twice(ledger: Ledger) -> None:
    ledger.flows(3, T0 + 1000)
    # A flow signed again for the second the last one covered (the old restart).
    ledger.feed.append(kinds.FLOW, flow_content(T0 + 2000), T0 + 4000)
    ledger.flows(2, T0 + 5000)
    ledger.sync()
    report = verify_database(ledger.path)
    overlaps = [f for f in report.findings if f.code == "flow_overlap"]
    assert [f.where for f in overlaps] == ["seq 4"]
    assert "before the previous flow's end" in overlaps[0].detail
