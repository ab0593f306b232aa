"""Runtime estimates are sane and steady; outage energy is never negative or phantom."""

from __future__ import annotations

import json

import pytest

from custom_components.local_vpp.backup.battery_runtime import (
    DEFAULT_DISCHARGE_EFFICIENCY,
    BackupEnergyUse,
    LoadAverage,
    runtime_left_min,
    usable_energy_wh,
)

# --- Usable energy and runtime ------------------------------------------------------


@pytest.mark.parametrize(
    ("soc_pct", "capacity_wh", "floor_pct", "expected_wh"),
    [
        (80.0, 2000.0, 10.0, 1400.0),
        (100.0, 1000.0, 0.0, 1000.0),
        (10.0, 2000.0, 10.0, 0.0),  # at the floor
        (5.0, 2000.0, 10.0, 0.0),  # below the floor: nothing, never negative
        (104.0, 1000.0, 0.0, 1000.0),  # a SoC over 100 % is no extra energy
        (50.0, 0.0, 10.0, None),  # no rating known
        (None, 2000.0, 10.0, None),
        (50.0, None, 10.0, None),
        (50.0, 2000.0, None, None),
    ],
)
def test_usable_energy(
    soc_pct: float | None,
    capacity_wh: float | None,
    floor_pct: float | None,
    expected_wh: float | None,
) -> None:
    assert usable_energy_wh(soc_pct, capacity_wh, floor_pct) == expected_wh


# (SoC %, capacity Wh, floor %, load W, efficiency, expected minutes)
type RuntimeCase = tuple[
    float | None, float | None, float | None, float | None, float, float | None
]


@pytest.mark.parametrize(
    "case",
    [
        # 1 kWh above the floor at 100 W, no losses: 10 h.
        (60.0, 2000.0, 10.0, 100.0, 1.0, 600.0),
        # The same with the default 90 % conversion: 9 h.
        (60.0, 2000.0, 10.0, 100.0, DEFAULT_DISCHARGE_EFFICIENCY, 540.0),
        # A small 1.2 kWh battery at 30 %, min SoC 10 %, router + TV at 240 W.
        (30.0, 1200.0, 10.0, 240.0, 1.0, 60.0),
        # Twice the load, half the time.
        (30.0, 1200.0, 10.0, 480.0, 1.0, 30.0),
        # At or below the floor: nothing left.
        (10.0, 1200.0, 10.0, 240.0, 1.0, 0.0),
        (8.0, 1200.0, 10.0, 240.0, 1.0, 0.0),
        # No load: nothing drains the battery, no finite runtime.
        (50.0, 2000.0, 10.0, 0.0, 1.0, None),
        (50.0, 2000.0, 10.0, -5.0, 1.0, None),
        (50.0, 2000.0, 10.0, None, 1.0, None),
        # Unknown battery: no estimate.
        (None, 2000.0, 10.0, 100.0, 1.0, None),
    ],
)
def test_runtime_left(case: RuntimeCase) -> None:
    soc_pct, capacity_wh, floor_pct, load_w, efficiency, expected_min = case
    runtime = runtime_left_min(
        soc_pct=soc_pct,
        capacity_wh=capacity_wh,
        floor_soc_pct=floor_pct,
        load_w=load_w,
        efficiency=efficiency,
    )
    if expected_min is None:
        assert runtime is None
    else:
        assert runtime == pytest.approx(expected_min)


def test_runtime_uses_everything_above_min_soc_not_the_reserve() -> None:
    # Reserve 30 %, min SoC 5 %: in an outage the battery may go down to 5 %.
    to_min_soc = runtime_left_min(
        soc_pct=30.0, capacity_wh=2000.0, floor_soc_pct=5.0, load_w=200.0
    )
    to_reserve = runtime_left_min(
        soc_pct=30.0, capacity_wh=2000.0, floor_soc_pct=30.0, load_w=200.0
    )
    assert to_reserve == 0.0
    assert to_min_soc is not None
    assert to_min_soc > 100.0


def test_runtime_falls_as_the_battery_drains() -> None:
    estimates = [
        runtime_left_min(
            soc_pct=soc, capacity_wh=1500.0, floor_soc_pct=10.0, load_w=150.0
        )
        for soc in (90.0, 70.0, 50.0, 30.0, 10.0)
    ]
    assert estimates == sorted(estimates, reverse=True)  # type: ignore[type-var]
    assert estimates[-1] == 0.0


@pytest.mark.parametrize("efficiency", [0.0, -0.5, 1.5])
def test_impossible_efficiency_is_refused(efficiency: float) -> None:
    with pytest.raises(ValueError, match="efficiency"):
        runtime_left_min(
            soc_pct=50.0,
            capacity_wh=1000.0,
            floor_soc_pct=10.0,
            load_w=100.0,
            efficiency=efficiency,
        )


# --- Smoothing the load -------------------------------------------------------------


def test_first_reading_is_taken_as_is() -> None:
    average = LoadAverage()
    assert average.value_w is None
    assert average.update(None, 0.0) is None
    assert average.update(180.0, 0.0) == 180.0


def test_step_is_followed_over_the_time_constant() -> None:
    average = LoadAverage(time_constant_s=60.0)
    average.update(100.0, 0.0)
    # A kettle adds 1 kW; after one poll the estimate barely moves.
    after_one_poll = average.update(1100.0, 1.0)
    assert after_one_poll is not None
    assert 100.0 < after_one_poll < 130.0
    for t in range(2, 61):
        average.update(1100.0, float(t))
    # After one time constant, 63 % of the step.
    assert average.value_w == pytest.approx(100.0 + 1000.0 * 0.632, abs=1.0)


