"""The building bus changeover controller as a Modbus TCP device of its own.

A flat whose battery unit does not serve model 64901 (an ECHONET Lite or SunSpec
1xx flat) reaches the building bus through the project's changeover controller,
which the electrician installs between the flat's backup output and the bus. It
serves SunSpec model 1 and model 64901 with the register layout the 7xx battery
unit uses, so the same model definition reads and writes it. In an outage the
flat's battery runs islanded and supplies whatever its backup output delivers:
writing the controller's ``WSet`` is all a bus setpoint needs.
"""

from __future__ import annotations

from modbus_connection import ModbusError, ModbusExceptionError, ModbusTcpParams
from modbus_connection.model.sunspec import SunSpecError, SunSpecModels, scan
from modbus_connection.pymodbus import ModbusConnection

from .checked_unit import checked_unit
from .errors import (
    CannotConnectError,
    DeviceError,
    DeviceRejectedError,
    MissingModelsError,
    NotSunSpecError,
)
from .field_block import ScaleCache, write_fields
from .flat import (
    _LINK_ERRORS,
    UnitIdentity,
    _bus_reading,
    _first,
    check_bus_setpoint,
)
from .models import (
    MODEL_BUILDING_BUS,
    MODEL_COMMON,
    SUNSPEC_BASE,
    BuildingBusModel,
    CommonModel,
)
from .pymodbus_log import demote_per_request_errors
from .reading import BusReading

ROLE_BUS = "bus"


class BusController:
    """Discover, read and write one bus changeover controller (models 1 and 64901)."""

    def __init__(self, connection: ModbusConnection, unit_id: int) -> None:
        """Use ``connection`` for the controller at ``unit_id``."""
        self._connection = connection
        self.unit_id = unit_id
        self._unit = checked_unit(connection.for_unit(unit_id))
        self._bus: BuildingBusModel | None = None
        self._scales = ScaleCache()
        # The revert timer last written, so a repeated setpoint is one request;
        # None after a failed write, since the controller may have restarted.
        self._revert_s: int | None = None

    @classmethod
    def tcp(
        cls, host: str, port: int, unit_id: int, *, timeout: float = 3.0
    ) -> BusController:
        """A controller on a new Modbus TCP connection (opened on first use)."""
        demote_per_request_errors()
        return cls(
            ModbusConnection(ModbusTcpParams(host=host, port=port), timeout=timeout),
            unit_id,
        )

    async def async_discover(self) -> UnitIdentity:
        """Walk the chain and check it serves model 64901.

        Raises ``CannotConnectError``, ``NotSunSpecError`` or ``MissingModelsError``.
        """
        try:
            models: SunSpecModels = await scan(self._unit, SUNSPEC_BASE)
        except (SunSpecError, ModbusExceptionError) as err:
            raise NotSunSpecError(ROLE_BUS, self.unit_id, SUNSPEC_BASE) from err
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err
        except ModbusError as err:
            raise CannotConnectError(str(err)) from err
        if MODEL_BUILDING_BUS not in models:
            raise MissingModelsError(
                {ROLE_BUS: [MODEL_BUILDING_BUS]}, {ROLE_BUS: self.unit_id}
            )
        common = CommonModel(self._unit, _first(models, MODEL_COMMON))
        try:
            await common.async_update()
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err
        self._bus = BuildingBusModel(self._unit, _first(models, MODEL_BUILDING_BUS))
        return UnitIdentity(
            manufacturer=common.manufacturer or "",
            model=common.model or "",
            version=common.version or "",
            serial=common.serial or "",
        )

    async def async_poll(self) -> BusReading | None:
        """The bus as the controller reads it; ``None`` when it cannot say.

        A controller that is silent, refuses or has moved its models gives ``None``
        (unknown, never 0) and is discovered again on the next poll.
        """
        try:
            bus = await self._bus_model()
            await bus.async_update(notify=False)
        except (ModbusError, SunSpecError, DeviceError):
            self._bus = None
            self._revert_s = None
            return None
        return _bus_reading(bus)

    async def async_set_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` (+ export) on the bus; the timer first, when it changed."""
        check_bus_setpoint(power_w, revert_s)
        bus = await self._bus_model()
        if self._revert_s != revert_s:
            await self._write(bus, ("setpoint_revert_s", revert_s))
            self._revert_s = revert_s
        await self._write(bus, ("setpoint_w", power_w))

    async def async_clear(self) -> None:
        """Neither export to the bus nor import from it."""
        await self._write(await self._bus_model(), ("setpoint_w", 0))

    async def async_close(self) -> None:
        """Close the connection for good."""
        await self._connection.close()

    async def _bus_model(self) -> BuildingBusModel:
        if self._bus is None:
            await self.async_discover()
        assert self._bus is not None
        return self._bus

    async def _write(self, bus: BuildingBusModel, *values: tuple[str, object]) -> None:
        try:
            await write_fields(bus, values, self._scales)
        except ModbusExceptionError as err:
            self._revert_s = None
            written = ", ".join(f"{name}={value}" for name, value in values)
            raise DeviceRejectedError(
                f"bus controller refused {written}: {err}"
            ) from err
        except _LINK_ERRORS as err:
            self._revert_s = None
            raise CannotConnectError(str(err)) from err
