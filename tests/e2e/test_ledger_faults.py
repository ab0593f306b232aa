"""Refused and missing readings at real speed: the ledger still equals the meters.

One simulated flat, its Home Assistant and its sidecar. While the flat runs at real
speed its counters misread once each (a zero, a dip), it drops off the network
for a few seconds (polls lost, then a reconnect), and its grid meter's import
counter is reset (it restarts from 0, as a replaced meter's does). The sidecar
refuses the bad readings and estimates; the next good reading reconciles. The
test moves the simulated clock itself so the meters stand still before the first
and after the last sample, and compares the flows with the registers' differences.

Across the reset the device measured what its register showed before the reset
less the first reading, plus what it shows at the end. The ledger takes the second
reading after the reset as the counter's new base (PROTOCOL.md 12.4), so its total
is the readings' differences on either side plus the power estimate of the stretch
in between (about two polls), which no reading can reconcile and which stays
marked estimated. The two totals differ only by that estimate's error and the
register's resolution on each side of the reset: within 2 Wh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
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

RUN_S = 55
# (second, role, counter, how): each counter misreads once.
GLITCHES = (
    (8, "meter", "TotWhAbs", "zero"),
    (14, "pv", "TotWhInj", "dip"),
    (20, "battery", "TotWh", "zero"),  # the living room's counter
    (36, "meter", "TotWhAbs", "dip"),
)
DISCONNECT = (26, 4.0)  # the flat vanishes for 4 s: polls lost, then a reconnect
# (second, role, counter, flow total): the counter restarts from 0, well after the
# other faults so that the estimate across it is the only one left open.
RESET = (44, "meter", "TotWhAbs", "grid_in")
# Across the reset: whole-Wh registers lose up to 1 Wh on each side of the stretch
# the ledger estimates (its power estimate over two polls is far closer than that),
# whether compared with the registers or with the energy that really flowed.
RESET_TOLERANCE_MWH = 2000


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


@dataclass
class Reset:
    """When the counter was reset (Unix ms) and what it showed just before (Wh)."""

    at_ms: int = 0
    shown_wh: int = 0


async def _run(
    hass: HomeAssistant, building: BuildingThread, name: str, reset: Reset
) -> None:
    def reset_counter() -> None:
        reset.at_ms = time.time_ns() // 1_000_000
        reset.shown_wh = building.reset_counter(RESET[1], RESET[2], flat_id=name)

    began = time.monotonic()
    done = 0.0
    pending: list[tuple[int, Callable[[], object]]] = [
        (at, partial(building.glitch_counter, role, point, kind, flat_id=name))
        for at, role, point, kind in GLITCHES
    ]
    pending.append(
        (DISCONNECT[0], partial(building.disconnect, DISCONNECT[1], flat_id=name))
    )
    pending.append((RESET[0], reset_counter))
    pending.sort(key=lambda item: item[0])
    while done < RUN_S:
        step = min(RUN_S, time.monotonic() - began) - done
        if step > 0:
            await hass.async_add_executor_job(building.advance, step)
            done += step
        while pending and pending[0][0] <= done:
            await hass.async_add_executor_job(pending.pop(0)[1])
        await asyncio.sleep(0.05)


@pytest.mark.long
async def test_refused_readings_are_reconciled_and_marked(
    hass: HomeAssistant, building: BuildingThread, flats: list[Flat]
) -> None:
    (flat,) = flats
    await until(lambda: last_end(flat) > 0, 30)
    start_state = building.flat_state(flat.name)
    before = counters(start_state)
    reset = Reset()
    await _run(hass, building, flat.name, reset)
    stopped_ms = time.time_ns() // 1_000_000
    await until(lambda: last_end(flat) > stopped_ms + 2000, 30)
    end_state = building.flat_state(flat.name)
    after = counters(end_state)
    await unload(hass, flats)

    flows = own_flows(flat.sidecar.db, flat.author)
    assert overlaps_and_holes(flows) == []
    sums = totals_mwh(flows)
    meters = {key: (value - before[key]) * 1000 for key, value in after.items()}
    reset_key = RESET[3]
    # What the reset counter measured: up to the reset, then from 0 to the end.
    meters[reset_key] = (reset.shown_wh - before[reset_key] + after[reset_key]) * 1000
    for key, counted in meters.items():
        tolerance = RESET_TOLERANCE_MWH if key == reset_key else 1000
        assert abs(sums[key] - counted) <= max(tolerance, counted * 0.005), (
            key,
            sums,
            meters,
        )
    # And against the energy that really flowed (the registers drop fractions).
    exact_mwh = (end_state.meter.imported_wh - start_state.meter.imported_wh) * 1000
    assert abs(sums[reset_key] - exact_mwh) <= RESET_TOLERANCE_MWH, (sums, exact_mwh)
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
    # The stretch across the reset is estimated, and no later flow reconciles it:
    # the first reading after the reset is refused, the second is the new base.
    across = [
        f
        for f in estimated
        if reset.at_ms - 3000 <= f["start"] and f["end"] <= reset.at_ms + 6000
    ]
    assert across, (reset, [(f["start"], f.get("quality")) for f in flows])
    assert not [
        f for f in reconciled if f["reconciles"] <= across[-1]["start"] < f["start"]
    ]
    after_reset = [f for f in flows if f["start"] > across[-1]["end"]]
    assert after_reset
    assert all("quality" not in f for f in after_reset), after_reset
    print(
        {
            "ledger": sums,
            "meters": meters,
            "reset": {
                "shown_wh": reset.shown_wh,
                "before_wh": before[reset_key],
                "after_wh": after[reset_key],
                "exact_mwh": round(exact_mwh),
                "across": [
                    (f["start"] - reset.at_ms, f["balance"][reset_key]) for f in across
                ],
            },
            "estimated": len(estimated),
            "reconciled": len(reconciled),
            "flows": len(flows),
        }
    )
