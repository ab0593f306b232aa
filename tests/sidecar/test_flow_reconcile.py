"""Refused and missing counter readings: the next accepted reading reconciles.

A meter is played second by second at real speed (its counters in whole Wh, as a
meter shows them), with the faults a real flat has: a glitch, a dropped poll, a
partial read without counters, a reconnect, a counter reset. Whatever was refused,
the flows' totals equal the counters' difference, and the stretches that could only
be estimated say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from sidecar.ledger import canonical, kinds
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.resume import Resume
from sidecar.ledger.samples import SampleChecker, SampleRejected

NOW = 1_781_913_600_000
START = NOW - 3_600_000
KEYS = {
    "pv": "pv_wh",
    "home": "home_wh",
    "grid_out": "grid_out_wh",
    "bat_in": "battery_in_wh",
    "grid_in": "grid_in_wh",
    "bat_out": "battery_out_wh",
}


def _watts(second: float) -> dict[str, float]:
    """A sunny, gusty minute: PV swings, the home and the battery take theirs."""
    pv = 3000 + 1500 * math.sin(second / 7)
    home = 900 + 300 * math.sin(second / 3)
    bat_in = 600.0
    grid_out = pv - home - bat_in
    return {
        "pv": pv,
        "home": home,
        "bat_in": bat_in,
        "grid_out": grid_out,
        "grid_in": 0.0,
        "bat_out": 0.0,
    }


class Meter:
    """Exact energy per quantity (mWh), read as whole Wh like a real counter."""

    def __init__(self) -> None:
        self.mwh = {"pv": 5e6, "home": 9e6, "grid_out": 2e6, "bat_in": 1e6}
        self.mwh |= {"grid_in": 7e6, "bat_out": 3e6}
        self.offset = dict.fromkeys(self.mwh, 0.0)
        self.second = 0.0
        self.speed = 1.0

    def run(self, until: float) -> None:
        step = 0.01
        while self.second < until - 1e-9:
            for key, watts in _watts(self.second + step / 2).items():
                self.mwh[key] += watts * step / 3.6
            self.second += step

    def reading(self, key: str) -> int:
        return math.floor((self.mwh[key] - self.offset[key]) / 1000)

    def sample(self, *, counters: bool = True) -> dict[str, Any]:
        watts = _watts(self.second)
        message: dict[str, Any] = {
            "type": "sample",
            "ts": START + round(self.second * 1000 / self.speed),
            "pv_w": watts["pv"],
            "home_w": watts["home"],
            "battery_w": -watts["bat_in"],
            "grid_w": -watts["grid_out"],
        }
        if counters:
            message.update({wire: self.reading(key) for key, wire in KEYS.items()})
        return message


def _play(
    faults: dict[int, str], seconds: int, speed: float = 1.0
) -> Iterator[tuple[dict[str, Any], Meter]]:
    """The meter's samples: one per second of ``ts``, ``speed`` device seconds each."""
    meter = Meter()
    meter.speed = speed
    for second in range(seconds):
        meter.run(second * speed)
        fault = faults.get(second)
        if fault == "dropped":
            continue
        message = meter.sample(counters=fault != "partial")
        if fault == "glitch":
            message["pv_wh"] += 40_000
        if fault == "reset":
            meter.offset["pv"] = meter.mwh["pv"]
            message["pv_wh"] = meter.reading("pv")
        yield message, meter


def _flows(
    faults: dict[int, str], seconds: int, speed: float = 1.0, device_speed: float = 1.0
) -> tuple[list[dict[str, Any]], list[str]]:
    checker = SampleChecker(
        max_power_w=20_000,
        max_skew_ms=30_000,
        max_age_ms=86_400_000,
        device_speed=device_speed,
    )
    builder = FlowBuilder(interval_ms=1000, grid_ren_ppm=0, floor="3", flat="301")
    flows: list[dict[str, Any]] = []
    reasons: list[str] = []
    for message, _meter in _play(faults, seconds, speed):
        try:
            sample, dropped = checker.check(message, NOW)
        except SampleRejected as refused:
            reasons.append(refused.rejection.reason)
            continue
        reasons += [item.reason for item in dropped]
        for body in builder.add(sample):
            full: dict[str, Any] = {"v": 1, "kind": "flow", "building": "b", "ts": NOW}
            full.update(body)
            kinds.check_flow(full)
            assert kinds.encode_flow(full) == canonical.encode(full)
            flows.append(full)
    return flows, reasons


def _counted(first: dict[str, Any], last: dict[str, Any]) -> dict[str, int]:
    return {key: (last[wire] - first[wire]) * 1000 for key, wire in KEYS.items()}


def _totals(flows: list[dict[str, Any]]) -> dict[str, int]:
    sums = dict.fromkeys(KEYS, 0)
    for flow in flows:
        balance = flow["balance"]
        assert isinstance(balance, dict)
        for key in KEYS:
            value = balance[key]
            assert isinstance(value, int)
            sums[key] += value
    return sums


