"""A building at 60x: every flat's ledger equals its simulated meters.

Two simulated flats, their Home Assistant and their sidecars, for two simulated hours
from before sunrise, with a power cut in between. The test moves the simulated clock
itself, 60 simulated seconds per real second, so that the meters stand still before
the first and after the last sample: then each flat's ledger totals must equal the
difference of the meters' own counters (the registers Home Assistant reads), and the
flows must follow each other without a hole or an overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from devkit.waiting import until
from simulator.model.config import BuildingConfig
from simulator.threaded import BuildingThread, run_building_in_thread
from tests.e2e.building_ledger import Flat, counters, last_end, linked_flats, unload
from tests.sidecar.flow_checks import overlaps_and_holes, own_flows, totals_mwh

BUILDING = "bldg-60x"
SPEED = 60
SIMULATED_S = 2 * 3600
# 04:50 on a June day in Fukuoka: the sun rises a little after five.
START = datetime(2025, 6, 21, 4, 50)
OUTAGE_S = (55 * 60, 75 * 60)  # the grid fails at 05:45 for twenty minutes
MAX_STEP_S = 30.0
SIDECAR_SETTINGS: dict[str, int] = {"device_speed": SPEED}


@pytest.fixture
def building(socket_enabled: None) -> Iterator[BuildingThread]:
    """Two flats on a clock that moves only when the test moves it."""
    handle = run_building_in_thread(
        BuildingConfig(
            flats=2,
            base_port=0,
            manual_clock=True,
            start=START,
            seed=7,
            # Large households and roofs: kilowatts, so a counter can move tens of
            # Wh between two samples a real second apart.
            pv_kwp=(5.0, 6.0),
            load_scale=(3.0, 4.0),
            # Near the reserve: the grid carries the night, PV then charges.
            soc_bands=((1.0, 24.0, 28.0),),
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
    """Each flat's sidecar, told the building's speed, linked to Home Assistant."""
    async with linked_flats(
        hass, building, tmp_path, BUILDING, SIDECAR_SETTINGS
    ) as made:
        yield made


async def _run_clock(hass: HomeAssistant, building: BuildingThread) -> None:
    """Move the simulated clock SPEED times as fast as real time, with the power cut."""
    began = time.monotonic()
    done = 0.0
    outage = False
    while done < SIMULATED_S:
        target = min(SIMULATED_S, SPEED * (time.monotonic() - began))
        step = min(target - done, MAX_STEP_S)
        if step > 0:
            await hass.async_add_executor_job(building.advance, step)
            done += step
        wanted = OUTAGE_S[0] <= done < OUTAGE_S[1]
        if wanted != outage:
            await hass.async_add_executor_job(building.set_outage, wanted)
            outage = wanted
        await asyncio.sleep(0.05)


# Two simulated hours are two real minutes at 60x, plus setting up three programs.
@pytest.mark.long
@pytest.mark.timeout(240)
async def test_every_flats_ledger_equals_its_meters_at_60x(
    hass: HomeAssistant, building: BuildingThread, flats: list[Flat]
) -> None:
    # The clock stands still: the first flows are written, with nothing in them.
    await until(lambda: all(last_end(flat) > 0 for flat in flats), 30)
    before = {f.name: counters(building.flat_state(f.name)) for f in flats}

    await _run_clock(hass, building)
    stopped_ms = time.time_ns() // 1_000_000
    # The meters stand still again; the flows catch up with the last samples.
    await until(lambda: all(last_end(flat) > stopped_ms + 2000 for flat in flats), 30)
    after = {f.name: counters(building.flat_state(f.name)) for f in flats}
    await unload(hass, flats)

    report = {}
    for flat in flats:
        flows = own_flows(flat.sidecar.db, flat.author)
        assert overlaps_and_holes(flows) == [], flat.name
        sums = totals_mwh(flows)
        counted = {
            key: (value - before[flat.name][key]) * 1000
            for key, value in after[flat.name].items()
        }
        report[flat.name] = {
            "ledger": sums,
            "meters": counted,
            "quality": {
                q: sum(1 for f in flows if f.get("quality") == q)
                for q in ("estimated", "reconciled")
            },
        }
        for key, meter in counted.items():
            assert abs(sums[key] - meter) <= max(1000, meter * 0.005), (
                flat.name,
                key,
                report,
            )
    # The run covered what it is about: the night on the grid, sunrise, a battery.
    for flat in flats:
        meters = report[flat.name]["meters"]
        assert meters["pv"] > 100_000, report
        assert meters["grid_in"] > 0, report
        assert meters["bat_in"] + meters["bat_out"] > 0, report
    print(report)  # the figures, for whoever runs it with -s
