"""ECHONET Lite property values: what the bytes mean.

Only the properties this integration reads; see docs/DEVICES.md for the table.
"""

from __future__ import annotations

from typing import Final

STORAGE_BATTERY: Final = (0x02, 0x7D, 0x01)
HOME_SOLAR: Final = (0x02, 0x79, 0x01)
SMART_METER: Final = (0x02, 0x88, 0x01)
PANEL_METER: Final = (0x02, 0x87, 0x01)
MULTI_INPUT_PCS: Final = (0x02, 0xA5, 0x01)

# Every object.
FAULT_STATUS: Final = 0x88
IDENTIFICATION: Final = 0x83
SET_MAP: Final = 0x9E
GET_MAP: Final = 0x9F
# Node profile.
INSTANCE_LIST: Final = 0xD6

# Storage battery 0x027D.
AC_EFFECTIVE_CAPACITY: Final = 0xA0
CUMULATIVE_CHARGED: Final = 0xA8
CUMULATIVE_DISCHARGED: Final = 0xA9
CHARGE_AMOUNT: Final = 0xAA
DISCHARGE_AMOUNT: Final = 0xAB
CHARGE_POWER_LIMITS: Final = 0xC8
DISCHARGE_POWER_LIMITS: Final = 0xC9
WORKING_STATUS: Final = 0xCF
INTERCONNECTION: Final = 0xD0
BATTERY_POWER: Final = 0xD3
OPERATION_MODE: Final = 0xDA
REMAINING_WH: Final = 0xE2
REMAINING_PCT: Final = 0xE4
STATE_OF_HEALTH: Final = 0xE5
CHARGE_POWER: Final = 0xEB
DISCHARGE_POWER: Final = 0xEC

MODE_CHARGING: Final = 0x42
MODE_DISCHARGING: Final = 0x43
MODE_STANDBY: Final = 0x44
MODE_AUTO: Final = 0x46
FORCED_MODES: Final = (MODE_CHARGING, MODE_DISCHARGING, MODE_STANDBY)
INDEPENDENT: Final = 0x01
FAULT: Final = 0x41

# Home solar 0x0279.
PV_POWER: Final = 0xE0
PV_ENERGY: Final = 0xE1

# Low-voltage smart meter 0x0288 (D3 also on the panel 0x0287).
COEFFICIENT: Final = 0xD3
DIGITS: Final = 0xD7
IMPORTED: Final = 0xE0
ENERGY_UNIT: Final = 0xE1
EXPORTED: Final = 0xE3
METER_POWER: Final = 0xE7

# Multi-input PCS 0x02A5 (the Appendix makes all four mandatory to Get).
PCS_INTERCONNECTION: Final = 0xD0
PCS_AC_TO_DC_ENERGY: Final = 0xE0
PCS_DC_TO_AC_ENERGY: Final = 0xE3
PCS_POWER: Final = 0xE7

# Distribution-panel metering 0x0287.
CHANNEL_ENERGY: Final = 0xB3
CHANNEL_POWER: Final = 0xB7
PANEL_UNIT: Final = 0xC2

# Energy unit codes → Wh per count.
UNIT_WH: Final[dict[int, float]] = {
    0x00: 1000.0,
    0x01: 100.0,
    0x02: 10.0,
    0x03: 1.0,
    0x04: 0.1,
    0x0A: 10_000.0,
    0x0B: 100_000.0,
    0x0C: 1_000_000.0,
    0x0D: 10_000_000.0,
}
# 4-byte cumulative counters in 0.001 kWh count up to 999,999,999 and start again.
WH_COUNTER_MODULUS: Final = 1_000_000_000
# The panel's channel counters have eight digits.
PANEL_MODULUS: Final = 100_000_000


def unsigned(edt: bytes | None) -> int | None:
    """A big-endian unsigned value; ``None`` for a property not served."""
    return None if not edt else int.from_bytes(edt, "big")


def signed(edt: bytes | None) -> int | None:
    """A big-endian two's-complement value; ``None`` for a property not served."""
    return None if not edt else int.from_bytes(edt, "big", signed=True)


def max_of_pair(edt: bytes | None) -> int | None:
    """The maximum of a minimum/maximum pair of 4-byte values (0xC8, 0xC9)."""
    return None if edt is None or len(edt) != 8 else int.from_bytes(edt[4:], "big")


def channel_values(edt: bytes | None, channel: int, *, is_signed: bool) -> int | None:
    """Channel ``channel``'s 4-byte value in a start/count/values list (0xB3, 0xB7)."""
    if edt is None or len(edt) < 2:
        return None
    start, count = edt[0], edt[1]
    index = channel - start
    if not 0 <= index < count or len(edt) < 2 + 4 * count:
        return None
    raw = edt[2 + 4 * index : 6 + 4 * index]
    return int.from_bytes(raw, "big", signed=is_signed)


def property_map(edt: bytes | None) -> set[int]:
    """The EPCs a property map (0x9D/0x9E/0x9F) lists; empty when not served."""
    if not edt:
        return set()
    count = edt[0]
    if count < 16:
        return set(edt[1 : 1 + count])
    return {
        0x80 + byte + 0x10 * bit
        for byte, bits in enumerate(edt[1:17])
        for bit in range(8)
        if bits & (1 << bit)
    }


def instance_list(edt: bytes | None) -> list[tuple[int, int, int]]:
    """The objects a node profile's instance list (0xD6) names."""
    if not edt:
        return []
    count = edt[0]
    return [
        (edt[1 + 3 * i], edt[2 + 3 * i], edt[3 + 3 * i])
        for i in range(count)
        if len(edt) >= 4 + 3 * i
    ]
