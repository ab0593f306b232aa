"""``python -m simulator building`` as a real process, driven over HTTP and ``ctl``."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from devkit.processes import ROOT
from tests.simulator.building_probe import METER_UNIT, connect
from tests.simulator.sim_probe import BASE, BATTERY

_READY = re.compile(
    r"Building: (\d+) flats .* building meter on [\d.]+:(\d+) \(unit \d+\);"
    r" control API on http://[\d.]+:(\d+)"
)


class RunningBuilding:
    def __init__(self, process: asyncio.subprocess.Process, control_port: int):
        self.process = process
        self.control_port = control_port
        self.url = f"http://127.0.0.1:{control_port}"

    async def request(
        self, method: str, path: str, body: Any = None, data: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"{self.url}/{path}", json=body, data=data
            ) as response,
        ):
            return response.status, await response.json()

    async def post(self, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        return await self.request("POST", path, {} if body is None else body)

    async def state(self) -> dict[str, Any]:
        status, answer = await self.request("GET", "state")
        assert status == 200
        return answer["state"]

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


@asynccontextmanager
async def building_process(*args: str) -> AsyncIterator[RunningBuilding]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "building",
        "--base-port",
        "0",
        "--control-port",
        "0",
        "--manual",
        *args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        ready = _READY.search(line)
        assert ready, line
        yield RunningBuilding(process, int(ready[3]))
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


BAD_INPUT = [
    ("outage", {"on": "yes"}, 400, "true or false"),
    ("clouds", {"cover": 2}, 400, "cloud cover"),
    ("loads", {"factor": -1}, 400, "load factor"),
    ("advance", {"seconds": 10**6}, 400, "seconds"),
    ("sag", {"fraction": 0.5, "seconds": 0}, 400, "sag"),
    ("flats/102/fault", {"kind": "fire", "on": True}, 400, "FaultKind"),
    ("flats/102/bus", {"available": 1}, 400, "true or false"),
    ("flats/102/bus_setpoint", {"w": 50000}, 400, "10000"),
    ("flats/102/bus_setpoint", {"w": 1.5}, 400, "whole"),
    ("flats/102/living_room", {"source": 3}, 400, "source"),
    ("flats/102/household", {"factor": 9}, 400, "load factor"),
    ("flats/102/disconnect", {"seconds": -1}, 400, "positive"),
    ("flats/102/glitch", {"role": "pv", "point": "X", "kind": "zero"}, 400, "counter"),
    ("flats/102/reset_counter", {"role": "pv", "point": "X"}, 400, "counter"),
    ("flats/999/vanish", {}, 404, "no flat"),
    ("flats/999/fault", {"kind": "battery", "on": True}, 404, "no flat"),
]


async def test_building_process_over_http_modbus_and_ctl() -> None:
    async with building_process(
        "--flats", "3", "--seed", "4", "--start", "2025-01-15T19:00"
    ) as building:
        state = await building.state()
        assert [flat["flat"] for flat in state["flats"]] == ["101", "102", "103"]
        assert state["time"] == "2025-01-15T19:00:00"
        ports = {flat["flat"]: flat["modbus"]["port"] for flat in state["flats"]}
        meter_port = state["building_meter"]["modbus"]["port"]
        probe = await connect(ports["102"])
        meter = await connect(meter_port)
        try:
            assert await probe.read(BATTERY, BASE, 2) == [0x5375, 0x6E53]
            assert await meter.read(METER_UNIT, BASE, 2) == [0x5375, 0x6E53]
        finally:
            probe.client.close()
            meter.client.close()

        for path, body, status, error in BAD_INPUT:
            code, answer = await building.post(path, body)
            assert code == status, (path, answer)
            assert error in answer["error"], (path, answer)
        code, answer = await building.request("POST", "outage", data="{oops")
        assert code == 400
        assert "JSON" in answer["error"]
        code, answer = await building.request("GET", "flats/999")
        assert code == 404
        state = await building.state()
        assert state["elapsed_s"] == 0
        assert state["grid"]["up"] is True

        for path, body in (
            ("sag", {}),
            ("frequency", {"offset_hz": 0.2, "seconds": 2}),
            ("flapping", {"up_seconds": 2, "down_seconds": 1, "cycles": 0}),
            ("clouds", {"cover": 0.4}),
            ("loads", {"factor": 1.2}),
            ("advance", {"seconds": 5}),
        ):
            code, answer = await building.post(path, body)
            assert code == 200, (path, answer)
        assert answer["state"]["elapsed_s"] == 5
        assert answer["state"]["cloud_cover"] == 0.4

        code, answer = await building.post("outage", {"on": True})
        assert code == 200
        assert answer["state"]["building_meter"]["connected"] is False
        for path, body in (
            ("living_room", {"source": 1}),
            ("household", {"factor": 0.5}),
            ("bus_setpoint", {"w": -200, "revert_s": 60}),
            ("bus", {"available": True}),
            ("fault", {"kind": "device_failure", "role": "pv", "on": True}),
            ("glitch", {"role": "meter", "point": "TotWhAbs", "kind": "dip"}),
        ):
            code, answer = await building.post(f"flats/102/{path}", body)
            assert code == 200, (path, answer)
        flat = answer["state"]
        assert flat["flat"] == "102"
        assert flat["living_room"]["source"] == 1
        assert flat["bus"]["setpoint_w"] == -200
        assert flat["bus"]["revert_remaining_s"] == 60
        assert flat["failing_units"] == ["pv"]

        code, answer = await building.post("flats/103/vanish")
        assert code == 200
        assert answer["modbus"]["vanished"] is True
        assert answer["modbus"]["listening"] is False
        assert (await building.state())["vanished"] == ["103"]
        code, answer = await building.post("flats/103/return")
        assert answer["modbus"]["listening"] is True
        code, answer = await building.post("flats/101/disconnect", {"seconds": 0.2})
        assert code == 200
        assert answer["modbus"]["listening"] is False
        full = await building.request("GET", "state?full=1")
        assert full[1]["state"]["flats"][0]["battery"]["rated_wh"] > 0

        code, out, _ = await building.ctl("--flat", "103", "vanish")
        assert code == 0
        assert json.loads(out)["modbus"]["vanished"] is True
        code, out, _ = await building.ctl("--flat", "103", "return")
        assert json.loads(out)["modbus"]["vanished"] is False
        code, out, _ = await building.ctl(
            "--flat", "102", "reset-counter", "meter", "TotWhAbs"
        )
        assert code == 0
        assert json.loads(out)["state"]["meter"]["tot_wh_abs"] == 0
        code, out, _ = await building.ctl("--flat", "101", "bus-setpoint", "300")
        assert json.loads(out)["state"]["bus"]["setpoint_w"] == 300
        code, out, _ = await building.ctl("--flat", "101", "living-room", "battery")
        assert json.loads(out)["state"]["living_room"]["source"] == 1
        code, out, _ = await building.ctl("--flat", "101", "household", "0.3")
        assert code == 0
        code, out, _ = await building.ctl("--flat", "101", "state")
        assert json.loads(out)["state"]["flat"] == "101"
        code, out, _ = await building.ctl("loads", "1.0")
        assert code == 0
        code, _, err = await building.ctl("vanish")
        assert code == 2
        assert "needs --flat" in err
        code, _, err = await building.ctl("--flat", "101", "outage", "on")
        assert code == 2
        code, _, err = await building.ctl("--flat", "999", "vanish")
        assert code == 1
        assert "no flat" in err

        building.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(building.process.wait(), 10) == 0
        assert building.process.stdout is not None
        assert b"stopped" in await building.process.stdout.read()


async def test_a_scenario_from_the_command_line() -> None:
    async with building_process(
        "--flats", "4", "--scenario", "flat_vanishes"
    ) as building:
        assert building.process.stdout is not None
        line = await asyncio.wait_for(building.process.stdout.readline(), 5)
        assert line.startswith(b"Scenario flat_vanishes:")
        state = await building.state()
        assert state["time"] == "2025-01-15T19:00:00"
        assert [event["label"] for event in state["scheduled"]] == [
            "vanish 103",
            "return 103",
        ]
        _, answer = await building.post("advance", {"seconds": 601})
        assert answer["state"]["vanished"] == ["103"]
        assert answer["state"]["flats"][2]["modbus"]["listening"] is False
        _, answer = await building.post("advance", {"seconds": 1200})
        assert answer["state"]["vanished"] == []
        assert answer["state"]["flats"][2]["modbus"]["listening"] is True


async def test_bad_building_settings_are_refused_at_start() -> None:
    for args, message in (
        (("--flats", "0"), b"flats must be"),
        (("--scenario", "earthquake"), b"no scenario"),
        (("--bus-loss", "80"), b"bus loss"),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            "building",
            *args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = await process.communicate()
        assert process.returncode == 2, args
        assert message in err, err
