"""Mesh, setpoint and availability messages, and dispatch requests, as plain data."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.exceptions import ServiceValidationError

from custom_components.local_vpp.device import BatteryReading, FlatReading
from custom_components.local_vpp.device.capabilities import Capabilities
from custom_components.local_vpp.ledger import sample as ledger_sample
from custom_components.local_vpp.ledger.mesh import issue_placeholders
from custom_components.local_vpp.ledger.messages import (
    build,
    parse_mesh,
    parse_setpoint,
)
from custom_components.local_vpp.ledger.sample import energy_above_reserve_wh
from custom_components.local_vpp.services import REQUEST_SCHEMA, dispatch_request

BATTERY = BatteryReading(
    power_w=-200.0,
    soc_pct=60.0,
    soh_pct=90.0,
    cycles=12,
    charged_wh=1000.0,
    discharged_wh=900.0,
    rated_wh=10_000.0,
    # WHAvail counts down to SoCMin (10 %): 50 % of a 9 kWh usable battery.
    available_wh=4500.0,
    min_soc_pct=10.0,
    reserve_soc_pct=20.0,
    max_charge_w=3000.0,
    max_discharge_w=2500.0,
    cell_v_max=None,
    cell_v_min=None,
    alarms=0,
    inverter_connected=True,
    inverter_faulted=False,
    setpoint_enabled=False,
    setpoint_w=None,
    setpoint_revert_remaining_s=None,
)


def availability_from_reading(
    reading: FlatReading, ts_ms: int, **settings: Any
) -> dict[str, Any]:
    """The wire object of the reading's availability."""
    return build(ledger_sample.availability_from_reading(reading, ts_ms, **settings))


def test_energy_above_the_reserve() -> None:
    assert energy_above_reserve_wh(BATTERY) == pytest.approx(3600.0)
    # Without WHAvail: the rated capacity and the state of health.
    assert energy_above_reserve_wh(
        dataclasses.replace(BATTERY, available_wh=None)
    ) == pytest.approx(3600.0)
    assert energy_above_reserve_wh(
        dataclasses.replace(BATTERY, available_wh=None, soh_pct=None)
    ) == pytest.approx(4000.0)
    # The minimum SoC above the reserve is the floor.
    assert energy_above_reserve_wh(
        dataclasses.replace(BATTERY, min_soc_pct=30.0, available_wh=None)
    ) == pytest.approx(2700.0)
    assert energy_above_reserve_wh(dataclasses.replace(BATTERY, soc_pct=15.0)) == 0
    assert energy_above_reserve_wh(dataclasses.replace(BATTERY, soc_pct=None)) is None
    assert (
        energy_above_reserve_wh(
            dataclasses.replace(BATTERY, reserve_soc_pct=None, min_soc_pct=None)
        )
        is None
    )
    assert (
        energy_above_reserve_wh(
            dataclasses.replace(BATTERY, available_wh=None, rated_wh=None)
        )
        is None
    )


def test_availability_leaves_unknowns_out() -> None:
    reading = FlatReading(pv=None, battery=BATTERY, meter=None, living_room=None)
    assert availability_from_reading(
        reading, 5, participate=True, max_share_pct=80
    ) == {
        "type": "availability",
        "ts": 5,
        "soc_pct": 60.0,
        "energy_wh": pytest.approx(3600.0),
        "max_discharge_w": 2500.0,
        "max_charge_w": 3000.0,
        "battery_w": -200.0,
        "participate": True,
        "max_share_pct": 80.0,
    }
    unknown = FlatReading(
        pv=None,
        battery=dataclasses.replace(BATTERY, max_discharge_w=None, soc_pct=None),
        meter=None,
        living_room=None,
    )
    message = availability_from_reading(unknown, 5, participate=False, max_share_pct=0)
    assert "max_discharge_w" not in message
    assert "soc_pct" not in message
    assert "energy_wh" not in message
    no_battery = FlatReading(pv=None, battery=None, meter=None, living_room=None)
    assert availability_from_reading(
        no_battery, 5, participate=True, max_share_pct=100
    ) == {"type": "availability", "ts": 5, "participate": True, "max_share_pct": 100.0}


