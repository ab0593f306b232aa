"""The mesh-latency benchmark's building: sidecar processes fed samples at a rate.

N real ``python -m sidecar run`` processes with one roster, each fed samples over its
local API; the first node may run under cProfile.
"""

from __future__ import annotations

import asyncio
import contextlib
import pstats
import random
import re
import sys
import time
from pathlib import Path

import aiohttp

from devkit.building import Building, Flat, flat_names
from devkit.clock import now_ms
from devkit.local_api import hello, sample
from devkit.measure import cpu_seconds

BUILDING = "bldg-bench"
# Runs a node under cProfile counting the process's CPU time, not wall time, so that
# waiting for a core on a busy machine is not charged to a function. Not the thread's
# time: the profiler sees every thread's calls, and per-thread clocks would mix. The
# writer thread's CPU shows as the event loop's own time in ``poll`` while it waits.
PROFILED = """
import cProfile, sys, time
from sidecar import cli
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    code = cli.main(sys.argv[2:])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
sys.exit(code)
"""


class FedBuilding(Building):
    """N sidecar processes with one roster, each fed samples over its local API."""

    def __init__(
        self, directory: Path, count: int, interval_ms: int, sync: str, profile: bool
    ) -> None:
        super().__init__(
            directory,
            flat_names(count),
            building=BUILDING,
            settings={"interval_ms": interval_ms, "sync": sync},
            subscribe=(),
        )
        self.profiled = profile

    def command(self, flat: Flat) -> list[str] | None:
        """The first node runs under cProfile when asked to."""
        if not self.profiled or flat is not self.flats[0]:
            return None
        return [
            sys.executable,
            "-c",
            PROFILED,
            str(self._profile_file),
            "run",
            "--config",
            str(flat.config),
        ]

    async def start_all(self) -> None:
        """Start every node and connect to its local API."""
        self.session = aiohttp.ClientSession()
        await self.start(within=120, command=self.command)
        await asyncio.gather(
            *(self.connect(flat, hello(serial="BENCH")) for flat in self.flats)
        )

    @property
    def _profile_file(self) -> Path:
        return self.flats[0].directory / "node.prof"

    def node_cpu_seconds(self) -> list[float]:
        """Each running node's CPU seconds so far."""
        seconds = []
        for flat in self.flats:
            assert flat.process is not None
            seconds.append(cpu_seconds(flat.process.pid))
        return seconds

    def rss_mb(self) -> list[float]:
        """Each running node's resident memory, MB (0 for one that is gone)."""
        sizes = []
        for flat in self.running():
            assert flat.process is not None
            try:
                status = Path(f"/proc/{flat.process.pid}/status").read_text()
            except OSError:
                sizes.append(0.0)
                continue
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            sizes.append(int(found.group(1)) / 1024 if found else 0.0)
        return sizes

    def profile(self) -> list[str]:
        """Where the profiled node spent its time (nothing if none was profiled)."""
        return profile_top(self._profile_file) if self.profiled else []

    def acknowledged(self) -> list[int]:
        """Each flat's samples acknowledged with an entry so far."""
        return [self.clients[flat.name].entries for flat in self.flats]

    async def feed(self, flat: Flat, rate_hz: float, stop: asyncio.Event) -> None:
        """Send ``rate_hz`` samples a second until ``stop``, at a random phase."""
        client = self.clients[flat.name]
        period = 1.0 / rate_hz
        await asyncio.sleep(random.uniform(0, period))
        last = time.time()
        next_at = time.monotonic()
        while not stop.is_set():
            now = time.time()
            flat.counter += 1800 * (now - last) / 3600
            last = now
            await client.send(
                sample(
                    now_ms(),
                    pv_wh=round(flat.counter, 4),
                    pv_w=1800,
                    grid_w=-600,
                    battery_w=-400,
                    soc_pct=55,
                )
            )
            next_at += period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), max(0.0, next_at - time.monotonic())
                )


def profile_top(path: Path, count: int = 15) -> list[str]:
    """The functions one node spent most time in (own time), as readable lines."""
    if not path.exists():
        return []
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in (
        stats.stats.items()  # type: ignore[attr-defined]
    ):
        rows.append((own, cumulative, calls, f"{Path(file).name}:{line}({name})"))
    rows.sort(reverse=True)
    return [
        f"{own:7.2f} s own {cum:7.2f} s cum {calls:9d} calls  {where}"
        for own, cum, calls, where in rows[:count]
    ]