def _contiguous(flows: list[dict[str, Any]]) -> bool:
    return all(a["end"] == b["start"] for a, b in pairwise(flows))


FAULTS = {
    10: "glitch",
    20: "dropped",
    21: "dropped",
    30: "partial",
    31: "partial",
    32: "partial",
    **{second: "dropped" for second in range(40, 60)},  # a reconnect: 20 s of nothing
}


def test_refused_and_missing_readings_are_reconciled_by_the_next_one() -> None:
    samples = [message for message, _ in _play(FAULTS, 90)]
    flows, reasons = _flows(FAULTS, 90)
    assert reasons == ["counter_jump"]
    assert _contiguous(flows)
    # Samples sit on interval boundaries: the flows run from the first to the last.
    assert (flows[0]["start"], flows[-1]["end"]) == (
        samples[0]["ts"],
        samples[-1]["ts"],
    )
    expected = _counted(samples[0], samples[-1])
    got = _totals(flows)
    for key in KEYS:
        assert abs(got[key] - expected[key]) <= 1, (key, got[key], expected[key])
    quality = {flow["start"]: flow.get("quality") for flow in flows}
    glitch = START + 10_000
    # The glitch's stretch was estimated, the next reading reconciled it.
    assert quality[glitch - 1000] == "estimated"
    assert quality[glitch] == "reconciled"
    assert quality[glitch + 1000] is None
    estimated = [f for f in flows if f.get("quality") == "estimated"]
    reconciled = [f for f in flows if f.get("quality") == "reconciled"]
    assert estimated, "the glitch and the partial reads leave estimated stretches"
    assert len(reconciled) == 2
    for flow in reconciled:
        earlier = [f for f in estimated if f["end"] <= flow["start"]]
        assert earlier[-1]["end"] == flow["start"]
        assert flow["reconciles"] == min(
            f["start"] for f in estimated if f["start"] >= flow["reconciles"]
        )
    # The reconnect is one gap flow from the counters: measured, not estimated.
    gaps = [f for f in flows if f.get("gap")]
    assert len(gaps) == 1
    assert "quality" not in gaps[0]


def test_a_counter_reset_leaves_only_its_own_stretch_estimated() -> None:
    faults = {50: "reset"}
    flows, reasons = _flows(faults, 80)
    samples = [message for message, _ in _play(faults, 80)]
    assert reasons == ["counter_backwards"]
    assert _contiguous(flows)
    before_reset = samples[49]["pv_wh"] - samples[0]["pv_wh"]
    after_reset = samples[-1]["pv_wh"] - samples[51]["pv_wh"]
    stretch = [f for f in flows if START + 49_000 <= f["start"] < START + 51_000]
    assert [f.get("quality") for f in stretch] == ["estimated", "estimated"]
    estimate = sum(f["balance"]["pv"] for f in stretch)
    assert _totals(flows)["pv"] == (before_reset + after_reset) * 1000 + estimate
    # The two seconds' estimate is near what the meter counted in them (PV swings).
    assert abs(estimate - 2 * 3000_000 / 3600) < 1500
    assert not [f for f in flows if f.get("quality") == "reconciled"]
    assert all("quality" not in f for f in flows if f["start"] >= START + 51_000)


def test_a_building_at_60x_is_counted_when_the_speed_is_declared() -> None:
    samples = [message for message, _ in _play({}, 120, speed=60)]
    expected = _counted(samples[0], samples[-1])
    flows, reasons = _flows({}, 120, speed=60, device_speed=60)
    assert reasons == []
    assert _totals(flows) == expected
    assert all("quality" not in f for f in flows)
    # Bounds on the wall clock refuse the readings: the flows are estimates, marked.
    flows, reasons = _flows({}, 120, speed=60)
    assert "counter_jump" in reasons
    assert all(f.get("quality") == "estimated" for f in flows[1:])


def test_a_restart_without_positions_marks_the_unknown_stretch() -> None:
    builder = FlowBuilder(
        interval_ms=1000,
        grid_ren_ppm=0,
        floor="3",
        flat="301",
        resume=Resume(START),
    )
    checker = SampleChecker(max_power_w=20_000, max_skew_ms=30_000, max_age_ms=10**8)
    flows: list[dict[str, Any]] = []
    for second in (20, 21, 22):
        message = {"type": "sample", "ts": START + second * 1000, "pv_wh": 100 + second}
        sample, _dropped = checker.check(message, NOW)
        flows += builder.add(sample)
    assert [(f["start"], f.get("gap"), f.get("quality")) for f in flows] == [
        (START, 1, "estimated"),
        (START + 20_000, None, None),
        (START + 21_000, None, None),
    ]
    assert flows[0]["balance"]["pv"] == 0
    assert [f["balance"]["pv"] for f in flows[1:]] == [1000, 1000]
