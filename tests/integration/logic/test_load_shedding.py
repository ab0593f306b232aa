"""Shedding touches only what was on, and restoring only what we switched off."""

from __future__ import annotations

import json

import pytest

from custom_components.local_vpp.backup.load_shedding import (
    RestoreStep,
    ShedLoad,
    ShedPlan,
    is_on,
    is_sheddable,
)

CHOSEN = [
    "switch.washer",
    "light.kitchen",
    "climate.ac",
    "fan.bedroom",
    "input_boolean.dishwasher_allowed",
    "water_heater.tank",
    "media_player.tv",
]


@pytest.mark.parametrize(
    ("state", "on"),
    [
        ("on", True),
        ("off", False),
        ("cool", True),  # climate
        ("heat_cool", True),
        ("eco", True),  # water heater
        ("playing", True),  # media player
        ("idle", True),
        ("standby", False),
        ("unavailable", None),
        ("unknown", None),
        (None, None),
    ],
)
def test_is_on(state: str | None, on: bool | None) -> None:
    assert is_on(state) is on


@pytest.mark.parametrize(
    ("entity_id", "sheddable"),
    [
        ("switch.washer", True),
        ("climate.ac", True),
        ("input_boolean.y", True),
        ("sensor.power", False),
        ("lock.door", False),
        ("nonsense", False),
    ],
)
def test_is_sheddable(entity_id: str, sheddable: bool) -> None:
    assert is_sheddable(entity_id) is sheddable


# --- Shedding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "shed"),
    [
        # Everything on: everything is shed, in the user's order.
        (dict.fromkeys(CHOSEN, "on") | {"climate.ac": "cool"}, CHOSEN),
        # Off loads stay off and are not in the plan.
        (
            {"switch.washer": "off", "light.kitchen": "on", "climate.ac": "off"},
            ["light.kitchen"],
        ),
        # Unavailable, unknown or missing: left alone.
        (
            {
                "switch.washer": "unavailable",
                "light.kitchen": "unknown",
                "fan.bedroom": "on",
            },
            ["fan.bedroom"],
        ),
        # Nothing on: nothing to do.
        (dict.fromkeys(CHOSEN, "off"), []),
        ({}, []),
    ],
)
def test_only_loads_that_are_on_are_shed(
    states: dict[str, str | None], shed: list[str]
) -> None:
    plan = ShedPlan.from_states(CHOSEN, states)
    assert list(plan.entity_ids) == shed


def test_previous_state_is_remembered() -> None:
    plan = ShedPlan.from_states(
        ["climate.ac", "media_player.tv", "switch.washer"],
        {"climate.ac": "cool", "media_player.tv": "playing", "switch.washer": "on"},
    )
    assert plan.loads == (
        ShedLoad("climate.ac", "cool"),
        ShedLoad("media_player.tv", "playing"),
        ShedLoad("switch.washer", "on"),
    )


def test_duplicates_and_unsheddable_entities_are_skipped() -> None:
    plan = ShedPlan.from_states(
        ["switch.washer", "sensor.power", "switch.washer"],
        {"switch.washer": "on", "sensor.power": "230"},
    )
    assert plan.entity_ids == ("switch.washer",)


# --- Restoring ----------------------------------------------------------------------


def shed_all() -> ShedPlan:
    return ShedPlan.from_states(
        ["switch.washer", "climate.ac", "light.kitchen", "fan.bedroom"],
        {
            "switch.washer": "on",
            "climate.ac": "heat",
            "light.kitchen": "on",
            "fan.bedroom": "on",
        },
    )


def test_restore_is_staggered_in_the_users_order() -> None:
    restore = shed_all().restore(
        {
            "switch.washer": "off",
            "climate.ac": "off",
            "light.kitchen": "off",
            "fan.bedroom": "off",
        }
    )
    assert restore.steps == (
        RestoreStep("switch.washer", 0.0, "on"),
        RestoreStep("climate.ac", 5.0, "heat"),
        RestoreStep("light.kitchen", 10.0, "on"),
        RestoreStep("fan.bedroom", 15.0, "on"),
    )
    assert restore.entity_ids == (
        "switch.washer",
        "climate.ac",
        "light.kitchen",
        "fan.bedroom",
    )
    assert restore.waiting == ShedPlan()


@pytest.mark.parametrize("stagger_s", [0.0, 2.5, 30.0])
def test_stagger_is_configurable(stagger_s: float) -> None:
    plan = shed_all()
    restore = plan.restore(dict.fromkeys(plan.entity_ids, "off"), stagger_s=stagger_s)
    assert [step.delay_s for step in restore.steps] == [k * stagger_s for k in range(4)]


