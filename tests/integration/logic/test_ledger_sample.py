"""Readings become local-API samples with the sidecar's signs, unknowns left out."""

from __future__ import annotations

import asyncio

import aiohttp

from custom_components.local_vpp.device import (
    FlatReading,
    LivingRoomReading,
    MeterReading,
)
from custom_components.local_vpp.ledger.messages import Sample, build
from custom_components.local_vpp.ledger.sample import sample_from_reading
from custom_components.local_vpp.ledger.sidecar_link import SidecarLink


def test_meter_only_reading() -> None:
    reading = FlatReading(
        pv=None,
        battery=None,
        meter=MeterReading(
            power_w=-350.0,
            imported_wh=1200.0,
            exported_wh=None,
            voltage_v=101.2,
            frequency_hz=60.01,
            connected=True,
        ),
        living_room=LivingRoomReading(
            on_battery=False, power_w=None, energy_wh=55.0, powered=True
        ),
    )
    sample = build(sample_from_reading(reading, 1_781_913_600_000))
    assert sample == {
        "type": "sample",
        "ts": 1_781_913_600_000,
        # The meter exports with +; the sidecar counts imports with +.
        "grid_w": 350.0,
        "grid_in_wh": 1200.0,
        "frequency_hz": 60.01,
        "voltage_v": 101.2,
        "living_wh": 55.0,
    }


def test_nothing_known_is_just_a_timestamp() -> None:
    reading = FlatReading(pv=None, battery=None, meter=None, living_room=None)
    assert build(sample_from_reading(reading, 5)) == {"type": "sample", "ts": 5}


async def test_full_buffer_drops_the_oldest() -> None:
    async with aiohttp.ClientSession() as session:
        link = SidecarLink(session, "ws://127.0.0.1:1/", "t", client="x", buffer=3)
        for ts in range(5):
            link.submit(Sample(ts=ts))
        assert link.pending == 3
        assert link.samples_dropped == 2
        await asyncio.sleep(0)
