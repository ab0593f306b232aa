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

Then the same size again as a mixed building (:mod:`bench.group_mixed`: one flat on
ECHONET Lite, one on SunSpec 1xx, the rest 7xx): apply latency, per family, and
achieved against target, beside the all-7xx figures of the same run.

Prints readable lines, then one JSON object as the very last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.group_building import SIM_START, Building, describe, kill_leftovers
from bench.group_flat import POLL_S
from bench.group_mixed import MIXED_KEYS, measure_mixed, mixed_keys, report_mixed
from bench.group_phases import (
    APPLY_TIMEOUT_S,
    RESHARE_BOUND_S,
    ROUND_S,
    STALE_S,
    Settings,
    apply_trials,
    baseline_writes,
    error_and_reshare,
    long_event,
)
from custom_components.local_vpp.device import DeviceError
from devkit.measure import (
    CORES,
    cpu_seconds,
    machine_busy_pct,
    machine_ticks,
    own_cpu_seconds,
)

APPLY_TARGET_P99_S = 1.0
ERROR_TARGET_PCT = 2.0
TARGETED_NODES = 30
FULL_RUNS = [10, 30, 50]
QUICK_RUNS = [4]


class _Counting(logging.Handler):
    """Counts the Modbus client's complaints (timeouts, late answers) quietly."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


MODBUS_LOG = _Counting()


# -- one run ---------------------------------------------------------------------------


async def measure(directory: Path, nodes: int, settings: Settings) -> dict[str, Any]:
    """Start a building of ``nodes`` flats and run every phase; the figures."""
    building = Building(directory / f"n{nodes}", nodes, settings.sync)
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
        own0, machine0, wall0 = own_cpu_seconds(), machine_ticks(), time.monotonic()

        try:
            figures |= await baseline_writes(building)
            figures |= await apply_trials(building, settings)
            figures |= await error_and_reshare(building, settings)
        except (RuntimeError, DeviceError, aiohttp.ClientError, OSError) as err:
            figures["failed"] = describe(err)

        wall = time.monotonic() - wall0
        busy, _iowait = machine_busy_pct(machine0, machine_ticks())
        own1 = own_cpu_seconds()
        figures["cpu_pct_sidecars"] = round(
            100
            * sum(cpu_seconds(p.pid) - c for p, c in zip(processes, cpu0, strict=True))
            / wall,
            1,
        )
        figures["cpu_pct_simulator"] = round(
            100 * (cpu_seconds(building.simulator.pid) - sim0) / wall, 1
        )
        figures["cpu_pct_driver"] = round(100 * (own1 - own0) / wall, 1)
        figures["machine_busy_pct"] = round(busy, 1)
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
    figures |= building.tallies()
    figures["sample_rejections"] = sum(
        f.client.rejected for f in building.flats if f.client is not None
    )
    figures["modbus_client_warnings"] = MODBUS_LOG.count - warnings0
    figures["sidecar_log_warnings"] = building.log_problems()
    return figures


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
            try:
                mixed = await measure_mixed(Path(folder), nodes, settings)
            except Exception as err:
                print(f"    mixed building: FAILED: {describe(err)}")
                mixed = {"failed": describe(err)}
            else:
                report_mixed(mixed, run)
            run |= mixed_keys(mixed)
            ours, theirs = run.get("apply_p95_s"), run.get("mixed_apply_p95_s")
            if ours and theirs is not None:
                run["mixed_apply_p95_over_apply_p95"] = round(theirs / ours, 2)
            results.append(run)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 flats only, fewer requests (< 1 min)"
    )
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
        trials=4 if args.quick else 20,
        apply_budget_s=20.0 if args.quick else 150.0,
        warmup_s=2.0 if args.quick else 4.0,
        settle_s=1.0 if args.quick else 3.0,
        window_s=2.0 if args.quick else 10.0,
        long_sim_s=3600.0,
        # Quick: both buildings within the minute (the mixed one runs no long event).
        speedup=720.0 if args.quick else 60.0,
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
        "apply_p95_s",
        "apply_p99_s",
        "family_apply_p95_s",
        "family_write_ms",
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
        *(f"mixed_{key}" for key in MIXED_KEYS),
        "mixed_apply_p95_over_apply_p95",
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
