"""A building whose flats speak different families, as the demo runs it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.echonet import frame as f
from simulator.model.config import BuildingConfig
from tests.simulator.echonet_probe import EchonetProbe

ROOT = Path(__file__).resolve().parents[2]
_ECHONET = re.compile(r"ECHONET Lite on UDP ([\d.:, ]+); control API on http")


def test_each_flat_gets_its_family() -> None:
    config = BuildingConfig(flats=4, echonet_flats=(1,), sunspec_1xx_flats=(2,))
    echonet, older, *newer = config.flat_configs()
    # An ECHONET Lite power conditioner's backup output switches by itself.
    assert echonet.backup_output_auto
    assert echonet.sunspec == "7xx"
    # SunSpec 1xx has no living-room model: its backup output does it. It is on the
    # bus through a changeover controller of its own (test_bus_controller.py).
    assert older.sunspec == "1xx"
    assert older.backup_output_auto
    assert older.building_bus
    for flat in newer:
        assert flat.sunspec == "7xx"
        assert not flat.backup_output_auto
        assert flat.building_bus


@pytest.mark.parametrize(
    ("echonet", "older"),
    [((0,), ()), ((), (5,)), ((1,), (1,))],
)
def test_flats_outside_the_building_or_in_two_families_are_refused(
    echonet: tuple[int, ...], older: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match="flat"):
        BuildingConfig(flats=4, echonet_flats=echonet, sunspec_1xx_flats=older)


async def test_the_building_serves_echonet_lite_only_for_its_echonet_flats() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "building",
        "--flats",
        "3",
        "--base-port",
        "0",
        "--control-port",
        "0",
        "--manual",
        "--echonet-flats",
        "1",
        "--sunspec-1xx-flats",
        "2",
        "--echonet-port",
        "0",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = _ECHONET.search(line)
        assert found, line
        endpoints = found[1].split(", ")
        assert len(endpoints) == 1
        async with EchonetProbe(int(endpoints[0].rsplit(":", 1)[1])) as probe:
            answer = await probe.ask((0x0E, 0xF0, 0x01), f.GET, [(0xD6, b"")])
            assert answer is not None
            assert answer.esv == f.GET_RES
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert process.returncode == 0
