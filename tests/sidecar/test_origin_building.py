"""Certificates from a running building: three real sidecars across an hour's end.

Every node's wall clock is set (with :mod:`devkit.clock_shim`) to half a minute
before a Tokyo hour ends, so the hour closes with signed hourly rollups within the
test; the samples are stamped with the same clock. One flat's node then issues the
hour's certificates and the offline checker accepts them from its exported feeds.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from devkit import local_api, processes
from devkit.building import Building as AnyBuilding
from devkit.building import Flat
from devkit.clock import now_ms
from devkit.clock_shim import ClockShim, ShimUnavailable
from devkit.sidecar_node import sidecar_cli
from sidecar.apps.origin.certificates import local_time
from sidecar.ledger.kinds import periods
from tests.sidecar.mesh_support import Building

TZ = "Asia/Tokyo"
BEFORE_MS = 30_000


async def _feed(building: AnyBuilding, offset: int, until_ms: int) -> None:
    """Samples to every flat, stamped with the shifted clock, until ``until_ms``."""
    while now_ms() + offset < until_ms:
        for flat in building.flats:
            client = await building.client(flat)
            flat.counter += 0.4
            await client.send(
                local_api.sample(now_ms() + offset, pv_wh=flat.counter, pv_w=1440)
            )
        await asyncio.sleep(0.2)


def _issue(flat: Flat, out: Path, hour: int) -> list[dict[str, Any]]:
    day = time.strftime("%Y-%m-%d", time.gmtime((hour - 86_400_000) / 1000))
    done = sidecar_cli(
        "certificates",
        "--config",
        str(flat.config),
        "--from",
        day,
        "--to",
        "2100-01-01",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.long
async def test_a_running_building_issues_certificates_that_verify_offline(
    tmp_path: Path,
) -> None:
    """Every node issues the same certificates for the closed hour, and they verify
    offline from one node's exported feeds."""
    try:
        shim = ClockShim(tmp_path / "shim")
    except ShimUnavailable as err:
        pytest.skip(str(err))
    boundary = periods.following(1, now_ms() + BEFORE_MS, TZ)
    offset = boundary - BEFORE_MS - now_ms()
    shim.set(offset)
    async with Building(tmp_path / "b", 3) as building:
        await building.start(
            command=lambda flat: shim.command(
                processes.module_command("sidecar", "run", "--config", str(flat.config))
            )
        )
        assert (await building.linked(30))[1] == 2
        await _feed(building, offset, boundary + 5_000)
        hour = periods.floor(1, boundary - 1, TZ)
        first = building.flats[0]
        out = tmp_path / "certificates.jsonl"
        issued: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 90
        while len(issued) < 3:
            await _feed(building, offset, now_ms() + offset + 2_000)
            for number, flat in enumerate(building.flats):
                if flat.name in issued:
                    continue
                lines = _issue(flat, tmp_path / f"{number}.jsonl", hour)
                bundles = [line for line in lines if line["type"] == "bundle"]
                if len({bundle["log"] for bundle in bundles}) == 3:
                    issued[flat.name] = bundles
            assert time.monotonic() < deadline, f"issued by {sorted(issued)} only"
        lines = _issue(first, out, hour)
    # Every node, from its own copy of the ledger, issues the same certificates.
    assert issued[building.flats[1].name] == issued[first.name]
    assert issued[building.flats[2].name] == issued[first.name]
    feeds = tmp_path / "feeds.jsonl"
    done = sidecar_cli("export", "--config", str(first.config), "--out", str(feeds))
    assert done.returncode == 0, done.stderr
    checked = sidecar_cli("verify-certificates", str(out), "--feeds", str(feeds))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bundles = [line for line in lines if line["type"] == "bundle"]
    # The hour that closed, and only it: the next one is still open.
    assert {bundle["period"][1] for bundle in bundles} == {local_time(boundary, TZ)}
    pv = [
        cert
        for bundle in bundles
        for cert in bundle["certificates"]
        if cert["source"] == "pv"
    ]
    assert pv
    assert all(cert["ren_wh"] == cert["wh"] for cert in pv)
