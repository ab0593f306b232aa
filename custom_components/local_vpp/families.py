"""Which device family a flat's entry uses, and building its device object.

Entries made before families existed have no family key: they are SunSpec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .const import (
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    MODBUS_TIMEOUT_S,
)
from .device import FlatDevice, UnitIds
from .device.echonet.flat import EchonetFlatDevice
from .device.echonet.transport import ECHONET_PORT
from .device.interface import AnyFlatDevice

CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_FAMILY: Final = "device_family"
FAMILY_SUNSPEC: Final = "sunspec"
FAMILY_ECHONET: Final = "echonet"
FAMILIES: Final = (FAMILY_SUNSPEC, FAMILY_ECHONET)
# The UDP port the integration listens on for ECHONET Lite answers (real nodes
# answer to 3610) and the panel channel that meters the living room.
CONF_ECHONET_LOCAL_PORT: Final = "echonet_local_port"
CONF_LIVING_ROOM_CHANNEL: Final = "living_room_channel"
DEFAULT_LIVING_ROOM_CHANNEL: Final = 1
ECHONET_TIMEOUT_S: Final = 2.0


def family_of(data: Mapping[str, Any]) -> str:
    """The entry's device family."""
    return str(data.get(CONF_FAMILY, FAMILY_SUNSPEC))


def device_from_entry_data(data: Mapping[str, Any]) -> AnyFlatDevice:
    """Build the flat's device object from config entry data."""
    if family_of(data) == FAMILY_ECHONET:
        return EchonetFlatDevice.udp(
            data[CONF_HOST],
            data.get(CONF_PORT, ECHONET_PORT),
            local_port=data.get(CONF_ECHONET_LOCAL_PORT, ECHONET_PORT),
            timeout=ECHONET_TIMEOUT_S,
            living_room_channel=data.get(
                CONF_LIVING_ROOM_CHANNEL, DEFAULT_LIVING_ROOM_CHANNEL
            ),
        )
    return FlatDevice.tcp(
        data[CONF_HOST],
        data[CONF_PORT],
        UnitIds(
            pv=data[CONF_UNIT_PV],
            battery=data[CONF_UNIT_BATTERY],
            meter=data[CONF_UNIT_METER],
        ),
        timeout=MODBUS_TIMEOUT_S,
    )
