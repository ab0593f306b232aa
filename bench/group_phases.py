"""The group-discharge benchmark's phases, each run on a started building.

- :func:`baseline_writes`: a bare setpoint write, one flat and all at once.
- :func:`apply_trials`: requests from idle until every flat applied the setpoint.
- :func:`error_and_reshare`: achieved against target, then a node killed and the
  time until the survivors carry its share.
- :func:`long_event`: the SoC spread before and after a long event, with the
  simulator's clock run ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.group_building import Building, battery_sum_w, capacity_w, soc_figures
from bench.group_flat import Flat
from custom_components.local_vpp.device import DeviceError
from devkit.measure import percentile

# The sidecar's [coordination] defaults, which the nodes run with.
ROUND_S = 1.0
STALE_S = 3.0
RESHARE_BOUND_S = STALE_S + 2 * ROUND_S
TARGET_SHARE = 0.4  # the events ask for this share of what the flats can give
LONG_EVENT_ENERGY_SHARE = 0.5  # the long event takes about this share of the energy
APPLY_TIMEOUT_S = 10.0


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


def seconds(value: float) -> float | None:
    """Rounded to ms; None for never."""
    return None if math.isinf(value) or math.isnan(value) else round(value, 3)


def percentile_s(samples: list[float], pct: float) -> float | None:
    """A percentile in s, rounded to ms; None without samples or for a miss."""
    return seconds(percentile(samples, pct)) if samples else None


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
    by_family: defaultdict[str, list[float]] = defaultdict(list)
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
            for flat in expected:
                by_family[flat.family].append(flat.applied[event] - sent)
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
        "apply_p95_s": percentile_s(latencies, 95),
        "apply_p99_s": percentile_s(latencies, 99),
        "apply_max_s": seconds(max(latencies, default=math.inf)),
        "setpoint_msg_p50_s": percentile_s(messages, 50),
        "setpoint_msg_p99_s": percentile_s(messages, 99),
        "dispatch_reply_p50_s": percentile_s(replies, 50),
        "apply_trials": len(latencies),
        "apply_missed": missed,
        "participants_min": min(participants, default=0),
        # Request → this family's flats acknowledged, and the device writes alone.
        "family_apply_p95_s": {
            family: percentile_s(values, 95) for family, values in by_family.items()
        },
        "family_write_ms": family_writes(building.flats),
    }


def family_writes(flats: list[Flat]) -> dict[str, dict[str, float | int | None]]:
    """Per device family: the writes that first applied an event, p50/p95 in ms."""
    writes: defaultdict[str, list[float]] = defaultdict(list)
    for flat in flats:
        writes[flat.family].extend(flat.write_s)
    return {
        family: {
            "p50": _ms(percentile(values, 50)),
            "p95": _ms(percentile(values, 95)),
            "n": len(values),
        }
        for family, values in writes.items()
        if values
    }


def _ms(value: float) -> float:
    return round(1000 * value, 2)


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


async def error_and_reshare(
    building: Building, settings: Settings, *, reshare: bool = True
) -> dict[str, Any]:
    """One event: achieved against target, then (``reshare``) a node killed and the
    re-share.
    """
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
    shares_w = {
        f.name: int(f.latest["w"])
        for f in expected
        if f.latest is not None and f.latest.get("event") == event
    }
    allotted = sum(shares_w.values())
    figures: dict[str, Any] = {
        "target_w": target,
        "capacity_w": capacity,
        "capacity_allows": target <= capacity,
        "all_applied_for_error": applied,
        "setpoints_sum_w": allotted,
        "setpoints_w": shares_w,
        "error_pct": round(max((abs(e) for e in errors), default=0.0), 2),
        "error_pct_median": round(statistics.median(errors), 2) if errors else 0.0,
    }
    if not reshare:
        await building.cancel(event)
        return figures

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
    building.scale_revert(rate)
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
    building.scale_revert(1.0)
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
