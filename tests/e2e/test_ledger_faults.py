"""Refused and missing readings at real speed: the ledger still equals the meters.

One simulated flat, its Home Assistant and its sidecar. While the flat runs at real
speed its counters misread once each (a zero, a dip), and it drops off the network
for a few seconds (polls lost, then a reconnect). The sidecar refuses the bad
readings and estimates; the next good reading reconciles. The test moves the
simulated clock itself so the meters stand still before the first and after the
last sample, and compares the flows with the registers' differences.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from devkit.waiting import until
from simulator.model.config import BuildingConfig
from simulator.threaded import BuildingThread, run_building_in_thread
from tests.e2e.building_ledger import Flat, counters, last_end, linked_flats, unload
from tests.sidecar.flow_checks import overlaps_and_holes, own_flows, totals_mwh

RUN_S = 45
# (second, role, counter, how): each counter misreads once.
GLITCHES = (
    (8, "meter", "TotWhAbs", "zero"),
    (14, "pv", "TotWhInj", "dip"),
    (20, "battery", "TotWh", "zero"),  # the living room's counter
    (36, "meter", "TotWhAbs", "dip"),
)
DISCONNECT = (26, 4.0)  # the flat vanishes for 4 s: polls lost, then a reconnect


@pytest.fixture
def building(socket_enabled: None) -> Iterator[BuildingThread]:
    """A flat at 17:00 importing beside its PV; the clock moves when the test says."""
    handle = run_building_in_thread(
        BuildingConfig(
            flats=1,
            base_port=0,
            manual_clock=True,
            start=datetime(2025, 6, 21, 17, 0),
            seed=3,
            pv_kwp=(1.0, 1.5),
            load_scale=(3.0, 4.0),
            # Below the reserve: the grid carries what PV does not.
            soc_bands=((1.0, 10.0, 11.0),),
            bus_wired_share=0.0,
        )
    )
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
async def flats(
    hass: HomeAssistant, building: BuildingThread, tmp_path: Path
) -> AsyncIterator[list[Flat]]:
    """The flat's sidecar (real devices: no device speed) linked to Home Assistant."""
    async with linked_flats(hass, building, tmp_path, "bldg-faults", {}) as made:
        yield made


async def _run(hass: HomeAssistant, building: BuildingThread, name: str) -> None:
    began = time.monotonic()
    done = 0.0
    pending = [
        (at, partial(building.glitch_counter, role, point, kind, flat_id=name))
        for at, role, point, kind in GLITCHES
    ]
    pending.append(
        (DISCONNECT[0], partial(building.disconnect, DISCONNECT[1], flat_id=name))
    )
    pending.sort(key=lambda item: item[0])
    while done < RUN_S:
        step = min(RUN_S, time.monotonic() - began) - done
        if step > 0:
            await hass.async_add_executor_job(building.advance, step)
            done += step
        while pending and pending[0][0] <= done:
            await hass.async_add_executor_job(pending.pop(0)[1])
        await asyncio.sleep(0.05)


async def test_refused_readings_are_reconciled_and_marked(
    hass: HomeAssistant, building: BuildingThread, flats: list[Flat]
) -> None:
    (flat,) = flats
    await until(lambda: last_end(flat) > 0, 30)
    before = counters(building.flat_state(flat.name))
    await _run(hass, building, flat.name)
    stopped_ms = time.time_ns() // 1_000_000
    await until(lambda: last_end(flat) > stopped_ms + 2000, 30)
    after = counters(building.flat_state(flat.name))
    await unload(hass, flats)

    flows = own_flows(flat.sidecar.db, flat.author)
    assert overlaps_and_holes(flows) == []
    sums = totals_mwh(flows)
    meters = {key: (value - before[key]) * 1000 for key, value in after.items()}
    for key, counted in meters.items():
        assert abs(sums[key] - counted) <= max(1000, counted * 0.005), (
            key,
            sums,
            meters,
        )
    assert meters["grid_in"] > 0, meters
    assert meters["pv"] > 0, meters
    # The refused readings left estimated stretches, each corrected by a later flow.
    estimated = [f for f in flows if f.get("quality") == "estimated"]
    reconciled = [f for f in flows if f.get("quality") == "reconciled"]
    assert estimated, [f.get("quality") for f in flows]
    assert reconciled, [f.get("quality") for f in flows]
    for flow in reconciled:
        assert flow["reconciles"] <= flow["start"]
        corrected = [
            f for f in estimated if flow["reconciles"] <= f["start"] < flow["start"]
        ]
        assert corrected or flow["reconciles"] == flow["start"]
    print(
        {
            "ledger": sums,
            "meters": meters,
            "estimated": len(estimated),
            "reconciled": len(reconciled),
            "flows": len(flows),
        }
    )