@pytest.mark.parametrize("interval_s", [0.25, 1.0, 10.0])
def test_smoothing_does_not_depend_on_the_poll_interval(interval_s: float) -> None:
    average = LoadAverage(time_constant_s=60.0)
    average.update(100.0, 0.0)
    steps = round(120.0 / interval_s)
    for k in range(1, steps + 1):
        average.update(300.0, k * interval_s)
    # Two time constants: 86.5 % of the step, whatever the cadence.
    assert average.value_w == pytest.approx(100.0 + 200.0 * 0.8647, abs=0.5)


def test_alternating_load_gives_a_steady_estimate() -> None:
    average = LoadAverage()
    estimates = []
    for k in range(600):
        # A compressor cycling 50 W / 250 W every other second.
        value = average.update(50.0 if k % 2 else 250.0, float(k))
        assert value is not None
        estimates.append(value)
    late = estimates[300:]
    assert max(late) - min(late) < 5.0
    assert sum(late) / len(late) == pytest.approx(150.0, abs=3.0)


def test_missing_readings_keep_the_average() -> None:
    average = LoadAverage()
    average.update(200.0, 0.0)
    assert average.update(None, 1.0) == 200.0
    assert average.update(float("nan"), 2.0) == 200.0


def test_negative_reading_counts_as_no_load() -> None:
    average = LoadAverage()
    assert average.update(-3.0, 0.0) == 0.0


def test_clock_going_backwards_does_not_move_the_average() -> None:
    average = LoadAverage()
    average.update(100.0, 10.0)
    assert average.update(900.0, 5.0) == 100.0


def test_reset_forgets() -> None:
    average = LoadAverage()
    average.update(100.0, 0.0)
    average.reset()
    assert average.value_w is None
    assert average.update(400.0, 1.0) == 400.0


def test_time_constant_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time constant"):
        LoadAverage(time_constant_s=0.0)


# --- Energy used in this outage -----------------------------------------------------


def feed(
    use: BackupEnergyUse, reads: list[tuple[float | None, float]]
) -> list[float | None]:
    return [use.update(counter, at) for counter, at in reads]


def test_counts_from_the_first_read() -> None:
    use = BackupEnergyUse()
    assert use.used_wh is None
    assert feed(
        use, [(None, 0.0), (52_000.0, 1.0), (52_010.0, 61.0), (52_025.0, 121.0)]
    ) == [
        None,
        0.0,
        10.0,
        25.0,
    ]


@pytest.mark.parametrize(
    ("glitch", "label"),
    [(0.0, "zero read"), (900_000.0, "spike"), (51_000.0, "dip")],
)
def test_counter_glitch_is_neither_negative_nor_phantom(
    glitch: float, label: str
) -> None:
    use = BackupEnergyUse()
    shown = feed(
        use, [(52_000.0, 0.0), (52_005.0, 60.0), (glitch, 61.0), (52_006.0, 62.0)]
    )
    assert shown == [0.0, 5.0, 5.0, 6.0], label


def test_counter_reset_continues_without_a_jump() -> None:
    use = BackupEnergyUse()
    shown = feed(
        use,
        [
            (52_000.0, 0.0),
            (52_010.0, 60.0),
            (3.0, 61.0),
            (4.0, 62.0),
            (5.0, 63.0),
            (8.0, 64.0),
        ],
    )
    assert all(value is not None and value >= 0 for value in shown)
    assert shown[-1] == pytest.approx(15.0)
    assert shown == sorted(shown)  # type: ignore[type-var]


def test_snapshot_survives_a_restart() -> None:
    use = BackupEnergyUse()
    feed(use, [(52_000.0, 100.0), (52_040.0, 400.0)])
    # Saved at monotonic 400 = Unix 1_750_000_400; back 120 s later at monotonic 3.
    stored = json.loads(json.dumps(use.to_dict(now=400.0, wall_now=1_750_000_400.0)))
    restored = BackupEnergyUse.from_dict(stored, now=3.0, wall_now=1_750_000_520.0)
    assert restored is not None
    assert restored.used_wh == 40.0
    # The battery kept carrying the living room while Home Assistant was away:
    # 120 s at 300 W is plausible and counted at once.
    assert restored.update(52_050.0, 3.0) == 50.0


def test_snapshot_before_the_first_read() -> None:
    stored = BackupEnergyUse().to_dict(now=0.0, wall_now=0.0)
    restored = BackupEnergyUse.from_dict(stored, now=0.0, wall_now=0.0)
    assert restored is not None
    assert restored.used_wh is None
    assert restored.update(10.0, 1.0) == 0.0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 9, "baseline_wh": 1.0, "total": None},
        {"version": 1, "baseline_wh": 1.0, "total": {"total_wh": 1.0}},
        {
            "version": 1,
            "baseline_wh": "x",
            "total": {"total_wh": 1, "offset_wh": 0, "at": 0},
        },
        {"version": 1, "baseline_wh": 1.0, "total": "nonsense"},
    ],
)
def test_foreign_snapshot_is_refused(data: dict[str, object]) -> None:
    assert BackupEnergyUse.from_dict(data, now=0.0, wall_now=0.0) is None
