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
from .device import FlatDevice, MissingModelsError, UnitIds
from .device.echonet.flat import EchonetFlatDevice
from .device.echonet.transport import ECHONET_PORT
from .device.interface import AnyFlatDevice
from .device.sunspec1xx.flat import Sunspec1xxFlatDevice

CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_FAMILY: Final = "device_family"
FAMILY_SUNSPEC: Final = "sunspec"
FAMILY_SUNSPEC_1XX: Final = "sunspec1xx"
FAMILY_ECHONET: Final = "echonet"
FAMILIES: Final = (FAMILY_SUNSPEC, FAMILY_SUNSPEC_1XX, FAMILY_ECHONET)
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
    unit_ids = UnitIds(
        pv=data[CONF_UNIT_PV],
        battery=data[CONF_UNIT_BATTERY],
        meter=data[CONF_UNIT_METER],
    )
    if family_of(data) == FAMILY_SUNSPEC_1XX:
        return Sunspec1xxFlatDevice.tcp(
            data[CONF_HOST], data[CONF_PORT], unit_ids, timeout=MODBUS_TIMEOUT_S
        )
    return FlatDevice.tcp(
        data[CONF_HOST], data[CONF_PORT], unit_ids, timeout=MODBUS_TIMEOUT_S
    )


async def async_discover_sunspec(
    data: Mapping[str, Any],
) -> tuple[str, FlatDevice | Sunspec1xxFlatDevice]:
    """Find which SunSpec family the units serve: the 7xx set, else the 1xx one.

    Returns (family, the device as discovered, closed). When neither fits,
    raises the 7xx family's ``MissingModelsError``: it names what the
    integration prefers. Other errors
    (no answer, no SunSpec map) come from the first attempt.
    """
    missing: MissingModelsError | None = None
    for family in (FAMILY_SUNSPEC, FAMILY_SUNSPEC_1XX):
        device = device_from_entry_data({**data, CONF_FAMILY: family})
        try:
            await device.async_discover()
        except MissingModelsError as err:
            missing = missing or err
            continue
        finally:
            await device.async_close()
        # Both SunSpec families are built from these data, never ECHONET's.
        assert isinstance(device, FlatDevice | Sunspec1xxFlatDevice)
        return family, device
    assert missing is not None
    raise missing
