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
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

import devkit.building
from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DOMAIN,
)
from devkit.sidecar_node import SidecarNode
from devkit.waiting import until
from sidecar.ledger.identity import Identity
from simulator.model.config import BuildingConfig
from simulator.model.state import FlatState
from simulator.threaded import BuildingThread, run_building_in_thread
from tests.sidecar.flow_checks import overlaps_and_holes, own_flows, totals_mwh

BUILDING = "bldg-60x"
SPEED = 60
SIMULATED_S = 2 * 3600
# 04:50 on a June day in Fukuoka: the sun rises a little after five.
START = datetime(2025, 6, 21, 4, 50)
OUTAGE_S = (55 * 60, 75 * 60)  # the grid fails at 05:45 for twenty minutes
MAX_STEP_S = 30.0
SIDECAR_SETTINGS: dict[str, int] = {"device_speed": SPEED}


@dataclass
class Flat:
    """One simulated flat with its sidecar and its config entry."""

    name: str
    port: int
    sidecar: SidecarNode
    author: bytes
    entry: MockConfigEntry | None = None


def _counters(state: FlatState) -> dict[str, int]:
    """The registers Home Assistant reads, by the flow total they become (Wh)."""
    return {
        "pv": state.pv.tot_wh_inj,
        "grid_in": state.meter.tot_wh_abs,
        "grid_out": state.meter.tot_wh_inj,
        "bat_in": state.battery.tot_wh_abs,
        "bat_out": state.battery.tot_wh_inj,
        "living": state.living_room.tot_wh,
    }


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
    """Each flat's sidecar, told the building's speed, in one roster and running."""
    ports = dict(sorted(building.ports.items()))
    sidecars = await hass.async_add_executor_job(
        partial(
            devkit.building.Building,
            tmp_path,
            list(ports),
            building=BUILDING,
            settings=SIDECAR_SETTINGS,
        )
    )
    made = [
        Flat(node.name, ports[node.name], node, Identity.load(node.key_file).author)
        for node in sidecars.flats
    ]
    try:
        await sidecars.start()
        yield made
    finally:
        for flat in made:
            if flat.entry is not None and flat.entry.state.recoverable:
                await hass.config_entries.async_unload(flat.entry.entry_id)
        await hass.async_block_till_done()
        failures = await sidecars.close()
        if failures:
            raise failures[0]


async def _set_up(hass: HomeAssistant, flats: list[Flat]) -> None:
    for flat in flats:
        flat.entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Flat {flat.name}",
            unique_id=f"fast-{flat.name}",
            data={
                CONF_HOST: "127.0.0.1",
                CONF_PORT: flat.port,
                CONF_UNIT_PV: 1,
                CONF_UNIT_BATTERY: 2,
                CONF_UNIT_METER: 3,
            },
            options={
                "poll_interval": 1.0,
                CONF_SIDECAR_URL: flat.sidecar.ws_url,
                CONF_SIDECAR_TOKEN: flat.sidecar.token,
            },
        )
        flat.entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(flat.entry.entry_id)
    await hass.async_block_till_done()


def _last_end(flat: Flat) -> int:
    flows = own_flows(flat.sidecar.db, flat.author)
    return int(flows[-1]["end"]) if flows else 0


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
@pytest.mark.timeout(240)
async def test_every_flats_ledger_equals_its_meters_at_60x(
    hass: HomeAssistant, building: BuildingThread, flats: list[Flat]
) -> None:
    await _set_up(hass, flats)
    # The clock stands still: the first flows are written, with nothing in them.
    await until(lambda: all(_last_end(flat) > 0 for flat in flats), 30)
    before = {f.name: _counters(building.flat_state(f.name)) for f in flats}

    await _run_clock(hass, building)
    stopped_ms = time.time_ns() // 1_000_000
    # The meters stand still again; the flows catch up with the last samples.
    await until(lambda: all(_last_end(flat) > stopped_ms + 2000 for flat in flats), 30)
    after = {f.name: _counters(building.flat_state(f.name)) for f in flats}
    for flat in flats:
        assert flat.entry is not None
        await hass.config_entries.async_unload(flat.entry.entry_id)
    await hass.async_block_till_done()

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
