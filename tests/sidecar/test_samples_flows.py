"""From samples to flows: plausibility, rejection reasons, integration and balance."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.samples import Sample, SampleChecker, SampleRejected

NOW = 1_781_913_600_000


def _checker() -> SampleChecker:
    return SampleChecker(max_power_w=20_000, max_skew_ms=30_000, max_age_ms=86_400_000)


def _builder(**overrides: Any) -> FlowBuilder:
    settings_: dict[str, Any] = {
        "interval_ms": 1000,
        "grid_ren_ppm": 250_000,
        "floor": "3",
        "flat": "301",
        "serial": "LVPP-301-BAT",
    }
    settings_.update(overrides)
    return FlowBuilder(**settings_)


def _checked(body: JsonObject) -> JsonObject:
    """A built flow with common members, validated against the schema."""
    full: JsonObject = {"v": 1, "kind": "flow", "building": "b", "ts": NOW}
    full.update(body)
    kinds.check_flow(full)
    assert kinds.encode_flow(full) == canonical.encode(full)
    return full


# -- the bad-input table --------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({}, "missing_ts"),
        ({"ts": "1781913600000"}, "missing_ts"),
        ({"ts": 1.5}, "missing_ts"),
        ({"ts": True}, "missing_ts"),
        ({"ts": NOW + 31_000}, "in_future"),
        ({"ts": NOW - 86_400_001}, "too_old"),
        ({"ts": NOW - 1000}, "same_ts"),
        ({"ts": NOW - 2000}, "out_of_order"),
    ],
)
def test_samples_with_unusable_times_are_refused(
    message: dict[str, Any], reason: str
) -> None:
    checker = _checker()
    checker.check({"ts": NOW - 1000}, NOW)
    with pytest.raises(SampleRejected) as caught:
        checker.check(message, NOW)
    assert caught.value.rejection.reason == reason
    assert caught.value.rejection.scope == "sample"


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"pv_w": "1200"}, "pv_w", "not_a_number"),
        ({"pv_w": None}, "pv_w", "not_a_number"),
        ({"pv_w": float("nan")}, "pv_w", "not_a_number"),
        ({"grid_w": float("inf")}, "grid_w", "not_a_number"),
        ({"soc_pct": True}, "soc_pct", "not_a_number"),
        ({"pv_wh": -1}, "pv_wh", "negative_counter"),
        ({"grid_in_wh": 900}, "grid_in_wh", "counter_backwards"),
        ({"grid_in_wh": 1000 + 20}, "grid_in_wh", "counter_jump"),
        ({"battery_w": 25_000}, "battery_w", "power_limit"),
        ({"grid_w": -20_001}, "grid_w", "power_limit"),
        ({"bus_w": 1e9}, "bus_w", "power_limit"),
        ({"bus_w": float("nan")}, "bus_w", "not_a_number"),
        ({"pv_w": -51}, "pv_w", "out_of_range"),
        ({"home_w": -200}, "home_w", "out_of_range"),
        ({"soc_pct": 101}, "soc_pct", "out_of_range"),
        ({"stored_wh": -1}, "stored_wh", "out_of_range"),
        ({"frequency_hz": 12.5}, "frequency_hz", "out_of_range"),
        ({"voltage_v": 501}, "voltage_v", "out_of_range"),
    ],
)
def test_implausible_values_are_dropped_and_the_rest_is_used(
    values: dict[str, Any], field: str, reason: str
) -> None:
    checker = _checker()
    checker.check({"ts": NOW - 1000, "grid_in_wh": 1000}, NOW)
    sample, dropped = checker.check({"ts": NOW, "living_w": 40.0, **values}, NOW)
    assert [(d.field, d.reason, d.scope) for d in dropped] == [(field, reason, "field")]
    assert sample.power["living"] == 40.0
    assert sample.bus_w is None  # the bus ledger never sees a dropped value


def test_bus_power_keeps_its_sign_and_stays_out_of_the_flows() -> None:
    checker = _checker()
    sample, dropped = checker.check({"ts": NOW, "bus_w": -350.5}, NOW)
    assert dropped == []
    assert sample.bus_w == -350.5
    assert sample.power == {}


def test_plausible_edges_are_accepted() -> None:
    checker = _checker()
    checker.check({"ts": NOW - 1000, "grid_in_wh": 1000}, NOW)
    sample, dropped = checker.check(
        {
            "ts": NOW,
            "grid_in_wh": 1000 + 8.9,  # 20 kW for 1 s is 5.6 Wh, plus slack
            "pv_w": -30,
            "frequency_hz": 0,
            "voltage_v": 0,
            "soc_pct": 100,
            "unknown_key": "ignored",
        },
        NOW,
    )
    assert dropped == []
    assert sample.power["pv"] == 0
    assert (sample.mhz, sample.mv, sample.soc_ppm) == (0, 0, 1_000_000)


def test_a_reset_counter_costs_one_rejection_then_continues() -> None:
    checker = _checker()
    checker.check({"ts": NOW, "pv_wh": 50_000}, NOW + 10_000)
    _s, first = checker.check({"ts": NOW + 1000, "pv_wh": 3}, NOW + 10_000)
    later, second = checker.check({"ts": NOW + 2000, "pv_wh": 4}, NOW + 10_000)
    assert [d.reason for d in first] == ["counter_backwards"]
    assert second == []
    assert later.counters == {"pv": 4}


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            ["ts", "pv_w", "pv_wh", "grid_w", "battery_w", "soc_pct", "voltage_v", "x"]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.lists(st.integers(), max_size=2),
    )
)
def test_no_sample_content_makes_the_checker_raise_anything_else(
    message: dict[str, Any],
) -> None:
    checker = _checker()
    try:
        sample, _dropped = checker.check(message, NOW)
    except SampleRejected:
        return
    builder = _builder()
    builder.add(sample)
    for body in builder.add(Sample(sample.ts + 1500, power={"pv": 1.0})):
        _checked(body)


# -- integration and balance -----------------------------------------------------------


def _run(builder: FlowBuilder, samples: list[Sample]) -> list[JsonObject]:
    bodies: list[JsonObject] = []
    for sample in samples:
        bodies.extend(builder.add(sample))
    return [_checked(body) for body in bodies]


def test_counters_give_the_energy_and_intervals_are_contiguous() -> None:
    samples = [
        Sample(NOW + 500 + i * 1000, counters={"pv": 100 + 1.5 * i, "grid_out": 10 + i})
        for i in range(11)
    ]
    bodies = _run(_builder(), samples)
    assert [b["end"] for b in bodies] == [NOW + 1000 * k for k in range(1, 11)]
    assert [b["start"] for b in bodies[1:]] == [b["end"] for b in bodies[:-1]]
    # From the first sample (0.5 s) to the last closed interval's end (10 s) a 1.5 Wh/s
    # counter grew 14.25 Wh: exactly what the flows hold. The rest is still open.
    assert sum(b["balance"]["pv"] for b in bodies) == 14_250
    assert sum(b["balance"]["grid_out"] for b in bodies) == 9_500
    assert {b["samples"] for b in bodies} == {1}


def test_without_counters_power_is_integrated_and_rounding_carries() -> None:
    # 1 W for 0.2 s is 0.0556 mWh: rounded alone it would vanish every interval.
    builder = _builder(interval_ms=200)
    samples = [Sample(NOW + i * 200, power={"pv": 1.0}) for i in range(3601)]
    bodies = _run(builder, samples)
    assert len(bodies) == 3600
    assert sum(b["balance"]["pv"] for b in bodies) == 200  # 720 s of 1 W


def test_the_allocation_credits_pv_to_the_home_first() -> None:
    builder = _builder()
    samples = [
        Sample(
            NOW + i * 1000,
            power={"pv": 3600.0, "home": 1800.0, "bat_in": 1080.0, "grid_out": 720.0},
        )
        for i in range(3)
    ]
    body = _run(builder, samples)[0]
    assert body["balance"] == {
        "pv": 1000,
        "grid_in": 0,
        "bat_out": 0,
        "home": 500,
        "bat_in": 300,
        "grid_out": 200,
        "err": 0,
        "tol": 20,
        "ok": 1,
        "metered": 1,
    }
    assert [(t["from"], t["to"], t["mwh"], t["ren"]) for t in body["transfers"]] == [
        ("pv", "home", 500, 1_000_000),
        ("pv", "battery", 300, 1_000_000),
        ("pv", "grid", 200, 1_000_000),
    ]


def test_an_interval_that_does_not_balance_says_so() -> None:
    builder = _builder()
    samples = [
        Sample(NOW + i * 1000, power={"pv": 3600.0, "home": 720.0}) for i in range(3)
    ]
    body = _run(builder, samples)[0]
    balance = body["balance"]
    assert balance["err"] == 800
    assert balance["ok"] == 0
    assert balance["metered"] == 1


def test_battery_energy_keeps_the_renewable_share_it_was_charged_with() -> None:
    builder = _builder()
    day = [
        Sample(NOW + i * 1000, power={"pv": 3600.0, "bat_in": 3600.0}) for i in range(4)
    ]
    night = [
        Sample(NOW + 4000 + i * 1000, power={"grid_in": 1800.0, "bat_out": 1800.0})
        for i in range(4)
    ]
    bodies = _run(builder, day + night)
    assert all(b["bat_ren"] == 1_000_000 for b in bodies[:3])
    discharge = [t for t in bodies[-1]["transfers"] if t["from"] == "battery"]
    assert discharge == [
        {"from": "battery", "to": "home", "mwh": 500, "ren": 1_000_000}
    ]
    grid = [t for t in bodies[-1]["transfers"] if t["from"] == "grid"]
    assert grid[0]["ren"] == 250_000


def test_a_break_in_the_samples_becomes_one_gap_entry_from_counters() -> None:
    builder = _builder()
    samples = [
        Sample(NOW + 300, counters={"pv": 10.0}, power={"pv": 100.0}),
        Sample(NOW + 1300, counters={"pv": 10.1}, power={"pv": 100.0}),
        Sample(NOW + 61_300, counters={"pv": 16.1}, power={"pv": 100.0}),
        Sample(NOW + 62_300, counters={"pv": 16.2}, power={"pv": 100.0}),
    ]
    bodies = _run(builder, samples)
    spans = [(b["start"], b["end"], b.get("gap")) for b in bodies]
    assert spans == [
        (NOW + 300, NOW + 1000, None),
        (NOW + 1000, NOW + 1300, None),
        (NOW + 1300, NOW + 61_300, 1),
        (NOW + 61_300, NOW + 62_000, None),
    ]
    gap = bodies[2]
    assert gap["balance"]["pv"] == 6000
    assert gap["balance"]["home"] == 0  # nothing said where it went
    assert gap["samples"] == 0


def test_measurements_at_the_interval_end_are_recorded() -> None:
    builder = _builder()
    samples = [
        Sample(
            NOW + i * 500,
            power={"pv": 0.0},
            soc_ppm=500_000 + i,
            mhz=60_000 + i,
            mv=100_000,
        )
        for i in range(5)
    ]
    bodies = _run(builder, samples)
    assert [(b["soc"], b["mhz"]) for b in bodies] == [
        (500_002, 60_002),
        (500_004, 60_004),
    ]
    assert all(b["serial"] == "LVPP-301-BAT" for b in bodies)
