"""Group discharge end to end: request to setpoints applied, accuracy, re-share, SoC.

A building simulator process of N flats (real Modbus TCP), N real ``python -m sidecar
run`` processes with one roster, and one driver in this process that plays every
flat's Home Assistant: it polls the flat's simulated battery through the device
library the integration uses, sends ``sample`` and ``availability`` over that flat's
local API (subscribed to ``setpoint``), and writes every ``setpoint`` it gets to the
battery's model 704 with the revert timer, recording when the write was acknowledged.

Per building size:

- apply latency: from sending ``dispatch_request`` to one flat's sidecar until the
  Modbus write of the new event's setpoint is acknowledged for every participating
  flat; several requests, each from idle (cancelled and released in between), at
  random phases of the coordination round. Beside it: the round length and a bare
  setpoint write (the device library's 704 write, one flat, and all flats at once).
- error: with setpoints settled, the building's battery power (sum over the flats in
  the simulator's state) against the target, when the flats' limits allow it.
- re-share: during an event one sidecar is killed (-9) and its flat no longer fed;
  the time until the survivors' setpoints sum to the target again, beside the
  staleness bound plus two rounds.
- SoC spread (max − min over the participating flats) before and after a long event
  that takes about half their energy above the reserve; the simulator's clock is run
  ahead through its control API during it (how is printed). Proportional sharing
  should shrink the spread to about before × the share of energy left.

Prints readable lines, then one JSON object as the very last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

import devkit.building
from custom_components.local_vpp.device import (
    DeviceError,
    FlatDevice,
    FlatReading,
    UnitIds,
)
from custom_components.local_vpp.ledger.messages import build
from custom_components.local_vpp.ledger.sample import (
    availability_from_reading,
    sample_from_reading,
)
from devkit import processes
from devkit.clock import now_ms
from devkit.local_api import LocalApiClient, hello
from devkit.measure import cpu_seconds, machine_ticks, percentile
from devkit.ports import free_port
from devkit.waiting import port_answers

BUILDING = "bldg-bench"
# The sidecar's [coordination] defaults, which the nodes run with.
ROUND_S = 1.0
STALE_S = 3.0
RESHARE_BOUND_S = STALE_S + 2 * ROUND_S
APPLY_TARGET_P99_S = 1.0
ERROR_TARGET_PCT = 2.0
TARGETED_NODES = 30
POLL_S = 1.0  # the integration's default poll interval
SIM_START = "2025-01-15T19:00"  # a winter evening: no sun, households at their peak
TARGET_SHARE = 0.4  # the events ask for this share of what the flats can give
LONG_EVENT_ENERGY_SHARE = 0.5  # the long event takes about this share of the energy
APPLY_TIMEOUT_S = 10.0
CORES = os.cpu_count() or 1
FULL_RUNS = [10, 30, 50]
QUICK_RUNS = [10]

# Every process this benchmark starts, so that an interrupted run still stops them.
_STARTED: list[asyncio.subprocess.Process] = []


class _Counting(logging.Handler):
    """Counts the Modbus client's complaints (timeouts, late answers) quietly."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


MODBUS_LOG = _Counting()


def seconds(value: float) -> float | None:
    """Rounded to ms; None for never."""
    return None if math.isinf(value) or math.isnan(value) else round(value, 3)


def percentile_s(samples: list[float], pct: float) -> float | None:
    """A percentile in s, rounded to ms; None without samples or for a miss."""
    return seconds(percentile(samples, pct)) if samples else None


async def spawn(args: list[str], log: Path) -> asyncio.subprocess.Process:
    """Start a Python module of the project, its output into ``log``."""
    process = await processes.spawn([sys.executable, *args], log)
    _STARTED.append(process)
    return process


