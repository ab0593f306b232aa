"""What a flat's devices can do, as its availability says, and how the group uses it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sidecar.coordination.allocation import Availability, allocate
from sidecar.coordination.intake import AvailabilityRejected, availability_content
from tests.sidecar.test_allocation import author, offer
from tests.sidecar.test_coordinator import Building, active_w, ha_availability

T0 = 1_781_913_600_000

NO_CONTROL = {
    "read": True,
    "control_power": False,
    "switch_living_room": True,
    "revert_timer": False,
    "min_write_interval_s": 0.0,
}


def test_a_flat_that_cannot_control_power_gets_no_share_and_the_others_cover() -> None:
    building = Building(3)
    for n in range(3):
        building.ha[n].update(energy_wh=3000.0, max_discharge_w=3000.0)
    # The resident still takes part; the device cannot be driven.
    building.ha[0]["capabilities"] = dict(NO_CONTROL)
    building.run_round()
    building.dispatch(1, target_w=4000)
    building.run_round()
    messages = building.run_round()
    shares = active_w(messages)
    assert messages[0] is None
    assert shares == {1: 2000, 2: 2000}
    plans = [c.plan(building.now - 1000) for c in building.coordinators]
    assert all(plan == plans[0] for plan in plans)
    assert plans[0].setpoints.get(building.authors[0], 0) == 0


def test_capabilities_become_entry_members() -> None:
    message = ha_availability(ts=T0) | {
        "capabilities": NO_CONTROL | {"min_write_interval_s": 30.0}
    }
    content = availability_content(message, now_ms=T0, max_power_w=20_000)
    assert content["caps"] == 0b0101
    assert content["write_interval_ms"] == 30_000


@pytest.mark.parametrize("full", [False, True])
def test_an_availability_without_or_with_default_capabilities_is_as_before(
    full: bool,
) -> None:
    message = ha_availability(ts=T0)
    before = availability_content(message, now_ms=T0, max_power_w=20_000)
    if full:
        message["capabilities"] = NO_CONTROL | {
            "control_power": True,
            "revert_timer": True,
        }
    content = availability_content(message, now_ms=T0, max_power_w=20_000)
    assert content == before
    assert "caps" not in content
    assert "write_interval_ms" not in content


@pytest.mark.parametrize(
    ("capabilities", "reason"),
    [
        ("all", "bad_value"),
        ({"read": True}, "missing_value"),
        (NO_CONTROL | {"control_power": 1}, "bad_value"),
        (NO_CONTROL | {"min_write_interval_s": -1}, "out_of_range"),
        (NO_CONTROL | {"min_write_interval_s": 4000}, "out_of_range"),
        (NO_CONTROL | {"colour": True}, "bad_value"),
    ],
)
def test_bad_capabilities_are_refused(capabilities: Any, reason: str) -> None:
    message = ha_availability(ts=T0) | {"capabilities": capabilities}
    with pytest.raises(AvailabilityRejected) as raised:
        availability_content(message, now_ms=T0, max_power_w=20_000)
    assert raised.value.reason == reason


def slow(n: int, energy_wh: int, max_w: int, interval_ms: int = 30_000) -> Availability:
    return dataclasses.replace(
        offer(n, energy_wh, max_w), write_interval_ms=interval_ms
    )


def test_a_slow_flat_keeps_a_steady_share_and_the_fast_ones_absorb_changes() -> None:
    seen_slow: set[int] = set()
    for drift in range(0, 400, 7):
        current = [
            slow(1, 3000, 3000),
            offer(2, 3000 - drift, 3000),
            offer(3, 3000, 3000),
        ]
        setpoints = allocate(4000, current, "discharge")
        assert sum(setpoints.values()) == 4000
        seen_slow.add(setpoints[author(1)])
    # Plain water-filling would move it with every drift of the others' energy.
    assert seen_slow == {1300}


def test_a_building_of_only_slow_flats_still_meets_the_target() -> None:
    current = [slow(1, 3000, 3000), slow(2, 2950, 3000), slow(3, 1000, 3000)]
    setpoints = allocate(4000, current, "discharge")
    assert sum(setpoints.values()) == 4000


def test_a_slow_flat_is_never_given_more_than_its_cap() -> None:
    current = [slow(1, 9000, 1000), offer(2, 1000, 500)]
    setpoints = allocate(4000, current, "discharge")
    assert setpoints == {author(1): 1000, author(2): 500}
