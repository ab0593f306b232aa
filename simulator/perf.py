"""How fast a building runs: ``python -m simulator.perf [--flats 50] [--seconds 20]``.

Prints three figures:

* physics only: wall time of ``advance(3600)`` (3600 steps of 1 s for every flat);
* real time: CPU share the building's process needs at speed 1 with 0.1 s ticks,
  and how far its clock falls behind the wall clock;
* the same while every flat is polled once a second (five block reads, as the
  integration polls) by clients in another process.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from .model.building import Building
from .model.config import BuildingConfig
from .simulator import Simulator

_START = datetime(2025, 1, 15, 18, 0)
# What one poll of a flat reads: (unit, address, count), five requests.
_POLL = (
    (1, 40070, 100),
    (2, 40070, 100),
    (2, 40170, 100),
    (2, 40270, 90),
    (3, 40070, 100),
)
# The client's unit keyword changed name ("slave" → "device_id") in pymodbus 3.10.
_UNIT_KEYWORD = (
    "device_id"
    if "device_id"
    in inspect.signature(AsyncModbusTcpClient.read_holding_registers).parameters
    else "slave"
)


def physics_seconds(flats: int, seconds: float = 3600.0) -> float:
    """Wall seconds to advance ``flats`` flats by ``seconds`` in 1 s steps."""
    building = Building(BuildingConfig(flats=flats, manual_clock=True, start=_START))
    began = time.perf_counter()
    building.advance(seconds)
    return time.perf_counter() - began


async def real_time(flats: int, seconds: float, poll: bool) -> tuple[float, float, int]:
    """(CPU share, clock lag s, polls) of a building at speed 1 for ``seconds``."""
    config = BuildingConfig(flats=flats, base_port=0, start=_START, tick_s=0.1)
    async with Simulator(config) as sim:
        poller = None
        if poll:
            ports = ",".join(str(port) for port in sim.ports.values())
            poller = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "simulator.perf",
                "--poll",
                ports,
                "--seconds",
                str(seconds),
                stdout=subprocess.PIPE,
            )
        loop = asyncio.get_running_loop()
        began_wall, began_cpu = loop.time(), time.process_time()
        began_sim = sim.model.elapsed_s
        await asyncio.sleep(seconds)
        wall = loop.time() - began_wall
        cpu = time.process_time() - began_cpu
        lag = wall - (sim.model.elapsed_s - began_sim)
        polls = 0
        if poller is not None:
            out, _ = await poller.communicate()
            polls = int(out.decode().strip() or 0)
    return cpu / wall, lag, polls


async def _poll(ports: Sequence[int], seconds: float) -> int:
    """Poll every port once a second for ``seconds``; returns the polls done."""
    done = 0
    stop_at = time.monotonic() + seconds

    async def one(port: int) -> None:
        nonlocal done
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        await client.connect()
        try:
            while time.monotonic() < stop_at:
                began = time.monotonic()
                for unit, address, count in _POLL:
                    which: dict[str, Any] = {_UNIT_KEYWORD: unit}
                    await client.read_holding_registers(address, count=count, **which)
                done += 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        finally:
            client.close()

    await asyncio.gather(*(one(port) for port in ports))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(prog="python -m simulator.perf")
    parser.add_argument("--flats", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.poll:
        ports = [int(port) for port in args.poll.split(",")]
        print(asyncio.run(_poll(ports, args.seconds)))
        return 0
    flats, seconds = args.flats, args.seconds
    print(f"advance(3600), {flats} flats: {physics_seconds(flats):.2f} s", flush=True)
    share, lag, _ = asyncio.run(real_time(flats, seconds, poll=False))
    print(
        f"speed 1, tick 0.1 s, {flats} flats, {seconds:.0f} s: CPU {share:.1%}"
        f" of one core, clock behind by {lag:.2f} s",
        flush=True,
    )
    share, lag, polls = asyncio.run(real_time(flats, seconds, poll=True))
    print(
        f"… while every flat is polled each second ({polls} polls of 5 requests):"
        f" CPU {share:.1%} of one core, clock behind by {lag:.2f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