async def reap(process: asyncio.subprocess.Process, within: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``within`` s; wait for the end."""
    with contextlib.suppress(processes.StopFailed):
        await processes.stop(process, within)


def kill_leftovers() -> None:
    """Last resort after an interrupted run: SIGKILL what is still running."""
    for process in _STARTED:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


# -- one flat: its sidecar and its Home Assistant ------------------------------------


@dataclass
class Flat:
    """One flat: its sidecar node, and the driver's view of it."""

    name: str
    modbus_port: int
    node: devkit.building.Flat
    device: FlatDevice | None = None
    client: LocalApiClient | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    alive: bool = True
    reading: FlatReading | None = None
    offer: dict[str, Any] | None = None  # the newest availability sent
    latest: dict[str, Any] | None = None  # the newest setpoint message received
    wanted: dict[str, Any] | None = None  # the setpoint message to write next
    written: dict[str, Any] | None = (
        None  # the message of the newest acknowledged write
    )
    received: dict[str | None, float] = field(default_factory=dict)  # event → first
    applied: dict[str | None, float] = field(default_factory=dict)  # event → first ack
    released: dict[str | None, float] = field(default_factory=dict)
    write_ms: list[float] = field(default_factory=list)
    write_errors: int = 0
    poll_errors: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def offers_w(self) -> tuple[float, float]:
        """(energy above reserve Wh, max discharge W) from the newest availability."""
        offer = self.offer or {}
        return float(offer.get("energy_wh", 0.0)), float(
            offer.get("max_discharge_w", 0.0)
        )

    @property
    def eligible(self) -> bool:
        """Whether the group allocation would give this flat a share of a discharge."""
        energy, power = self.offers_w()
        return self.alive and energy >= 1 and power >= 1


@dataclass(frozen=True)
class Settings:
    """How long each phase lasts."""

    trials: int
    apply_budget_s: float
    warmup_s: float
    settle_s: float
    window_s: float
    long_sim_s: float
    speedup: float
    sync: str


class Building:
    """The simulator, the sidecars and the driver that plays every flat's HA."""

    def __init__(self, directory: Path, nodes: int, settings: Settings) -> None:
        self.directory = directory
        self.nodes = nodes
        self.settings = settings
        self.flats: list[Flat] = []
        self.sidecars: devkit.building.Building | None = None
        self.simulator: asyncio.subprocess.Process | None = None
        self.control_url = ""
        self.session: aiohttp.ClientSession | None = None
        # Simulated seconds per real second: the revert timer is written in the
        # simulator's seconds, so it is scaled to last the same real time.
        self.revert_scale = 1.0
        self.request_id = 0

    # -- start and stop -------------------------------------------------------------

    async def start(self) -> None:
        """The simulator, then every sidecar, then every flat's driver."""
        self.directory.mkdir(parents=True)
        self.session = aiohttp.ClientSession()
        control = free_port()
        self.control_url = f"http://127.0.0.1:{control}"
        self.simulator = await spawn(
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
        state = await self.sim_state()
        ports = {str(s["flat"]): int(s["modbus"]["port"]) for s in state["flats"]}
        self.sidecars = devkit.building.Building(
            self.directory,
            list(ports),
            building=BUILDING,
            settings={"sync": self.settings.sync},
        )
        self.sidecars.session = aiohttp.ClientSession()
        self.flats = [Flat(n.name, ports[n.name], n) for n in self.sidecars.flats]
        try:
            await self.sidecars.start(within=120)
        finally:
            _STARTED.extend(n.process for n in self.sidecars.flats if n.process)
        async with asyncio.TaskGroup() as group:
            for flat in self.flats:
                group.create_task(self._start_driver(flat))

    async def _start_driver(self, flat: Flat) -> None:
        flat.device = FlatDevice.tcp("127.0.0.1", flat.modbus_port, UnitIds())
        await flat.device.async_discover()
        assert self.sidecars is not None
        flat.client = await self.sidecars.connect(
            flat.node,
            hello(
                serial=flat.device.serial,
                subscribe=["setpoint"],
                client="group_discharge bench",
            ),
            partial(self._sort, flat),
        )
        flat.tasks = [
            asyncio.create_task(self._poll(flat)),
            asyncio.create_task(self._write(flat)),
        ]

    async def stop_driver(self, flat: Flat) -> None:
        """This flat's Home Assistant stops: no polls, samples or writes any more."""
        flat.alive = False
        for task in flat.tasks:
            task.cancel()
        for task in flat.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        flat.tasks = []
        if flat.client is not None:
            with contextlib.suppress(Exception):
                await flat.client.close()
        if flat.device is not None:
            with contextlib.suppress(Exception):
                await flat.device.async_close()

    async def kill(self, flat: Flat) -> None:
        """kill -9 the flat's sidecar and stop feeding the flat."""
        assert self.sidecars is not None
        flat.node.kill()
        await self.stop_driver(flat)
        await self.sidecars.kill(flat.node)

    async def close(self) -> None:
        """Stop the drivers, the sidecars and the simulator."""
        await asyncio.gather(
            *(self.stop_driver(f) for f in self.flats), return_exceptions=True
        )
        if self.sidecars is not None:
            await self.sidecars.close(within=15)
        if self.simulator is not None:
            await reap(self.simulator)
        if self.session is not None:
            await self.session.close()

    # -- the flat's Home Assistant ----------------------------------------------------

    def _sort(self, flat: Flat, message: dict[str, Any]) -> bool:
        """Take the setpoints and refused availabilities; the client sorts the rest."""
        kind = message.get("type")
        if kind == "setpoint":
            now = time.monotonic()
            message["received"] = now
            flat.latest = message
            flat.received.setdefault(message.get("event"), now)
            flat.wanted = message
            flat.kick.set()
            return True
        if kind == "error" and "id" not in message:
            flat.refused[str(message.get("reason"))] += 1  # an availability
            return True
        return False

    async def _poll(self, flat: Flat) -> None:
        """Poll the flat every second; send the sample and the availability."""
        assert flat.device is not None
        assert flat.client is not None
        next_at = time.monotonic()
        while True:
            try:
                reading = await flat.device.async_poll()
            except DeviceError:
                flat.poll_errors += 1
            else:
                flat.reading = reading
                ts = now_ms()
                offer = build(
                    availability_from_reading(
                        reading, ts, participate=True, max_share_pct=100.0
                    )
                )
                if await flat.client.send(build(sample_from_reading(reading, ts))):
                    await flat.client.send(offer)
                flat.offer = offer
            next_at = max(next_at + POLL_S, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def _write(self, flat: Flat) -> None:
        """Write the newest setpoint, one write at a time, as the integration does."""
        assert flat.device is not None
        while True:
            await flat.kick.wait()
            flat.kick.clear()
            message = flat.wanted
            if message is None:
                continue
            event = message.get("event")
            start = time.perf_counter()
            try:
                if message.get("active") is True:
                    power = float(message["w"])
                    battery = flat.reading.battery if flat.reading else None
                    if battery is not None and battery.max_discharge_w is not None:
                        power = min(power, battery.max_discharge_w)
                    if battery is not None and battery.max_charge_w is not None:
                        power = max(power, -battery.max_charge_w)
                    revert = math.ceil(int(message["revert_s"]) * self.revert_scale)
                    await flat.device.async_set_power_setpoint(power, revert)
                else:
                    await flat.device.async_clear_power_setpoint()
            except DeviceError:
                flat.write_errors += 1
                continue
            now = time.monotonic()
            flat.write_ms.append((time.perf_counter() - start) * 1000)
            flat.written = message
            if message.get("active") is True:
                flat.applied.setdefault(event, now)
            else:
                flat.released.setdefault(event, now)

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

    # -- helpers for the phases -------------------------------------------------------

    def live(self) -> list[Flat]:
        return [f for f in self.flats if f.alive]

    def eligible(self) -> list[Flat]:
        return [f for f in self.flats if f.eligible]

    async def linked(self, within: float) -> tuple[float, int]:
        """Wait until every node is linked with all the others; (seconds, fewest)."""
        start = time.monotonic()
        want = len(self.flats) - 1
        while True:
            replies = await asyncio.gather(
                *(self.ask(f, {"type": "status"}, 20) for f in self.flats)
            )
            online = [
                -1 if r is None else int(r["mesh"]["peers_online"]) for r in replies
            ]
            if min(online) >= want or time.monotonic() - start > within:
                return time.monotonic() - start, min(online)
            await asyncio.sleep(1.0)

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


# -- one run ---------------------------------------------------------------------------


async def measure(directory: Path, nodes: int, settings: Settings) -> dict[str, Any]:
    """Start a building of ``nodes`` flats and run every phase; the figures."""
    building = Building(directory / f"n{nodes}", nodes, settings)
    figures: dict[str, Any] = {"nodes": nodes, "load_1m_at_start": os.getloadavg()[0]}
    warnings0 = MODBUS_LOG.count
    try:
        started = time.monotonic()
        await building.start()
        figures["start_s"] = round(time.monotonic() - started, 1)
        link_s, fewest = await building.linked(60 + nodes)
        figures["link_s"] = round(link_s, 1)
        figures["peers_online_min"] = fewest
        await asyncio.sleep(settings.warmup_s)  # availabilities published everywhere
        processes = [f.node.process for f in building.flats if f.node.process]
        assert building.simulator is not None
        cpu0 = [cpu_seconds(p.pid) for p in processes]
        sim0 = cpu_seconds(building.simulator.pid)
        own0, machine0, wall0 = os.times(), machine_ticks(), time.monotonic()

        try:
            figures |= await baseline_writes(building)
            figures |= await apply_trials(building, settings)
            figures |= await error_and_reshare(building, settings)
        except (RuntimeError, DeviceError, aiohttp.ClientError, OSError) as err:
            figures["failed"] = describe(err)

        wall = time.monotonic() - wall0
        total, idle, iowait = (
            b - a for a, b in zip(machine0, machine_ticks(), strict=True)
        )
        own1 = os.times()
        figures["cpu_pct_sidecars"] = round(
            100
            * sum(cpu_seconds(p.pid) - c for p, c in zip(processes, cpu0, strict=True))
            / wall,
            1,
        )
        figures["cpu_pct_simulator"] = round(
            100 * (cpu_seconds(building.simulator.pid) - sim0) / wall, 1
        )
        figures["cpu_pct_driver"] = round(
            100 * (own1.user + own1.system - own0.user - own0.system) / wall, 1
        )
        figures["machine_busy_pct"] = round(
            100 * CORES * (total - idle - iowait) / total, 1
        )
        figures["cpu_pct_other"] = round(
            max(
                0.0,
                figures["machine_busy_pct"]
                - figures["cpu_pct_sidecars"]
                - figures["cpu_pct_simulator"]
                - figures["cpu_pct_driver"],
            ),
            1,
        )

        if "failed" not in figures:
            try:
                figures |= await long_event(building, settings)
            except (RuntimeError, DeviceError, aiohttp.ClientError, OSError) as err:
                figures["failed"] = describe(err)
    finally:
        await building.close()
    figures["write_errors"] = sum(f.write_errors for f in building.flats)
    figures["poll_errors"] = sum(f.poll_errors for f in building.flats)
    refused: Counter[str] = Counter()
    for flat in building.flats:
        refused.update(flat.refused)
    figures["availability_refused"] = dict(refused)
    figures["sample_rejections"] = sum(
        f.client.rejected for f in building.flats if f.client is not None
    )
    figures["modbus_client_warnings"] = MODBUS_LOG.count - warnings0
    figures["sidecar_log_warnings"] = (
        0
        if building.sidecars is None
        else building.sidecars.log_count(r"\b(WARNING|ERROR)\b")
    )
    return figures


async def baseline_writes(building: Building) -> dict[str, Any]:
    """A bare 704 setpoint write: one flat, and every flat at once (no coordination).

    A write that fails (a timeout on a saturated machine) is counted, not timed.
    """
    one: list[float] = []
    failed = 0
    flat = building.flats[0]
    assert flat.device is not None
    for _ in range(20):
        start = time.perf_counter()
        try:
            await flat.device.async_set_power_setpoint(0, 5)
        except DeviceError:
            failed += 1
            continue
        one.append(time.perf_counter() - start)
    with contextlib.suppress(DeviceError):
        await flat.device.async_clear_power_setpoint()
    fan: list[float] = []
    devices = [f.device for f in building.flats if f.device is not None]
    for _ in range(5):
        start = time.perf_counter()
        outcomes = await asyncio.gather(
            *(d.async_set_power_setpoint(0, 5) for d in devices),
            return_exceptions=True,
        )
        errors = sum(isinstance(o, BaseException) for o in outcomes)
        failed += errors
        if not errors:
            fan.append(time.perf_counter() - start)
        await asyncio.sleep(0.1)
    await asyncio.gather(
        *(d.async_clear_power_setpoint() for d in devices), return_exceptions=True
    )
    return {
        "round_s": ROUND_S,
        "bare_write_p50_ms": round(1000 * statistics.median(one), 2) if one else None,
        "bare_write_all_p50_s": round(statistics.median(fan), 3) if fan else None,
        "bare_write_errors": failed,
    }


async def apply_trials(building: Building, settings: Settings) -> dict[str, Any]:
    """Requests from idle, each until every participating flat has applied it."""
    latencies: list[float] = []
    messages: list[float] = []
    replies: list[float] = []
    missed = 0
    participants: list[int] = []
    began = time.monotonic()
    for trial in range(settings.trials):
        if trial >= 3 and time.monotonic() - began > settings.apply_budget_s:
            break  # a slow machine: fewer requests rather than no figures
        # A random phase of the round, so that the trials sample all of it.
        await asyncio.sleep(random.uniform(0.3, 0.3 + ROUND_S))
        expected = building.eligible()
        target = max(1, round(TARGET_SHARE * capacity_w(expected)))
        requester = building.flats[trial % len(building.flats)]
        event, sent, reply = await building.request(requester, target, 600, "bench")
        if event is None:
            missed += 1
            latencies.append(math.inf)  # never applied
            print(f"    request {trial}: no dispatch reply: {reply}")
            continue
        replies.append(time.monotonic() - sent)
        if await building.wait_applied(event, expected, APPLY_TIMEOUT_S):
            latencies.append(max(f.applied[event] for f in expected) - sent)
            messages.append(max(f.received[event] for f in expected) - sent)
        else:
            missed += 1
            latencies.append(math.inf)
        counts = [
            int(f.latest.get("participants", 0))
            for f in expected
            if f.latest is not None and f.latest.get("event") == event
        ]
        participants.append(max(counts, default=0))
        await building.cancel(event)
    return {
        "apply_p50_s": percentile_s(latencies, 50),
        "apply_p99_s": percentile_s(latencies, 99),
        "apply_max_s": seconds(max(latencies, default=math.inf)),
        "setpoint_msg_p50_s": percentile_s(messages, 50),
        "setpoint_msg_p99_s": percentile_s(messages, 99),
        "dispatch_reply_p50_s": percentile_s(replies, 50),
        "apply_trials": len(latencies),
        "apply_missed": missed,
        "participants_min": min(participants, default=0),
    }


async def sample_error(
    building: Building, target: int, flats: list[Flat], window_s: float
) -> list[float]:
    """Achieved against target, % of target, from the simulator, every 0.5 s."""
    names = {f.name for f in flats}
    errors: list[float] = []
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        state = await building.sim_state()
        errors.append(100 * (battery_sum_w(state, names) - target) / target)
        await asyncio.sleep(0.5)
    return errors


async def error_and_reshare(building: Building, settings: Settings) -> dict[str, Any]:
    """One event: achieved against target, then a node killed and the re-share."""
    expected = building.eligible()
    capacity = capacity_w(expected)
    target = max(1, round(TARGET_SHARE * capacity))
    requester = expected[0]
    event, _sent, reply = await building.request(requester, target, 900, "bench error")
    if event is None:
        raise RuntimeError(f"the error phase's request was refused: {reply}")
    applied = await building.wait_applied(event, expected, APPLY_TIMEOUT_S)
    await asyncio.sleep(settings.settle_s)
    errors = await sample_error(building, target, expected, settings.window_s)
    allotted = sum(
        int(f.latest["w"])
        for f in expected
        if f.latest is not None and f.latest.get("event") == event
    )
    figures: dict[str, Any] = {
        "target_w": target,
        "capacity_w": capacity,
        "capacity_allows": target <= capacity,
        "all_applied_for_error": applied,
        "setpoints_sum_w": allotted,
        "error_pct": round(max((abs(e) for e in errors), default=0.0), 2),
        "error_pct_median": round(statistics.median(errors), 2) if errors else 0.0,
    }

    # The flat with the median share (not the requester) loses its sidecar.
    shares = sorted(
        (int(f.latest["w"]), f.name, f)
        for f in expected
        if f is not requester
        and f.latest is not None
        and f.latest.get("event") == event
    )
    if not shares:
        raise RuntimeError("no flat got a setpoint of the event to kill a node during")
    victim = shares[len(shares) // 2][2]
    survivors = [f for f in expected if f is not victim]
    after_target = min(target, capacity_w(survivors))
    killed = time.monotonic()
    await building.kill(victim)

    def reshared(messages: list[dict[str, Any] | None]) -> bool:
        return (
            all(
                m is not None
                and m.get("event") == event
                and m.get("active") is True
                and float(m["received"]) > killed
                for m in messages
            )
            and sum(int(m["w"]) for m in messages if m is not None) == after_target
        )

    reshare_s: float | None = None
    applied_s: float | None = None
    deadline = killed + RESHARE_BOUND_S + 10
    while time.monotonic() < deadline and applied_s is None:
        now = time.monotonic()
        if reshare_s is None and reshared([f.latest for f in survivors]):
            reshare_s = max(float(f.latest["received"]) for f in survivors if f.latest)
            reshare_s -= killed
        if reshare_s is not None and reshared([f.written for f in survivors]):
            applied_s = now - killed
        await asyncio.sleep(0.01)
    figures |= {
        "killed_flat": victim.name,
        "killed_share_w": shares[len(shares) // 2][0],
        "reshare_s": None if reshare_s is None else round(reshare_s, 2),
        "reshare_applied_s": None if applied_s is None else round(applied_s, 2),
        "reshare_bound_s": RESHARE_BOUND_S,
    }
    await asyncio.sleep(1.0)
    after = await sample_error(
        building, after_target, survivors, min(3.0, settings.window_s)
    )
    figures["error_after_reshare_pct"] = round(
        max((abs(e) for e in after), default=0.0), 2
    )
    await building.cancel(event)
    return figures


async def long_event(building: Building, settings: Settings) -> dict[str, Any]:
    """A long event with the simulator's clock run ahead; SoC spread before, after."""
    flats = building.eligible()
    names = {f.name for f in flats}
    before = soc_figures(await building.sim_state(full=True), names)
    hours = settings.long_sim_s / 3600
    capacity = capacity_w(flats)
    target = max(
        1,
        min(
            round(LONG_EVENT_ENERGY_SHARE * before["energy_wh"] / hours),
            round(0.8 * capacity),
        ),
    )
    # Real time goes on at speed 1 beside the jumps: (speedup + 1) × in all.
    rate = settings.speedup + 1
    building.revert_scale = rate
    duration = math.ceil(settings.long_sim_s / rate + 60)
    event, _sent, reply = await building.request(flats[0], target, duration, "long")
    if event is None:
        raise RuntimeError(f"the long event's request was refused: {reply}")
    await building.wait_applied(event, flats, APPLY_TIMEOUT_S)
    state = await building.sim_state()
    sim0, real0 = float(state["elapsed_s"]), time.monotonic()
    errors: list[float] = []
    step = 0.25
    last = real0
    while True:
        # Ahead by the speed-up times the real time since the last jump, so that a
        # slow answer does not slow the simulated clock down.
        now = time.monotonic()
        ahead = settings.speedup * min(now - last, 4 * step)
        last = now
        state = await building.sim_advance(ahead)
        errors.append(100 * (battery_sum_w(state, names) - target) / target)
        if float(state["elapsed_s"]) - sim0 >= settings.long_sim_s:
            break
        await asyncio.sleep(step)
    simulated = float(state["elapsed_s"]) - sim0
    real = time.monotonic() - real0
    after = soc_figures(await building.sim_state(full=True), names)
    await building.cancel(event)
    building.revert_scale = 1.0
    left = after["energy_wh"] / before["energy_wh"] if before["energy_wh"] else 0.0
    return {
        "soc_spread_before": round(before["spread"], 2),
        "soc_spread_after": round(after["spread"], 2),
        "soc_spread_ideal_after": round(before["spread"] * left, 2),
        "soc_std_before": round(before["std"], 2),
        "soc_std_after": round(after["std"], 2),
        "long_target_w": target,
        "long_energy_before_wh": round(before["energy_wh"]),
        "long_energy_after_wh": round(after["energy_wh"]),
        "long_simulated_s": round(simulated),
        "long_real_s": round(real, 1),
        "long_error_pct_median": round(statistics.median(errors), 2) if errors else 0.0,
        "long_flats": len(flats),
    }


def _s(value: Any, digits: int = 3) -> str:
    """Seconds (or another figure) for a line; "never" for None."""
    return "never" if value is None else f"{value:.{digits}f} s"


def report(run: dict[str, Any]) -> None:
    """Readable lines for one building size (as far as it got)."""
    n = run["nodes"]
    print(
        f"{n:3d} flats: started in {run['start_s']:.0f} s, linked in "
        f"{run['link_s']:.0f} s (fewest peers online {run['peers_online_min']} of "
        f"{n - 1}); machine load average {run['load_1m_at_start']:.1f} at the start"
    )
    if "apply_p99_s" in run:
        print(
            f"    request → all setpoints applied: p50 {_s(run['apply_p50_s'])}, p99 "
            f"{_s(run['apply_p99_s'])} over {run['apply_trials']} requests "
            f"({run['apply_missed']} not applied everywhere: no reply in 30 s or "
            f"not within {APPLY_TIMEOUT_S:.0f} s); setpoint messages alone p99 "
            f"{_s(run['setpoint_msg_p99_s'])}; dispatch reply p50 "
            f"{_s(run['dispatch_reply_p50_s'])}"
        )
    if "bare_write_p50_ms" in run:
        one = run["bare_write_p50_ms"]
        print(
            f"      baseline: round {run['round_s']:.1f} s; bare 704 setpoint write "
            f"{'never' if one is None else f'{one:.2f} ms'} for one flat, "
            f"{_s(run['bare_write_all_p50_s'])} for all {n} at once "
            f"({run['bare_write_errors']} bare writes failed)"
        )
    if "error_pct" in run:
        print(
            f"    achieved vs target {run['target_w']} W (capacity "
            f"{run['capacity_w']} W): worst {run['error_pct']:.2f} %, median "
            f"{run['error_pct_median']:+.2f} %; setpoints sum to "
            f"{run['setpoints_sum_w']} W; every flat applied before sampling: "
            f"{run['all_applied_for_error']}"
        )
    if "reshare_bound_s" in run:
        print(
            f"    flat {run['killed_flat']} (share {run['killed_share_w']} W) killed: "
            f"survivors' setpoints sum to the target after "
            f"{_s(run['reshare_s'], 2)}, written after "
            f"{_s(run['reshare_applied_s'], 2)} (bound: staleness {STALE_S:.0f} s + "
            f"2 rounds = {run['reshare_bound_s']:.0f} s); then achieved within "
            f"{run['error_after_reshare_pct']:.2f} %"
        )
    if "soc_spread_after" in run:
        print(
            f"    long event: {run['long_target_w']} W for "
            f"{run['long_simulated_s'] / 3600:.2f} simulated h in "
            f"{run['long_real_s']:.0f} s (simulator clock at speed 1 plus POST "
            "/advance every 0.25 s, revert timer written × the same factor); energy "
            f"above reserve {run['long_energy_before_wh']} → "
            f"{run['long_energy_after_wh']} Wh"
        )
        print(
            f"      SoC spread of {run['long_flats']} flats "
            f"{run['soc_spread_before']:.2f} → {run['soc_spread_after']:.2f} points "
            f"(exactly proportional: {run['soc_spread_ideal_after']:.2f}); std "
            f"{run['soc_std_before']:.2f} → {run['soc_std_after']:.2f}; achieved vs "
            f"target median {run['long_error_pct_median']:+.2f} %"
        )
    if "cpu_pct_sidecars" in run:
        print(
            f"    CPU: sidecars {run['cpu_pct_sidecars']:.0f} %, simulator "
            f"{run['cpu_pct_simulator']:.0f} %, driver {run['cpu_pct_driver']:.0f} % "
            f"of {100 * CORES} %; machine busy {run['machine_busy_pct']:.0f} % (other "
            f"programs {run['cpu_pct_other']:.0f} %)"
        )
    print(
        f"    write errors {run['write_errors']}, poll errors {run['poll_errors']}, "
        f"Modbus client warnings {run['modbus_client_warnings']}, sidecar log "
        f"warnings {run['sidecar_log_warnings']}, availability refused "
        f"{run['availability_refused']}"
    )
    if "failed" in run:
        print(f"    FAILED, phases after this were not run: {run['failed']}")


async def run_all(runs: list[int], settings: Settings) -> list[dict[str, Any]]:
    """Every building size, each fresh in a fresh directory."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    results = []
    with tempfile.TemporaryDirectory(prefix="group-bench-") as folder:
        for nodes in runs:
            try:
                run = await measure(Path(folder), nodes, settings)
            except Exception as err:
                # Reported, and the other sizes still run.
                print(f"{nodes:3d} flats: FAILED: {describe(err)}")
                results.append({"nodes": nodes, "failed": describe(err)})
                continue
            report(run)
            results.append(run)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 flats only (< 1 min)")
    parser.add_argument("--runs", help="building sizes instead, e.g. 10,30")
    parser.add_argument(
        "--sync",
        choices=["full", "normal"],
        default="full",
        help='the nodes\' [storage] sync (default "full", as shipped)',
    )
    args = parser.parse_args()
    for name in ("pymodbus", "modbus_connection"):
        logger = logging.getLogger(name)
        logger.handlers = [MODBUS_LOG]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    runs = QUICK_RUNS if args.quick else FULL_RUNS
    if args.runs:
        runs = [int(n) for n in args.runs.split(",")]
    settings = Settings(
        trials=5 if args.quick else 20,
        apply_budget_s=20.0 if args.quick else 150.0,
        warmup_s=2.0 if args.quick else 4.0,
        settle_s=1.0 if args.quick else 3.0,
        window_s=2.0 if args.quick else 10.0,
        long_sim_s=3600.0,
        speedup=360.0 if args.quick else 60.0,
        sync=args.sync,
    )
    print(
        f"group discharge on 127.0.0.1, {CORES} cores: a simulated building "
        f"(python -m simulator building, start {SIM_START}), one sidecar process per "
        f"flat, one driver playing every flat's Home Assistant (device library, "
        f"poll {POLL_S:.0f} s); sidecar defaults round {ROUND_S:.0f} s, staleness "
        f"{STALE_S:.0f} s, sync {settings.sync!r}"
    )
    try:
        results = asyncio.run(run_all(runs, settings))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process this run started is stopped")
        sys.exit(130)
    finally:
        kill_leftovers()
    keep = (
        "nodes",
        "apply_p50_s",
        "apply_p99_s",
        "error_pct",
        "reshare_s",
        "soc_spread_before",
        "soc_spread_after",
        "round_s",
        "bare_write_p50_ms",
        "bare_write_all_p50_s",
        "setpoint_msg_p99_s",
        "apply_missed",
        "error_pct_median",
        "capacity_allows",
        "reshare_applied_s",
        "reshare_bound_s",
        "error_after_reshare_pct",
        "soc_spread_ideal_after",
        "long_simulated_s",
        "long_real_s",
        "cpu_pct_sidecars",
        "machine_busy_pct",
        "cpu_pct_other",
        "load_1m_at_start",
        "modbus_client_warnings",
        "sidecar_log_warnings",
        "failed",
    )
    targets: dict[str, bool] = {}
    for run in results:
        if run["nodes"] != TARGETED_NODES:
            continue
        apply_p99 = run.get("apply_p99_s")
        error = run.get("error_pct")
        reshare = run.get("reshare_s")
        targets["apply_p99"] = apply_p99 is not None and apply_p99 <= APPLY_TARGET_P99_S
        targets["error"] = error is not None and (
            not run["capacity_allows"] or error <= ERROR_TARGET_PCT
        )
        targets["reshare"] = reshare is not None and reshare <= RESHARE_BOUND_S
    for name, met in targets.items():
        print(f"target at {TARGETED_NODES} flats, {name}: {'met' if met else 'MISSED'}")
    result = {
        "runs": [{key: run[key] for key in keep if key in run} for run in results],
        "targets_at_30": targets,
        "target_apply_p99_s": APPLY_TARGET_P99_S,
        "target_error_pct": ERROR_TARGET_PCT,
        "cores": CORES,
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
