"""The group-discharge benchmark's building: a simulator, a sidecar per flat, a driver.

A building simulator process of N flats (real Modbus TCP; flats may be named to be
ECHONET Lite nodes on UDP or to serve SunSpec 1xx), N real ``python -m sidecar run``
processes with one roster, and every flat's Home Assistant played in this process
(:mod:`bench.group_flat`). Group requests go to a flat's sidecar over its
local API; the simulator's state and clock are read and moved through its control
API.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

import devkit.building
from bench.group_flat import ECHONET, SUNSPEC_1XX, SUNSPEC_7XX, Flat
from devkit import processes
from devkit.ports import free_port, free_port_block
from devkit.waiting import port_answers

BUILDING = "bldg-bench"
SIM_START = "2025-01-15T19:00"  # a winter evening: no sun, households at their peak

# Every process this benchmark starts, so that an interrupted run still stops them.
_STARTED: list[asyncio.subprocess.Process] = []


async def _spawn(args: list[str], log: Path) -> asyncio.subprocess.Process:
    """Start a Python module of the project, its output into ``log``."""
    process = await processes.spawn([sys.executable, *args], log)
    _STARTED.append(process)
    return process


def kill_leftovers() -> None:
    """Last resort after an interrupted run: SIGKILL what is still running."""
    for process in _STARTED:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


class Building:
    """The simulator, the sidecars and the driver that plays every flat's HA."""

    def __init__(
        self,
        directory: Path,
        nodes: int,
        sync: str,
        families: dict[int, str] | None = None,
    ) -> None:
        """``families``: flat position (1-based) → family; the others are 7xx."""
        self.directory = directory
        self.nodes = nodes
        self.sync = sync
        self.families = families or {}
        self.flats: list[Flat] = []
        self.sidecars: devkit.building.Building | None = None
        self.simulator: asyncio.subprocess.Process | None = None
        self.control_url = ""
        self.session: aiohttp.ClientSession | None = None
        self.request_id = 0

    # -- start and stop -------------------------------------------------------------

    async def start(self) -> None:
        """The simulator, then every sidecar, then every flat's driver."""
        self.directory.mkdir(parents=True)
        self.session = aiohttp.ClientSession()
        control = free_port()
        self.control_url = f"http://127.0.0.1:{control}"
        # The control API does not say the ECHONET Lite ports: the first is chosen
        # here, the next flat's is one more.
        echonet = sorted(k for k, f in self.families.items() if f == ECHONET)
        echonet_port = free_port_block(len(echonet)) if echonet else 0
        sunspec_1xx = sorted(k for k, f in self.families.items() if f == SUNSPEC_1XX)
        family_args = []
        if echonet:
            family_args += ["--echonet-flats", ",".join(map(str, echonet))]
            family_args += ["--echonet-port", str(echonet_port)]
        if sunspec_1xx:
            family_args += ["--sunspec-1xx-flats", ",".join(map(str, sunspec_1xx))]
        self.simulator = await _spawn(
            [
                "-m",
                "simulator",
                "building",
                "--flats",
                str(self.nodes),
                "--base-port",
                "0",
                "--control-port",
                str(control),
                "--start",
                SIM_START,
                *family_args,
            ],
            self.directory / "simulator.log",
        )
        simulator = self.simulator
        await port_answers(
            control,
            60,
            alive=lambda: simulator.returncode is None,
            what="the simulator",
        )
        state = await self.sim_state(full=True)
        ports = {str(s["flat"]): int(s["modbus"]["port"]) for s in state["flats"]}
        families: dict[str, str] = {}
        for position, flat in enumerate(state["flats"], start=1):
            name = str(flat["flat"])
            families[name] = self.families.get(position, SUNSPEC_7XX)
            if families[name] == ECHONET:
                ports[name] = echonet_port + echonet.index(position)
        # An installer states the capacity of a battery that reports none (1xx).
        rated = {
            str(s["flat"]): float(s["battery"]["rated_wh"]) for s in state["flats"]
        }
        self.sidecars = devkit.building.Building(
            self.directory,
            list(ports),
            building=BUILDING,
            settings={"sync": self.sync},
        )
        self.sidecars.session = aiohttp.ClientSession()
        self.flats = [
            Flat(
                n.name,
                ports[n.name],
                n,
                family=families[n.name],
                stated_capacity_wh=rated[n.name]
                if families[n.name] == SUNSPEC_1XX
                else None,
            )
            for n in self.sidecars.flats
        ]
        try:
            await self.sidecars.start(within=120)
        finally:
            _STARTED.extend(n.process for n in self.sidecars.flats if n.process)
        sidecars = self.sidecars
        async with asyncio.TaskGroup() as group:
            for flat in self.flats:
                group.create_task(flat.start_driver(sidecars))

    async def kill(self, flat: Flat) -> None:
        """kill -9 the flat's sidecar and stop feeding the flat."""
        assert self.sidecars is not None
        flat.node.kill()
        await flat.stop_driver()
        await self.sidecars.kill(flat.node)

    def tallies(self) -> dict[str, Any]:
        """What went wrong at the flats: failed writes and polls, refused offers."""
        refused: Counter[str] = Counter()
        for flat in self.flats:
            refused.update(flat.refused)
        return {
            "write_errors": sum(f.write_errors for f in self.flats),
            "poll_errors": sum(f.poll_errors for f in self.flats),
            "availability_refused": dict(refused),
        }

    async def close(self) -> None:
        """Stop the drivers, the sidecars and the simulator."""
        await asyncio.gather(
            *(f.stop_driver() for f in self.flats), return_exceptions=True
        )
        if self.sidecars is not None:
            await self.sidecars.close(within=15)
        if self.simulator is not None:
            with contextlib.suppress(processes.StopFailed):
                await processes.stop(self.simulator, 15)
        if self.session is not None:
            await self.session.close()

    # -- the simulator -----------------------------------------------------------------

    async def sim_state(self, full: bool = False) -> dict[str, Any]:
        """The building's state from the simulator's control API."""
        assert self.session is not None
        url = f"{self.control_url}/state" + ("?full=1" if full else "")
        async with self.session.get(url) as response:
            body: dict[str, Any] = await response.json()
        state: dict[str, Any] = body["state"]
        return state

    async def sim_advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock on; the building's state afterwards."""
        assert self.session is not None
        async with self.session.post(
            f"{self.control_url}/advance", json={"seconds": seconds}
        ) as response:
            body: dict[str, Any] = await response.json()
        state: dict[str, Any] = body["state"]
        return state

    def scale_revert(self, rate: float) -> None:
        """Simulated seconds per real second from now on, for the revert timers."""
        for flat in self.flats:
            flat.revert_scale = rate

    # -- the flats and their sidecars -----------------------------------------------

    def live(self) -> list[Flat]:
        """The flats whose Home Assistant still runs."""
        return [f for f in self.flats if f.alive]

    def eligible(self) -> list[Flat]:
        """The flats a group discharge would give a share to."""
        return [f for f in self.flats if f.eligible]

    async def linked(self, within: float) -> tuple[float, int]:
        """Wait until every node is linked with all the others; (seconds, fewest)."""
        assert self.sidecars is not None
        return await self.sidecars.linked(within, every=1.0)

    def log_problems(self) -> int:
        """WARNING and ERROR lines in the sidecars' logs."""
        return 0 if self.sidecars is None else self.sidecars.log_problems()

    async def ask(
        self, flat: Flat, message: dict[str, Any], within: float = 30
    ) -> dict[str, Any] | None:
        """One request and its reply on the flat's connection (None: no reply)."""
        assert flat.client is not None
        self.request_id += 1
        try:
            return await flat.client.ask({**message, "id": self.request_id}, within)
        except TimeoutError:
            return None

    async def request(
        self, flat: Flat, target_w: int, duration_s: int, reason: str
    ) -> tuple[str | None, float, dict[str, Any] | None]:
        """A ``dispatch_request`` for a discharge; (event, when sent, reply)."""
        sent = time.monotonic()
        reply = await self.ask(
            flat,
            {
                "type": "dispatch_request",
                "direction": "discharge",
                "mode": "power",
                "target_w": target_w,
                "duration_s": duration_s,
                "reason": reason,
            },
        )
        if reply is None or reply.get("type") != "dispatch":
            return None, sent, reply
        return str(reply["event"]), sent, reply

    async def wait_applied(self, event: str, flats: list[Flat], within: float) -> bool:
        """Wait until every one of ``flats`` has written a setpoint of ``event``."""
        deadline = time.monotonic() + within
        while not all(event in f.applied for f in flats):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def cancel(self, event: str, within: float = 10) -> bool:
        """Cancel ``event`` and wait until every live flat has released it."""
        flat = self.live()[0]
        await self.ask(flat, {"type": "dispatch_cancel", "event": event})
        deadline = time.monotonic() + within
        holding = [f for f in self.live() if event in f.applied]
        while not all(event in f.released for f in holding):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