def test_mesh_is_read_defensively() -> None:
    status = parse_mesh(
        {
            "type": "mesh",
            "roster_size": True,
            "peers_online": "4",
            "witnessed": {"size": 3, "ts": 1000},
            "integrity": 5,
            "problems": [1, {"seq": "x"}],
            "peers": "none",
        }
    )
    assert status.roster_size is None
    assert status.peers_online is None
    assert status.witnessed_ts_ms == 1000
    assert status.integrity is None
    assert status.integrity_ok is None
    assert [p.kind for p in status.problems] == ["unknown"]
    assert status.problems[0].seq is None
    assert status.peers == ()
    empty = parse_mesh({"witnessed": None})
    assert empty.witnessed_ts_ms is None


def test_issue_names_the_flats_and_sequence_numbers() -> None:
    status = parse_mesh(
        {
            "integrity": "equivocation",
            "problems": [
                {"kind": "equivocation", "flat": "303", "seq": 12},
                {"kind": "equivocation", "author": "ab" * 32, "seq": 3},
                {"kind": "verification_failed", "flat": "304", "detail": "bad"},
            ],
        }
    )
    key, placeholders = issue_placeholders(status)
    assert key == "ledger_integrity_equivocation"
    assert placeholders == {"flats": "303, abababababab", "seq": "3, 12", "detail": "-"}
    # Integrity says so, but no problem listed: still a readable issue.
    key, placeholders = issue_placeholders(parse_mesh({"integrity": "equivocation"}))
    assert key == "ledger_integrity_equivocation"
    assert placeholders == {"flats": "?", "seq": "?", "detail": "-"}
    key, placeholders = issue_placeholders(
        parse_mesh({"integrity": "verification_failed"})
    )
    assert key == "ledger_integrity_verification_failed"


def test_setpoint_is_read_defensively() -> None:
    setpoint = parse_setpoint(
        {
            "type": "setpoint",
            "active": True,
            "event": "ab",
            "w": 1200,
            "revert_s": 0,
            "share_ppm": 250_000,
            "until": 1_781_913_901_000,
            "participants": 4.0,
        }
    )
    assert setpoint.revert_s == 1
    assert setpoint.share_pct == 25
    assert setpoint.until is not None
    assert setpoint.until.year == 2026
    assert setpoint.participants == 4
    odd = parse_setpoint({"active": "yes", "w": True, "revert_s": 10_000})
    assert not odd.active
    assert odd.w is None
    assert odd.revert_s == 60
    assert odd.share_pct is None
    assert odd.until is None
    assert parse_setpoint({}).revert_s == 5


def _request(**data: Any) -> dict[str, Any]:
    validated: dict[str, Any] = REQUEST_SCHEMA(data)
    return build(dispatch_request(validated))


def test_dispatch_request_shapes() -> None:
    assert _request(power_kw=2.5, duration="00:20", reason=" peak ") == {
        "type": "dispatch_request",
        "direction": "discharge",
        "mode": "power",
        "target_w": 2500,
        "duration_s": 1200,
        "reason": "peak",
    }
    assert (
        _request(
            meter_limit_kw=20, building_demand_kw=23.45, duration=timedelta(hours=24)
        )["duration_s"]
        == 86_400
    )
    with pytest.raises(ServiceValidationError):
        _request(power_kw=1, duration=0.5)


def test_availability_says_what_the_devices_can_do() -> None:
    reading = FlatReading(pv=None, battery=BATTERY, meter=None, living_room=None)
    slow = Capabilities(revert_timer=False, min_write_interval_s=30)
    message = availability_from_reading(
        reading, 5, participate=True, max_share_pct=100, capabilities=slow
    )
    assert message["capabilities"] == {
        "read": True,
        "control_power": True,
        "switch_living_room": True,
        "revert_timer": False,
        "min_write_interval_s": 30.0,
    }
    # Without them (as an older integration): no member, never a guess.
    assert "capabilities" not in availability_from_reading(
        reading, 5, participate=True, max_share_pct=100
    )
