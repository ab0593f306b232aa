"""The physics without the network: sun, clouds, loads, battery, energy balance."""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator.model.building import UnknownFlatError
from simulator.model.config import BuildingConfig, UnitIds
from simulator.physics.battery import Battery, BatterySpec, cell_ocv
from simulator.physics.pv import Site, sun_elevation_deg
from simulator.simulator import Simulator
from tests.simulator.sim_probe import lone, manual_config


def _sim(**changes: object) -> Simulator:
    """A simulator that is never started: physics only."""
    return lone(manual_config(**changes))


def test_sun_rises_and_sets_in_fukuoka_around_the_almanac_times() -> None:
    site = Site()
    # Midsummer in Fukuoka: sunrise ~05:10, sunset ~19:30 (JST).
    assert sun_elevation_deg(datetime(2025, 6, 21, 5, 0), site) < 0
    assert sun_elevation_deg(datetime(2025, 6, 21, 5, 30), site) > 0
    assert sun_elevation_deg(datetime(2025, 6, 21, 19, 15), site) > 0
    assert sun_elevation_deg(datetime(2025, 6, 21, 19, 45), site) < 0
    assert sun_elevation_deg(datetime(2025, 6, 21, 12, 20), site) > 75
    assert sun_elevation_deg(datetime(2025, 12, 21, 12, 20), site) < 35


def test_pv_follows_the_day_and_clouds_dim_it() -> None:
    sim = _sim(start=datetime(2025, 6, 21, 0, 0), max_step_s=60.0)
    hourly = []
    for _ in range(24):
        sim.advance(3600)
        hourly.append(sim.flat_state().pv.w)
    assert hourly[1] == hourly[3] == hourly[22] == 0  # night (01:00, 03:00, 22:00)
    peak_hour = max(range(24), key=hourly.__getitem__)
    assert 11 <= peak_hour + 1 <= 13  # index 11 is 12:00
    assert 1500 < max(hourly) < 2000  # 2 kWp with system losses
    clear = _sim()
    clear.advance(60)
    cloudy = _sim()
    cloudy.set_clouds(1.0)
    cloudy.advance(60)
    assert cloudy.flat_state().pv.w == pytest.approx(
        clear.flat_state().pv.w * 0.25, rel=0.01
    )
    broken = [_sim(seed=seed) for seed in (1, 2, 3)]
    outputs = set()
    for sim in broken:
        sim.set_clouds(0.5)
        sim.advance(600)
        outputs.add(round(sim.flat_state().pv.w))
        assert (
            clear.flat_state().pv.w * 0.25
            < sim.flat_state().pv.w
            < clear.flat_state().pv.w
        )
    assert len(outputs) == 3  # seeded variation


def test_the_same_seed_gives_the_same_day() -> None:
    first, second = _sim(seed=7), _sim(seed=7)
    first.set_clouds(0.4)
    second.set_clouds(0.4)
    first.advance(7200)
    second.advance(7200)
    assert first.flat_state() == second.flat_state()


def test_living_room_stays_in_its_band_and_the_evening_peaks() -> None:
    sim = _sim(start=datetime(2025, 6, 21, 0, 0), max_step_s=60.0)
    living, total = [], []
    for _ in range(24 * 4):
        sim.advance(900)
        living.append(sim.flat_state().living_room.w)
        total.append(sim.flat_state().load.total_w)
    assert all(40 <= w <= 250 for w in living)
    evening = sum(total[19 * 4 : 21 * 4]) / 8
    afternoon = sum(total[14 * 4 : 16 * 4]) / 8
    assert evening > 2 * afternoon


def test_energy_balances_over_a_day() -> None:
    sim = _sim(start=datetime(2025, 6, 21, 0, 0), max_step_s=10.0)
    sim.set_clouds(0.3)
    start_wh = sim.model.flat().battery.stored_wh
    consumed_wh = 0.0
    for _ in range(24 * 60):
        sim.advance(60)
        # Sampled, for a sanity check.
        consumed_wh += sim.flat_state().load.total_w * 60 / 3600
    state = sim.flat_state()
    supplied = (
        state.pv.produced_wh + state.meter.imported_wh + state.battery.discharged_wh
    )
    used = state.meter.exported_wh + state.battery.charged_wh
    load_wh = supplied - used
    assert load_wh == pytest.approx(consumed_wh, rel=0.02)
    assert load_wh > 5000
    # What went into the cells, less conversion losses and self-discharge.
    stored_wh = sim.model.flat().battery.stored_wh
    expected = (
        start_wh + state.battery.charged_wh * 0.95 - state.battery.discharged_wh / 0.95
    )
    assert stored_wh == pytest.approx(expected, abs=2.0)
    assert stored_wh < expected  # self-discharge
    assert state.battery.charged_wh > 1000
    assert state.battery.discharged_wh > 500


