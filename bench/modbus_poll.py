"""One full poll of every entity's registers against the simulator, timed.

Prints readable lines, then one JSON object as the very last line. The baseline is a
single 100-register read on the same connection, measured in the same run: the
figure that matters is the poll's p99 over that read's p50 (target: under 10×),
and the number of Modbus requests a full poll takes (target: at most 5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from custom_components.local_vpp.device import FlatDevice, UnitIds
from devkit.measure import percentile
from devkit.simulator_process import flat_simulator


async def _measure(port: int, rounds: int) -> dict[str, float]:
    device = FlatDevice.tcp("127.0.0.1", port, UnitIds())
    try:
        await device.async_discover()
        unit = device._connection.for_unit(UnitIds().battery)
        for _ in range(20):  # warm up both paths
            await device.async_poll()
            await unit.read_holding_registers(40070, 100)
        polls: list[float] = []
        reads: list[float] = []
        # Interleave so both see the same machine noise.
        for _ in range(rounds):
            start = time.perf_counter()
            await device.async_poll()
            polls.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await unit.read_holding_registers(40070, 100)
            reads.append((time.perf_counter() - start) * 1000)
        return {
            "poll_p50_ms": statistics.median(polls),
            "poll_p99_ms": percentile(polls, 99),
            "requests_per_poll": device.last_poll_requests,
            "read100_p50_ms": statistics.median(reads),
            "read100_p99_ms": percentile(reads, 99),
        }
    finally:
        await device.async_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (<1 min)")
    args = parser.parse_args()
    rounds = 300 if args.quick else 3000
    # A frozen clock keeps the flat's physics ticks out of the timings: what is
    # measured is the poll, not the simulator.
    with flat_simulator("--manual") as ports:
        figures = asyncio.run(_measure(ports.modbus, rounds))
    figures["p99_over_read100_p50"] = figures["poll_p99_ms"] / figures["read100_p50_ms"]
    figures["rounds"] = rounds
    print(f"full poll over {rounds} rounds against the simulator on 127.0.0.1")
    print(f"  requests per poll      {figures['requests_per_poll']:.0f}  (target ≤ 5)")
    print(
        f"  poll p50 / p99         {figures['poll_p50_ms']:.3f} / "
        f"{figures['poll_p99_ms']:.3f} ms"
    )
    print(f"  100-register read p50  {figures['read100_p50_ms']:.3f} ms (baseline)")
    print(
        f"  poll p99 ÷ read p50    {figures['p99_over_read100_p50']:.2f}  (target < 10)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
