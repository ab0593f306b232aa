"""The SunSpec models a flat serves, as modbus-connection components.

Offsets count from the model's id register, as in docs/REGISTERS.md. Each component
declares its whole model as readable, so the planner may bridge gaps between the
points we need and read a model in one request.
"""

from __future__ import annotations

from modbus_connection.model import Range
from modbus_connection.model.sunspec import (
    SunSpecComponent,
    bitfield32,
    enum16,
    int16,
    int32,
    string,
    uint16,
    uint32,
    uint64,
)

SUNSPEC_BASE = 40000

MODEL_COMMON = 1
MODEL_DER_MEASUREMENT = 701
MODEL_DER_CONTROLS = 704
MODEL_STORAGE_CAPACITY = 713
MODEL_BATTERY = 802
MODEL_LIVING_ROOM = 64900
MODEL_BUILDING_BUS = 64901


def _whole_model(length: int) -> tuple[Range, ...]:
    """The readable range of a model: header plus ``length`` data registers."""
    return ((0, length + 1),)


class CommonModel(SunSpecComponent):
    """Model 1: who made the unit and its serial number."""

    register_ranges = _whole_model(66)

    manufacturer = string(2, 16)
    model = string(18, 16)
    version = string(42, 8)
    serial = string(50, 16)


class DerMeasurementModel(SunSpecComponent):
    """Model 701: AC power, voltage, frequency, lifetime energy, grid connection."""

    register_ranges = _whole_model(153)
    max_gap = 125

    operating_state = enum16(3)
    inverter_state = enum16(4)
    connection_state = enum16(5)
    power_w = int16(10, scale_register=116, unit="W")
    voltage_v = uint16(16, scale_register=114, unit="V")
    frequency_hz = uint32(17, scale_register=115, unit="Hz")
    injected_wh = uint64(19, scale_register=120, unit="Wh")
    absorbed_wh = uint64(23, scale_register=120, unit="Wh")


class StorageCapacityModel(SunSpecComponent):
    """Model 713: rated and available energy, SoC and SoH."""

    register_ranges = _whole_model(7)

    rated_wh = uint16(2, scale_register=7, unit="Wh")
    available_wh = uint16(3, scale_register=7, unit="Wh")
    soc_pct = uint16(4, scale_register=8, unit="%")
    soh_pct = uint16(5, scale_register=8, unit="%")


class BatteryModel(SunSpecComponent):
    """Model 802: the battery's limits, reserve, health, cycles, cells and alarms."""

    register_ranges = _whole_model(62)
    max_gap = 125

    max_charge_w = uint16(4, scale_register=54, unit="W")
    max_discharge_w = uint16(5, scale_register=54, unit="W")
    min_soc_pct = uint16(8, scale_register=56, unit="%")
    reserve_soc_pct = uint16(10, scale_register=56, writable=True, unit="%")
    soc_pct = uint16(11, scale_register=56, unit="%")
    soh_pct = uint16(13, scale_register=58, unit="%")
    cycles = uint32(14)
    heartbeat = uint16(18)
    alarms = bitfield32(26)
    cell_v_max = uint16(37, scale_register=60, unit="V")
    cell_v_min = uint16(40, scale_register=60, unit="V")
    power_w = int16(47, scale_register=63, unit="W")


class DerControlsModel(SunSpecComponent):
    """Model 704: the active-power setpoint and its revert timer (the dead-man)."""

    register_ranges = _whole_model(65)
    max_gap = 125

    setpoint_enabled = enum16(22, writable=True)
    setpoint_mode = enum16(23, writable=True)
    setpoint_w = int32(24, scale_register=55, writable=True, unit="W")
    setpoint_revert_w = int32(26, scale_register=55, writable=True, unit="W")
    setpoint_enabled_revert = enum16(30, writable=True)
    setpoint_revert_s = uint32(31, writable=True)
    setpoint_revert_remaining_s = uint32(33)


class LivingRoomModel(SunSpecComponent):
    """Vendor model 64900: the living-room circuit and where it is fed from."""

    register_ranges = _whole_model(8)

    source = enum16(2, writable=True)
    power_w = uint16(3, scale_register=9, unit="W")
    energy_wh = uint64(4)
    powered = enum16(8)


class BuildingBusModel(SunSpecComponent):
    """Vendor model 64901: the flat's side of the building bus (building flats only)."""

    register_ranges = _whole_model(18)

    available = enum16(2)
    state = enum16(3)
    setpoint_w = int16(4, scale_register=18, writable=True, unit="W")
    power_w = int16(5, scale_register=18, unit="W")
    exported_wh = uint64(6, scale_register=19, unit="Wh")
    imported_wh = uint64(10, scale_register=19, unit="Wh")
    setpoint_revert_s = uint32(14, writable=True)
    setpoint_revert_remaining_s = uint32(16)
