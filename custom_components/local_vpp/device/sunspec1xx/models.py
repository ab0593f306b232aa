"""SunSpec 1xx models as modbus-connection components.

Offsets count from the model's id register. Inverters 101, 102 and 103 share one
layout for the points read here, as do meters 201 to 204, and the float meters 211
to 214 (float32 points, no scale factors; NaN, "not implemented", reads as None).
"""

from __future__ import annotations

from typing import Final

from modbus_connection.model import Range
from modbus_connection.model.sunspec import (
    SunSpecComponent,
    acc32,
    bitfield16,
    enum16,
    float32,
    int16,
    uint16,
)

INVERTER_MODELS: Final = (101, 102, 103)
MODEL_STORAGE: Final = 124
MODEL_CONTROLS: Final = 123
METER_MODELS: Final = (201, 202, 203, 204)
FLOAT_METER_MODELS: Final = (211, 212, 213, 214)


def _whole_model(length: int) -> tuple[Range, ...]:
    return ((0, length + 1),)


class InverterModel(SunSpecComponent):
    """Models 101–103: AC power, voltage, frequency, lifetime energy, state."""

    register_ranges = _whole_model(50)

    voltage_v = uint16(10, scale_register=13, unit="V")
    power_w = int16(14, scale_register=15, unit="W")
    frequency_hz = uint16(16, scale_register=17, unit="Hz")
    energy_wh = acc32(24, scale_register=26, unit="Wh")
    state = enum16(38)


class StorageModel(SunSpecComponent):
    """Model 124: charge state, reserve, and the charge/discharge rate controls."""

    register_ranges = _whole_model(24)

    max_charge_w = uint16(2, scale_register=18, unit="W")
    control_mode = bitfield16(5, writable=True)
    reserve_pct = uint16(7, scale_register=21, writable=True, unit="%")
    soc_pct = uint16(8, scale_register=22, unit="%")
    charge_state = enum16(11)
    discharge_rate_pct = int16(12, scale_register=25, writable=True, unit="%")
    charge_rate_pct = int16(13, scale_register=25, writable=True, unit="%")
    revert_s = uint16(15, writable=True)


class ControlsModel(SunSpecComponent):
    """Model 123: connect/disconnect and the output limit, with their revert timers."""

    register_ranges = _whole_model(24)

    connect_revert_s = uint16(3)
    connect = enum16(4)
    limit_pct = uint16(5, scale_register=23, unit="%")
    limit_revert_s = uint16(7)
    limit_enabled = enum16(9)


class MeterModel(SunSpecComponent):
    """Models 201–204: power (+ import), voltage, frequency, energy both ways."""

    register_ranges = _whole_model(105)

    voltage_v = int16(8, scale_register=15, unit="V")
    frequency_hz = int16(16, scale_register=17, unit="Hz")
    power_w = int16(18, scale_register=22, unit="W")
    exported_wh = acc32(38, scale_register=54, unit="Wh")
    imported_wh = acc32(46, scale_register=54, unit="Wh")


class FloatMeterModel(SunSpecComponent):
    """Models 211–214: the same points as 201–204, as float32 values."""

    register_ranges = _whole_model(124)

    voltage_v = float32(12, unit="V")
    frequency_hz = float32(26, unit="Hz")
    power_w = float32(28, unit="W")
    exported_wh = float32(60, unit="Wh")
    imported_wh = float32(68, unit="Wh")