def test_battery_ages_with_throughput_and_counts_cycles() -> None:
    battery = Battery(BatterySpec(capacity_wh=1000.0), soc_pct=50.0, soh_pct=100.0)
    for _ in range(20):  # 2 h each way at 1 kW: full, then down to SoCMin
        for _ in range(120):
            battery.run(-1000.0, 5.0, 60.0)
        for _ in range(120):
            battery.run(1000.0, 5.0, 60.0)
    assert battery.cycles == pytest.approx(19, abs=1)  # 95 % of 1 kWh, 20 times
    assert 99.8 < battery.soh * 100 < 99.95
    assert battery.usable_wh < 1000.0


def test_cell_voltages_follow_soc() -> None:
    assert cell_ocv(0.0) < cell_ocv(0.1) < cell_ocv(0.5) < cell_ocv(0.9) < cell_ocv(1.0)
    voltages = []
    for soc in (10.0, 50.0, 95.0):
        battery = Battery(BatterySpec(), soc_pct=soc, soh_pct=100.0)
        high, low = battery.cell_voltages()
        assert 2.5 < low < high < 3.65
        voltages.append(high)
    assert voltages == sorted(voltages)
    charging = Battery(BatterySpec(), soc_pct=50.0, soh_pct=100.0)
    charging.run(-1000.0, 5.0, 1.0)
    resting = Battery(BatterySpec(), soc_pct=50.0, soh_pct=100.0)
    assert charging.cell_voltages()[0] > resting.cell_voltages()[0]


def test_self_discharge_is_a_few_percent_a_month() -> None:
    sim = _sim(pv_peak_w=0.0, load_scale=0.0, soc_pct=80.0, max_step_s=3600.0)
    sim.model.flat().battery_fault = True  # keep the battery idle: only self-discharge
    sim.advance(30 * 86400)
    assert sim.flat_state().battery.soc_pct == pytest.approx(80.0 * 0.97, abs=0.2)


def test_heartbeat_counts_simulated_seconds() -> None:
    sim = _sim(max_step_s=100.0)
    sim.advance(65535.5)
    assert sim.flat_state().battery.heartbeat == 65535
    sim.advance(1)
    assert sim.flat_state().battery.heartbeat == 0


def test_config_rejects_impossible_flats() -> None:
    with pytest.raises(ValueError, match="capacity"):
        manual_config(battery=BatterySpec(capacity_wh=500.0))
    with pytest.raises(ValueError, match="area"):
        manual_config(area_hz=55)
    with pytest.raises(ValueError, match="unit ids"):
        UnitIds(pv=1, battery=1, meter=3)


def test_a_lone_flat_is_a_building_of_one() -> None:
    flat = manual_config(flat="305", seed=7)
    config = BuildingConfig.of_flat(flat)
    assert config.flats == 1
    assert config.flat_configs() == [flat]
    assert (config.seed, config.manual_clock, config.start) == (7, True, flat.start)
    with pytest.raises(ValueError, match="lone flat"):
        BuildingConfig(lone_flat=flat)  # ten flats, and another clock and seed
    sim = lone(flat)
    assert sim.meter_port is None
    assert sim.flat_state().flat == sim.flat_state("305").flat == "305"
    building = Simulator(BuildingConfig(flats=2, manual_clock=True))
    with pytest.raises(ValueError, match="which"):
        building.flat_state()
    with pytest.raises(UnknownFlatError):
        building.flat_state("999")


def test_a_coarse_fast_forward_lands_on_the_same_morning() -> None:
    """Ten-second steps for a test's warm-up: same time, energy within 5 %."""
    fine = _sim(start=datetime(2026, 6, 21, 4, 0))
    coarse = _sim(start=datetime(2026, 6, 21, 4, 0))
    fine.advance(8 * 3600)
    coarse.advance(8 * 3600, max_step_s=10)
    assert coarse.model.clock.elapsed_s == fine.model.clock.elapsed_s
    assert coarse.flat_state().battery.soc_pct == pytest.approx(
        fine.flat_state().battery.soc_pct, abs=0.5
    )
    for name in ("charged_wh", "discharged_wh"):
        assert getattr(coarse.flat_state().battery, name) == pytest.approx(
            getattr(fine.flat_state().battery, name), rel=0.05
        )
    # The configured step still holds afterwards.
    assert coarse.model.config.max_step_s == 1.0
