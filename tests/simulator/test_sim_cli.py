"""``python -m simulator flat`` as a real process, driven over its HTTP control API."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymodbus.client import AsyncModbusTcpClient

from tests.simulator.sim_probe import BATTERY, ModbusError, Probe

ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"Modbus TCP on [\d.]+:(\d+) .* control API on http://[\d.]+:(\d+)")


class RunningFlat:
    def __init__(self, process: asyncio.subprocess.Process, modbus: int, control: int):
        self.process = process
        self.modbus_port = modbus
        self.control_port = control
        self.url = f"http://127.0.0.1:{control}"

    async def post(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/{path}", json=body) as response,
        ):
            return response.status, await response.json()

    async def post_raw(self, path: str, data: str) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/{path}", data=data) as response,
        ):
            return response.status, await response.json()

    async def state(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/state") as response,
        ):
            assert response.status == 200
            return (await response.json())["state"]

    async def listening(self) -> bool:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/state") as response,
        ):
            assert response.status == 200
            return bool((await response.json())["modbus"]["listening"])

    async def ctl(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            "ctl",
            "--control-port",
            str(self.control_port),
            *args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def flat() -> AsyncIterator[RunningFlat]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "flat",
        "--port",
        "0",
        "--control-port",
        "0",
        "--manual",
        "--start",
        "2025-06-21T12:00",
        "--flat",
        "402",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        ready = _READY.search(line)
        assert ready, line
        yield RunningFlat(process, int(ready[1]), int(ready[2]))
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_flat_process_serves_modbus_and_the_control_api(
    flat: RunningFlat,
) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=flat.modbus_port, timeout=2)
    assert await client.connect()
    try:
        probe = Probe(client)
        start, _ = (await probe.models(BATTERY))[1]
        serial = await probe.read(BATTERY, start + 50, 16)
        assert b"".join(w.to_bytes(2, "big") for w in serial).rstrip(b"\0") == (
            b"LVPP-402-BAT"
        )
        status, body = await flat.post("outage", {"on": True})
        assert status == 200
        assert body["state"]["grid"]["up"] is False
        assert body["modbus"]["port"] == flat.modbus_port
        meter_start, _ = (await probe.models(3))[701]
        assert await probe.read(3, meter_start + 5, 1) == [0]  # ConnSt
        status, body = await flat.post("advance", {"seconds": 90})
        assert status == 200
        assert body["state"]["elapsed_s"] == 90
        assert body["state"]["battery"]["heartbeat"] == 90
        status, _ = await flat.post(
            "fault", {"kind": "device_failure", "on": True, "role": "battery"}
        )
        assert status == 200
        with pytest.raises(ModbusError):
            await probe.read(BATTERY, 40000, 2)
    finally:
        client.close()


BAD_INPUT = [
    ("outage", {"on": "yes"}, "true or false"),
    ("outage", {}, "true or false"),
    ("clouds", {"cover": 1.5}, "cloud cover"),
    ("clouds", {"cover": "dark"}, "number"),
    ("advance", {"seconds": -1}, "seconds"),
    ("advance", {"seconds": 10**9}, "seconds"),
    ("fault", {"kind": "fire", "on": True}, "FaultKind"),
    (
        "fault",
        {"kind": "device_failure", "on": True, "role": "toaster"},
        "UnitRole",
    ),
    ("glitch", {"role": "pv", "point": "TotWhAbs", "kind": "zero"}, "no counter"),
    ("sag", {"fraction": 0.5, "seconds": 0}, "sag"),
    ("flapping", {"up_seconds": 1, "down_seconds": 1, "cycles": 1.5}, "whole"),
    ("disconnect", {"seconds": True}, "number"),
    ("frequency", {"offset_hz": 99, "seconds": 1}, "excursion"),
]


async def test_bad_input_gets_400_with_a_reason_and_changes_nothing(
    flat: RunningFlat,
) -> None:
    for path, body, error in BAD_INPUT:
        status, answer = await flat.post(path, body)
        assert status == 400, (path, body)
        assert error in answer["error"], (path, answer)
    state = await flat.state()
    assert state["grid"]["up"] is True
    assert state["cloud_cover"] == 0
    assert state["elapsed_s"] == 0
    assert state["failing_units"] == []


async def test_malformed_json_gets_400(flat: RunningFlat) -> None:
    for data in ("{not json", "[1, 2]", '"text"'):
        status, answer = await flat.post_raw("clouds", data)
        assert status == 400
        assert "JSON" in answer["error"]


async def test_every_action_over_http(flat: RunningFlat) -> None:
    for path, body in (
        ("sag", {}),
        ("frequency", {"offset_hz": 0.3, "seconds": 5}),
        ("flapping", {"up_seconds": 2, "down_seconds": 1, "cycles": 2}),
        ("clouds", {"cover": 0.8}),
        ("fault", {"kind": "battery", "on": True}),
        ("glitch", {"role": "meter", "point": "TotWhAbs", "kind": "dip"}),
        ("advance", {"seconds": 1}),
    ):
        status, answer = await flat.post(path, body)
        assert status == 200, (path, answer)
    state = await flat.state()
    assert state["cloud_cover"] == 0.8
    assert state["battery"]["fault"] is True
    status, answer = await flat.post("disconnect", {"seconds": 0.3})
    assert status == 200
    assert answer["modbus"]["listening"] is False
    # It listens again by itself after 0.3 s; a busy machine may take longer.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await flat.listening():
        assert loop.time() < deadline, "not listening again after 10 s"
        await asyncio.sleep(0.05)


async def test_ctl_client_drives_the_flat(flat: RunningFlat) -> None:
    code, out, _ = await flat.ctl("outage", "on")
    assert code == 0
    assert json.loads(out)["state"]["grid"]["up"] is False
    code, out, _ = await flat.ctl("advance", "30")
    assert json.loads(out)["state"]["elapsed_s"] == 30
    code, out, _ = await flat.ctl("fault", "device_failure", "on", "--role", "pv")
    assert json.loads(out)["state"]["failing_units"] == ["pv"]
    code, _, err = await flat.ctl("glitch", "meter", "TotWh", "zero")
    assert code == 1
    assert "no counter" in err
    code, out, _ = await flat.ctl("state")
    assert json.loads(out)["state"]["flat"] == "402"


async def test_sigterm_stops_the_flat_cleanly(flat: RunningFlat) -> None:
    flat.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(flat.process.wait(), 10) == 0
    assert flat.process.stdout is not None
    assert b"stopped" in await flat.process.stdout.read()


async def test_ctl_reports_an_unreachable_flat() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "ctl",
        "--control-port",
        "1",
        "state",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"cannot reach" in err


async def test_bad_settings_are_refused_at_start() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "flat",
        "--battery-wh",
        "50",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"capacity" in err
