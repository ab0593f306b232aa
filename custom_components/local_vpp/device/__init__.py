"""The flat's device library: SunSpec over Modbus TCP, no Home Assistant imports."""

from .errors import (
    CannotConnectError,
    DeviceError,
    DeviceRejectedError,
    MissingModelsError,
    NotSunSpecError,
)
from .flat import (
    ROLE_BATTERY,
    ROLE_METER,
    ROLE_PV,
    ROLES,
    FlatDevice,
    UnitIdentity,
    UnitIds,
)
from .reading import (
    BatteryReading,
    FlatReading,
    LivingRoomReading,
    MeterReading,
    PvReading,
)

__all__ = [
    "ROLES",
    "ROLE_BATTERY",
    "ROLE_METER",
    "ROLE_PV",
    "BatteryReading",
    "CannotConnectError",
    "DeviceError",
    "DeviceRejectedError",
    "FlatDevice",
    "FlatReading",
    "LivingRoomReading",
    "MeterReading",
    "MissingModelsError",
    "NotSunSpecError",
    "PvReading",
    "UnitIdentity",
    "UnitIds",
]
