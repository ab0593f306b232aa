"""The building bus changeover controller of an ECHONET Lite or SunSpec 1xx flat.

Such a flat's devices have no bus model; where the building has a bus, the
electrician installs the project's changeover controller (Modbus TCP, SunSpec
model 1 plus 64901) and the installer names it in the options. Without it the flat
is not on the bus, exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.helpers import selector

from ..const import MODBUS_TIMEOUT_S
from ..device.bus_controller import BusController
from ..device.bus_wired import BusWired
from ..device.errors import CannotConnectError, DeviceError
from ..device.interface import AnyFlatDevice

CONF_BUS_CONTROLLER_HOST: Final = "bus_controller_host"
CONF_BUS_CONTROLLER_PORT: Final = "bus_controller_port"
CONF_BUS_CONTROLLER_UNIT: Final = "bus_controller_unit"
DEFAULT_BUS_CONTROLLER_PORT: Final = 502
DEFAULT_BUS_CONTROLLER_UNIT: Final = 1


def _box(low: int, high: int) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=low, max=high, step=1, mode=selector.NumberSelectorMode.BOX
        )
    )


def bus_controller_schema(options: Mapping[str, Any]) -> dict[Any, Any]:
    """Form fields to add to the options form; left empty, no bus."""
    return {
        vol.Optional(
            CONF_BUS_CONTROLLER_HOST,
            description={"suggested_value": options.get(CONF_BUS_CONTROLLER_HOST)},
        ): selector.TextSelector(),
        vol.Optional(
            CONF_BUS_CONTROLLER_PORT,
            description={"suggested_value": options.get(CONF_BUS_CONTROLLER_PORT)},
        ): _box(1, 65535),
        vol.Optional(
            CONF_BUS_CONTROLLER_UNIT,
            description={"suggested_value": options.get(CONF_BUS_CONTROLLER_UNIT)},
        ): _box(1, 247),
    }


def _controller(options: Mapping[str, Any]) -> BusController | None:
    host = str(options.get(CONF_BUS_CONTROLLER_HOST) or "").strip()
    if not host:
        return None
    return BusController.tcp(
        host,
        int(options.get(CONF_BUS_CONTROLLER_PORT) or DEFAULT_BUS_CONTROLLER_PORT),
        int(options.get(CONF_BUS_CONTROLLER_UNIT) or DEFAULT_BUS_CONTROLLER_UNIT),
        timeout=MODBUS_TIMEOUT_S,
    )


async def async_bus_controller_errors(
    user_input: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, str]:
    """The form's errors for the controller; empty when none is named or it fits.

    A newly named controller must answer and serve model 64901; one left as it
    was in ``current`` is not asked again, so that other options can be changed
    while it is away.
    """
    keys = (
        CONF_BUS_CONTROLLER_HOST,
        CONF_BUS_CONTROLLER_PORT,
        CONF_BUS_CONTROLLER_UNIT,
    )
    if all(user_input.get(key) == current.get(key) for key in keys):
        return {}
    controller = _controller(user_input)
    if controller is None:
        return {}
    try:
        await controller.async_discover()
    except CannotConnectError:
        return {CONF_BUS_CONTROLLER_HOST: "bus_controller_unreachable"}
    except DeviceError:
        return {CONF_BUS_CONTROLLER_HOST: "bus_controller_no_bus_model"}
    finally:
        await controller.async_close()
    return {}


def with_bus_controller(
    device: AnyFlatDevice, options: Mapping[str, Any]
) -> AnyFlatDevice:
    """``device`` joined to the bus through the controller the options name.

    A device that serves the bus itself (a 7xx battery unit) is left as it is.
    """
    controller = _controller(options)
    if controller is not None and isinstance(device, BusWired):
        device.bus_controller = controller
    return device
