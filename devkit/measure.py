"""What the benchmarks measure with: percentiles, and CPU time from /proc."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def percentile(samples: list[float], pct: float) -> float:
    """The sample at rank ``pct`` % of the way from the smallest to the largest.

    Raises ``ValueError`` for no samples: a benchmark must say why it has none.
    """
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_ticks() -> tuple[int, int, int]:
    """(total, idle, iowait) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(values[:8]), values[3], values[4]


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    times = os.times()
    return times.user + times.system


def machine_busy_pct(
    before: tuple[int, int, int], after: tuple[int, int, int]
) -> tuple[float, float]:
    """How busy the machine was between two :func:`machine_ticks`, and in iowait.

    Both in % of one core, as a process's CPU is given: all cores busy is 100 ×
    :data:`CORES`.
    """
    total, idle, iowait = (b - a for a, b in zip(before, after, strict=True))
    return 100 * CORES * (total - idle - iowait) / total, 100 * CORES * iowait / total