def capacity_w(flats: list[Flat]) -> int:
    """What the flats can deliver together, from their newest availability (W)."""
    return sum(math.floor(f.offers_w()[1]) for f in flats if f.eligible)


def battery_sum_w(state: dict[str, Any], names: set[str]) -> float:
    """The battery power of these flats in a simulator state, + discharging."""
    return sum(float(s["battery_w"]) for s in state["flats"] if s["flat"] in names)


def soc_figures(state: dict[str, Any], names: set[str]) -> dict[str, float]:
    """SoC spread (max − min), standard deviation, and energy above the reserve."""
    socs: list[float] = []
    energy = 0.0
    for flat in state["flats"]:
        if flat["flat"] not in names:
            continue
        battery = flat["battery"]
        soc = float(battery["soc_pct"])
        socs.append(soc)
        usable = float(battery["rated_wh"]) * float(battery["soh_pct"]) / 100
        energy += max(0.0, soc - float(battery["reserve_pct"])) / 100 * usable
    return {
        "spread": max(socs) - min(socs),
        "std": statistics.pstdev(socs),
        "energy_wh": energy,
    }


def describe(err: BaseException) -> str:
    """One line for an error, with the causes of a group of them."""
    causes = err.exceptions if isinstance(err, BaseExceptionGroup) else [err]
    return "; ".join(repr(cause)[:800] for cause in causes)
