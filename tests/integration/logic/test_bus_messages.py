"""Building bus messages: bus setpoints read defensively, bus fields in what is sent."""

from __future__ import annotations

from typing import Any

from custom_components.local_vpp.const import DEFAULT_GROUP_REVERT_S
from custom_components.local_vpp.device import (
    BUS_ACTIVE,
    BUS_STANDBY,
    BusReading,
    FlatReading,
    LivingRoomReading,
)
from custom_components.local_vpp.group.bus_support import (
    DIRECTION_EXPORT,
    DIRECTION_IMPORT,
    direction,
)
from custom_components.local_vpp.ledger import sample as ledger_sample
from custom_components.local_vpp.ledger.messages import build, parse_bus_setpoint


def sample_from_reading(reading: FlatReading, ts_ms: int) -> dict[str, Any]:
    """The wire object of the reading's sample."""
    return build(ledger_sample.sample_from_reading(reading, ts_ms))


def availability_from_reading(
    reading: FlatReading, ts_ms: int, **settings: Any
) -> dict[str, Any]:
    """The wire object of the reading's availability."""
    return build(ledger_sample.availability_from_reading(reading, ts_ms, **settings))


def _bus(**overrides: object) -> BusReading:
    values: dict[str, object] = {
        "wired": True,
        "state": BUS_ACTIVE,
        "setpoint_w": -400.0,
        "power_w": -388.0,
        "exported_wh": 12.0,
        "imported_wh": 345.0,
        "revert_s": 5,
        "revert_remaining_s": 4,
    }
    return BusReading(**(values | overrides))  # type: ignore[arg-type]


def _reading(bus: BusReading | None, living_w: float | None = 180.0) -> FlatReading:
    return FlatReading(
        pv=None,
        battery=None,
        meter=None,
        living_room=LivingRoomReading(
            on_battery=True, power_w=living_w, energy_wh=None, powered=True
        ),
        bus=bus,
    )


def test_a_full_message() -> None:
    setpoint = parse_bus_setpoint(
        {
            "type": "bus_setpoint",
            "active": True,
            "w": -400,
            "revert_s": 5,
            "reason": "outage_support",
            "event": "ab" * 32,
        }
    )
    assert setpoint.active is True
    assert setpoint.w == -400
    assert setpoint.revert_s == 5
    assert setpoint.reason == "outage_support"
    assert setpoint.event == "ab" * 32


def test_odd_values_are_bounded_or_unknown() -> None:
    setpoint = parse_bus_setpoint(
        {"active": "yes", "w": True, "revert_s": "5", "reason": 3, "event": None}
    )
    assert setpoint.active is False
    assert setpoint.w is None
    assert setpoint.revert_s == DEFAULT_GROUP_REVERT_S
    assert setpoint.reason is None
    assert setpoint.event is None
    big = parse_bus_setpoint({"active": True, "w": 25_000.4, "revert_s": 3600})
    assert big.w == 10_000
    assert big.revert_s == 60
    small = parse_bus_setpoint({"active": True, "w": -25_000, "revert_s": 0})
    assert small.w == -10_000
    assert small.revert_s == 1


def test_direction() -> None:
    assert direction(300) == DIRECTION_EXPORT
    assert direction(-300) == DIRECTION_IMPORT


def test_bus_states() -> None:
    assert _bus().active is True
    assert _bus().state_name == "active"
    assert _bus(state=BUS_STANDBY).active is False
    assert _bus(state=BUS_STANDBY).state_name == "standby"
    assert _bus(wired=False).active is False
    assert _bus(state=7).state_name is None
    assert _bus(state=None).state_name is None


def test_sample_carries_the_bus_power_and_counters() -> None:
    sample = sample_from_reading(_reading(_bus()), 9)
    assert sample["bus_w"] == -388.0
    assert "bus_w" not in sample_from_reading(_reading(_bus(power_w=None)), 9)
    assert sample["bus_out_wh"] == 12.0
    assert sample["bus_in_wh"] == 345.0
    unknown = sample_from_reading(_reading(_bus(exported_wh=None)), 9)
    assert "bus_out_wh" not in unknown
    assert unknown["bus_in_wh"] == 345.0
    assert "bus_out_wh" not in sample_from_reading(_reading(None), 9)


def test_availability_says_outage_bus_and_living_room() -> None:
    message = availability_from_reading(
        _reading(_bus()), 9, participate=True, max_share_pct=100, outage=True
    )
    assert message["outage"] is True
    assert message["bus"] is True
    assert message["living_w"] == 180.0
    standby = availability_from_reading(
        _reading(_bus(state=BUS_STANDBY)),
        9,
        participate=True,
        max_share_pct=100,
        outage=False,
    )
    assert standby["outage"] is False
    assert standby["bus"] is False
    unknown = availability_from_reading(
        _reading(_bus(state=None), living_w=None),
        9,
        participate=True,
        max_share_pct=100,
    )
    assert "outage" not in unknown
    assert "bus" not in unknown
    assert "living_w" not in unknown
    lone = availability_from_reading(
        _reading(None), 9, participate=True, max_share_pct=100, outage=False
    )
    assert "bus" not in lone
