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
    BUS_ACTIVE,
    BUS_OFF,
    BUS_STANDBY,
    BUS_STATES,
    BatteryReading,
    BusReading,
    FlatReading,
    LivingRoomReading,
    MeterReading,
    PvReading,
)

__all__ = [
    "BUS_ACTIVE",
    "BUS_OFF",
    "BUS_STANDBY",
    "BUS_STATES",
    "ROLES",
    "ROLE_BATTERY",
    "ROLE_METER",
    "ROLE_PV",
    "BatteryReading",
    "BusReading",
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
