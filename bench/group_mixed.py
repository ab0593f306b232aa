"""Group discharge on a mixed building: ECHONET Lite, SunSpec 1xx and 7xx flats.

The same building as the all-7xx one (:mod:`bench.group_building`) but flat 2 is an
ECHONET Lite node (no revert timer, a minimum write interval of 30 s, an operation
mode and amounts written one acknowledged request after the other) and flat 3
serves SunSpec 1xx (model 124 rates). Each flat's Home Assistant is played through
that family's device class and reports its ``capabilities`` in its availability, so
the allocation gives the slow ECHONET flat a steady share.

Measured: request → every participating flat's write acknowledged (apply latency),
per family the same and the device write alone, and achieved against target.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import aiohttp

from bench.group_building import Building, describe
from bench.group_flat import ECHONET, SUNSPEC_1XX, SUNSPEC_7XX
from bench.group_phases import Settings, apply_trials, error_and_reshare
from custom_components.local_vpp.device import DeviceError

# Flat positions (1-based) of the other families; the rest serve SunSpec 7xx.
MIXED_FAMILIES: Final = {2: ECHONET, 3: SUNSPEC_1XX}
FAMILY_NAMES: Final = {
    SUNSPEC_7XX: "SunSpec 7xx",
    SUNSPEC_1XX: "SunSpec 1xx",
    ECHONET: "ECHONET Lite",
}
# The keys of a mixed run that go into the last line, each as mixed_<key>.
MIXED_KEYS: Final = (
    "apply_p50_s",
    "apply_p95_s",
    "apply_p99_s",
    "apply_missed",
    "setpoint_msg_p99_s",
    "apply_trials",
    "family_apply_p95_s",
    "family_write_ms",
    "eligible_families",
    "error_pct",
    "error_pct_median",
    "setpoints_sum_w",
    "setpoints_w",
    "target_w",
    "write_errors",
    "poll_errors",
    "availability_refused",
    "failed",
)


async def measure_mixed(
    directory: Path, nodes: int, settings: Settings
) -> dict[str, Any]:
    """Start a mixed building of ``nodes`` flats; apply latency and error."""
    if nodes < max(MIXED_FAMILIES):
        raise ValueError(f"a mixed building needs {max(MIXED_FAMILIES)} flats or more")
    building = Building(
        directory / f"mixed{nodes}", nodes, settings.sync, MIXED_FAMILIES
    )
    figures: dict[str, Any] = {"load_1m_at_start": os.getloadavg()[0]}
    try:
        started = time.monotonic()
        await building.start()
        figures["start_s"] = round(time.monotonic() - started, 1)
        await building.linked(60 + nodes)
        await asyncio.sleep(settings.warmup_s)  # availabilities published everywhere
        figures["families"] = {f.name: f.family for f in building.flats}
        figures["eligible_families"] = dict(
            Counter(f.family for f in building.eligible())
        )
        try:
            figures |= await apply_trials(building, settings)
            figures |= await error_and_reshare(building, settings, reshare=False)
        except (RuntimeError, DeviceError, aiohttp.ClientError, OSError) as err:
            figures["failed"] = describe(err)
    finally:
        await building.close()
    figures |= building.tallies()
    return figures


def _s(value: Any) -> str:
    return "never" if value is None else f"{value:.3f} s"


def report_mixed(mixed: dict[str, Any], baseline: dict[str, Any]) -> None:
    """Readable lines for the mixed building, beside the all-7xx one."""
    families = mixed.get("families", {})
    named = ", ".join(
        f"{flat} {FAMILY_NAMES[family]}"
        for flat, family in families.items()
        if family != SUNSPEC_7XX
    )
    print(
        f"    mixed building ({named or 'families unknown'}, the rest SunSpec 7xx): "
        f"started in {mixed.get('start_s', 0):.0f} s; eligible flats by family "
        f"{mixed.get('eligible_families')}"
    )
    if "apply_p95_s" in mixed:
        print(
            f"      request → all setpoints applied: p50 {_s(mixed['apply_p50_s'])}, "
            f"p95 {_s(mixed['apply_p95_s'])} over {mixed['apply_trials']} requests "
            f"({mixed['apply_missed']} missed; setpoint messages alone p99 "
            f"{_s(mixed['setpoint_msg_p99_s'])}); all-7xx: p50 "
            f"{_s(baseline.get('apply_p50_s'))}, p95 {_s(baseline.get('apply_p95_s'))}"
        )
        for family, p95 in mixed["family_apply_p95_s"].items():
            write = mixed["family_write_ms"].get(family, {})
            print(
                f"        {FAMILY_NAMES[family]}: request → acknowledged p95 "
                f"{_s(p95)}; device write p50 {write.get('p50')} ms, p95 "
                f"{write.get('p95')} ms over {write.get('n', 0)} writes"
            )
    if "error_pct" in mixed:
        print(
            f"      achieved vs target {mixed['target_w']} W: worst "
            f"{mixed['error_pct']:.2f} %, median {mixed['error_pct_median']:+.2f} % "
            f"(all-7xx worst {baseline.get('error_pct')} %); setpoints sum to "
            f"{mixed['setpoints_sum_w']} W: "
            + ", ".join(
                f"{flat} ({FAMILY_NAMES[families.get(flat, SUNSPEC_7XX)]}) {w} W"
                for flat, w in mixed["setpoints_w"].items()
            )
        )
    print(
        f"      write errors {mixed['write_errors']}, poll errors "
        f"{mixed['poll_errors']}, availability refused "
        f"{mixed['availability_refused']}"
    )
    if "failed" in mixed:
        print(f"      FAILED, phases after this were not run: {mixed['failed']}")


def mixed_keys(mixed: dict[str, Any]) -> dict[str, Any]:
    """The mixed run's figures for the last line, each key prefixed ``mixed_``."""
    return {f"mixed_{key}": mixed[key] for key in MIXED_KEYS if key in mixed}