def test_negative_stagger_is_refused() -> None:
    with pytest.raises(ValueError, match="stagger"):
        shed_all().restore({}, stagger_s=-1.0)


@pytest.mark.parametrize(
    ("states_now", "restored", "waiting"),
    [
        # The resident switched the AC back on: it is theirs, left alone; the rest
        # close ranks so the stagger has no gaps.
        (
            {
                "switch.washer": "off",
                "climate.ac": "cool",
                "light.kitchen": "off",
                "fan.bedroom": "off",
            },
            ["switch.washer", "light.kitchen", "fan.bedroom"],
            [],
        ),
        # A smart plug that has not come back yet waits; it is not forgotten.
        (
            {
                "switch.washer": "unavailable",
                "climate.ac": "off",
                "light.kitchen": "off",
                "fan.bedroom": "off",
            },
            ["climate.ac", "light.kitchen", "fan.bedroom"],
            ["switch.washer"],
        ),
        # An entity removed meanwhile counts as not there.
        (
            {"climate.ac": "off", "light.kitchen": "on", "fan.bedroom": "off"},
            ["climate.ac", "fan.bedroom"],
            ["switch.washer"],
        ),
        # Everything already on by hand: nothing to do.
        (
            {
                "switch.washer": "on",
                "climate.ac": "heat",
                "light.kitchen": "on",
                "fan.bedroom": "on",
            },
            [],
            [],
        ),
    ],
)
def test_restore_touches_only_what_we_switched_off(
    states_now: dict[str, str | None], restored: list[str], waiting: list[str]
) -> None:
    restore = shed_all().restore(states_now)
    assert list(restore.entity_ids) == restored
    assert [step.delay_s for step in restore.steps] == [
        5.0 * k for k in range(len(restored))
    ]
    assert list(restore.waiting.entity_ids) == waiting


def test_a_load_that_was_off_is_never_switched_on() -> None:
    plan = ShedPlan.from_states(
        ["switch.washer", "switch.dryer"],
        {"switch.washer": "on", "switch.dryer": "off"},
    )
    restore = plan.restore({"switch.washer": "off", "switch.dryer": "off"})
    assert restore.entity_ids == ("switch.washer",)


def test_unavailable_at_shed_time_is_not_restored_blindly() -> None:
    plan = ShedPlan.from_states(
        ["switch.washer", "switch.heater"],
        {"switch.washer": "on", "switch.heater": "unavailable"},
    )
    restore = plan.restore({"switch.washer": "off", "switch.heater": "off"})
    assert restore.entity_ids == ("switch.washer",)


def test_waiting_loads_are_restored_once_back() -> None:
    plan = shed_all()
    first = plan.restore(
        {
            "switch.washer": "unavailable",
            "climate.ac": "off",
            "light.kitchen": "off",
            "fan.bedroom": "off",
        }
    )
    later = first.waiting.restore({"switch.washer": "off"})
    assert later.steps == (RestoreStep("switch.washer", 0.0, "on"),)
    assert later.waiting == ShedPlan()


def test_switched_on_and_off_by_hand_is_not_restored() -> None:
    plan = shed_all()
    # During the outage the resident switches the fan on again: it leaves the plan…
    plan = plan.without_manual({"fan.bedroom": "on", "switch.washer": "unavailable"})
    assert plan.entity_ids == ("switch.washer", "climate.ac", "light.kitchen")
    # …and switching it off again later does not bring it back.
    restore = plan.restore(
        {
            "switch.washer": "off",
            "climate.ac": "off",
            "light.kitchen": "off",
            "fan.bedroom": "off",
        }
    )
    assert "fan.bedroom" not in restore.entity_ids


def test_restore_does_not_change_the_plan() -> None:
    plan = shed_all()
    plan.restore(dict.fromkeys(plan.entity_ids, "off"))
    assert plan == shed_all()


# --- Surviving a restart ------------------------------------------------------------


def test_round_trip() -> None:
    plan = shed_all()
    stored = json.loads(json.dumps(plan.to_dict()))
    assert ShedPlan.from_dict(stored) == plan


def test_empty_plan_round_trip() -> None:
    assert ShedPlan.from_dict(ShedPlan().to_dict()) == ShedPlan()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 2, "loads": []},
        {"version": 1},
        {"version": 1, "loads": [{"entity_id": "switch.washer"}]},
        {"version": 1, "loads": [{"entity_id": 3, "previous_state": "on"}]},
        {"version": 1, "loads": [{"entity_id": "switch.x", "previous_state": None}]},
        {"version": 1, "loads": 5},
    ],
)
def test_foreign_data_is_refused(data: dict[str, object]) -> None:
    assert ShedPlan.from_dict(data) is None
