"""A flat's PV inverter, battery and meter behind one Modbus TCP connection."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from modbus_connection import (
    ClientClosedError,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionError,
    ModbusTcpParams,
    ModbusTimeoutError,
)
from modbus_connection.model import ComponentGroup
from modbus_connection.model.sunspec import (
    SunSpecComponent,
    SunSpecError,
    SunSpecMapShiftError,
    SunSpecModel,
    SunSpecModels,
    scan,
)
from modbus_connection.pymodbus import ModbusConnection

from .capabilities import Capabilities
from .checked_unit import checked_unit
from .counting_unit import RequestCounter, counting_requests, counting_unit
from .errors import (
    CannotConnectError,
    DeviceError,
    DeviceRejectedError,
    MissingModelsError,
    NotSunSpecError,
)
from .field_block import ScaleCache, write_fields
from .models import (
    MODEL_BATTERY,
    MODEL_BUILDING_BUS,
    MODEL_COMMON,
    MODEL_DER_CONTROLS,
    MODEL_DER_MEASUREMENT,
    MODEL_LIVING_ROOM,
    MODEL_STORAGE_CAPACITY,
    SUNSPEC_BASE,
    BatteryModel,
    BuildingBusModel,
    CommonModel,
    DerControlsModel,
    DerMeasurementModel,
    LivingRoomModel,
    StorageCapacityModel,
)
from .pymodbus_log import demote_per_request_errors
from .reading import (
    BatteryReading,
    BusReading,
    FlatReading,
    LivingRoomReading,
    MeterReading,
    PvReading,
)

if TYPE_CHECKING:
    from modbus_connection import ModbusUnit

ROLE_PV: Final = "pv"
ROLE_BATTERY: Final = "battery"
ROLE_METER: Final = "meter"
ROLES: Final = (ROLE_PV, ROLE_BATTERY, ROLE_METER)

REQUIRED_MODELS: Final[dict[str, tuple[int, ...]]] = {
    ROLE_PV: (MODEL_COMMON, MODEL_DER_MEASUREMENT),
    ROLE_BATTERY: (
        MODEL_COMMON,
        MODEL_DER_MEASUREMENT,
        MODEL_STORAGE_CAPACITY,
        MODEL_BATTERY,
        MODEL_DER_CONTROLS,
        MODEL_LIVING_ROOM,
    ),
    ROLE_METER: (MODEL_COMMON, MODEL_DER_MEASUREMENT),
}

# SunSpec enumerations used below (model 701 ConnSt / InvSt, 704 WSetEna / WSetMod).
_CONNECTED = 1
_INVERTER_FAULT = 6
_ENABLED = 1
_DISABLED = 0
_SETPOINT_MODE_WATTS = 1
_SOURCE_GRID = 0
_SOURCE_BATTERY = 1

# Model 64901 WSet: the bus setpoint the flat accepts, W either way.
MAX_BUS_SETPOINT_W: Final = 10_000

# Modbus allows at most 125 registers in one read.
_MAX_READ = 125

_LINK_ERRORS = (ModbusConnectionError, ModbusTimeoutError, ClientClosedError)


@dataclass(frozen=True, slots=True)
class UnitIds:
    """Modbus unit ids of the flat's three devices on the shared connection."""

    pv: int = 1
    battery: int = 2
    meter: int = 3

    def by_role(self) -> dict[str, int]:
        """The ids keyed by role name."""
        return {ROLE_PV: self.pv, ROLE_BATTERY: self.battery, ROLE_METER: self.meter}


@dataclass(frozen=True, slots=True)
class UnitIdentity:
    """What model 1 says about a unit."""

    manufacturer: str
    model: str
    version: str
    serial: str


def _pooled(
    unit: ModbusUnit, models: SunSpecModels, components: list[SunSpecComponent]
) -> ComponentGroup:
    """Group a unit's models so one read may span several of them.

    Each component is told the whole chain is readable: a block may then cross from
    one model into the next, which a per-model map would forbid.
    """
    chain = models.chain
    first, last = chain[0].address, chain[-1].address + chain[-1].span - 1
    for component in components:
        base = component.resolved_fields["model_id"].address
        component.register_ranges = ((first - base, last - base),)
    return ComponentGroup(unit, components)


class _PvUnit:
    def __init__(self, unit: ModbusUnit, models: SunSpecModels) -> None:
        self.ac = DerMeasurementModel(unit, _first(models, MODEL_DER_MEASUREMENT))
        self.group = _pooled(unit, models, [self.ac])


class _MeterUnit(_PvUnit):
    """The meter serves the same model as the PV inverter, read the other way."""


class _BatteryUnit:
    def __init__(self, unit: ModbusUnit, models: SunSpecModels) -> None:
        self.ac = DerMeasurementModel(unit, _first(models, MODEL_DER_MEASUREMENT))
        self.capacity = StorageCapacityModel(
            unit, _first(models, MODEL_STORAGE_CAPACITY)
        )
        self.battery = BatteryModel(unit, _first(models, MODEL_BATTERY))
        self.controls = DerControlsModel(unit, _first(models, MODEL_DER_CONTROLS))
        self.living_room = LivingRoomModel(unit, _first(models, MODEL_LIVING_ROOM))
        # Only a building's flat serves the bus; it follows 64900 in the chain, so
        # the pooled read takes it in without another request.
        self.bus = (
            BuildingBusModel(unit, _first(models, MODEL_BUILDING_BUS))
            if MODEL_BUILDING_BUS in models
            else None
        )
        components: list[SunSpecComponent] = [
            self.ac,
            self.capacity,
            self.battery,
            self.controls,
            self.living_room,
        ]
        if self.bus is not None:
            components.append(self.bus)
        self.group = _pooled(unit, models, components)
        self.scales = ScaleCache()
        # The revert timers last written, so a repeated setpoint is one request; None
        # after any failed write, since the device may have restarted meanwhile.
        self.setpoint_revert_s: int | None = None
        self.bus_revert_s: int | None = None

    def forget_revert_timers(self) -> None:
        """Write the revert timers again with the next setpoint."""
        self.setpoint_revert_s = None
        self.bus_revert_s = None


def _first(models: SunSpecModels, model_id: int) -> SunSpecModel:
    found = models.first(model_id)
    if found is None:  # discovery checked this; a shifted map is caught there
        raise SunSpecMapShiftError(f"model {model_id} vanished from the chain")
    return found


def _bus_of(battery: _BatteryUnit) -> BuildingBusModel:
    if battery.bus is None:
        raise DeviceRejectedError("this flat is not on a building bus")
    return battery.bus


def check_bus_setpoint(power_w: float, revert_s: int) -> None:
    """Refuse a bus setpoint no flat may hold, before anything is written."""
    if not -MAX_BUS_SETPOINT_W <= power_w <= MAX_BUS_SETPOINT_W:
        raise ValueError(
            f"bus setpoint must be within ±{MAX_BUS_SETPOINT_W} W, got {power_w}"
        )
    if revert_s <= 0:
        raise ValueError("a bus setpoint needs a revert timer of at least 1 s")


def _flag(value: object, true_value: int) -> bool | None:
    return None if value is None else value == true_value


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


class FlatDevice:
    """Discover, poll and control one flat's devices.

    The flat owns one serialized Modbus connection; many inverters accept only one
    client, so nothing else should talk to them. A dropped link reconnects on the next
    request, so callers simply poll again.
    """

    # Model 704's revert timer is the dead-man; a setpoint may be written every poll.
    capabilities = Capabilities()
    has_reserve_setting = True

    def __init__(
        self,
        connection: ModbusConnection,
        unit_ids: UnitIds,
        *,
        base_address: int = SUNSPEC_BASE,
    ) -> None:
        """Use ``connection`` for the units in ``unit_ids``."""
        self._connection = connection
        self.unit_ids = unit_ids
        self._base = base_address
        self.counter = RequestCounter()
        self.last_poll_requests = 0
        self._units = {
            role: counting_unit(
                checked_unit(connection.for_unit(unit_id)), self.counter
            )
            for role, unit_id in unit_ids.by_role().items()
        }
        self.identities: dict[str, UnitIdentity] = {}
        self.models: dict[str, SunSpecModels] = {}
        self._pv: _PvUnit | None = None
        self._battery: _BatteryUnit | None = None
        self._meter: _MeterUnit | None = None

    @classmethod
    def tcp(
        cls, host: str, port: int, unit_ids: UnitIds, *, timeout: float = 3.0
    ) -> FlatDevice:
        """Build a flat on a new Modbus TCP connection (opened on first use)."""
        demote_per_request_errors()
        return cls(
            ModbusConnection(ModbusTcpParams(host=host, port=port), timeout=timeout),
            unit_ids,
        )

    @property
    def discovered(self) -> bool:
        """Whether the model chains have been read and checked."""
        return self._battery is not None

    @property
    def has_bus(self) -> bool:
        """Whether the battery unit serves the building bus (model 64901)."""
        return self._battery is not None and self._battery.bus is not None

    @property
    def serial(self) -> str:
        """The battery unit's serial: it identifies the flat's installation."""
        return self.identities[ROLE_BATTERY].serial

    async def async_discover(self) -> dict[str, UnitIdentity]:
        """Walk every unit's SunSpec chain, check the models, read the identities.

        Raises ``CannotConnectError``, ``NotSunSpecError`` or ``MissingModelsError``.
        """
        models: dict[str, SunSpecModels] = {}
        missing: dict[str, list[int]] = {}
        for role, unit in self._units.items():
            unit_id = self.unit_ids.by_role()[role]
            try:
                found = await scan(unit, self._base)
            except SunSpecError as err:
                raise NotSunSpecError(role, unit_id, self._base) from err
            except ModbusExceptionError as err:
                # A unit id nobody answers for, behind a gateway, or a device
                # without the SunSpec block at all.
                raise NotSunSpecError(role, unit_id, self._base) from err
            except _LINK_ERRORS as err:
                raise CannotConnectError(str(err)) from err
            except ModbusError as err:
                raise CannotConnectError(str(err)) from err
            models[role] = found
            if lacking := [m for m in REQUIRED_MODELS[role] if m not in found]:
                missing[role] = lacking
        if missing:
            raise MissingModelsError(missing, self.unit_ids.by_role())
        identities = {
            role: await self._read_identity(self._units[role], models[role])
            for role in ROLES
        }
        self.models = models
        self.identities = identities
        self._pv = _PvUnit(self._units[ROLE_PV], models[ROLE_PV])
        self._battery = _BatteryUnit(self._units[ROLE_BATTERY], models[ROLE_BATTERY])
        self._meter = _MeterUnit(self._units[ROLE_METER], models[ROLE_METER])
        return identities

    async def _read_identity(
        self, unit: ModbusUnit, models: SunSpecModels
    ) -> UnitIdentity:
        common = CommonModel(unit, _first(models, MODEL_COMMON))
        await self._guard(common.async_update())
        return UnitIdentity(
            manufacturer=common.manufacturer or "",
            model=common.model or "",
            version=common.version or "",
            serial=common.serial or "",
        )

    async def async_poll(self) -> FlatReading:
        """Read everything the entities show, in as few requests as the map allows.

        A unit that answers with a Modbus exception leaves its part ``None``. Raises
        ``CannotConnectError`` when the link is down or no unit answered.
        """
        if not self.discovered:
            await self.async_discover()
        assert self._pv is not None
        assert self._battery is not None
        assert self._meter is not None
        with counting_requests() as requests:
            pv_ok = await self._poll_group(self._pv.group)
            battery_ok = await self._poll_group(self._battery.group)
            meter_ok = await self._poll_group(self._meter.group)
        self.last_poll_requests = requests.requests
        if not (pv_ok or battery_ok or meter_ok):
            raise CannotConnectError("no unit answered the poll")
        return FlatReading(
            pv=_pv_reading(self._pv) if pv_ok else None,
            battery=_battery_reading(self._battery) if battery_ok else None,
            meter=_meter_reading(self._meter) if meter_ok else None,
            living_room=_living_room_reading(self._battery) if battery_ok else None,
            bus=_bus_reading(self._battery.bus)
            if battery_ok and self._battery.bus is not None
            else None,
        )

    async def _poll_group(self, group: ComponentGroup) -> bool:
        try:
            await group.async_update(notify=False)
        except SunSpecMapShiftError as err:
            # A firmware update moved the models: rediscover on the next poll.
            self._pv = self._battery = self._meter = None
            raise DeviceError(f"register map changed, rediscovering: {err}") from err
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err
        except ModbusError:
            return False
        return True

    async def async_read_registers(self) -> dict[str, dict[int, int]]:
        """Every register of every discovered model, by role, for diagnostics."""
        raw: dict[str, dict[int, int]] = {}
        for role, unit in self._units.items():
            registers: dict[int, int] = {}
            for model in self.models.get(role, SunSpecModels()).chain:
                end = model.address + model.span
                for start in range(model.address, end, _MAX_READ):
                    count = min(_MAX_READ, end - start)
                    words = await self._guard(unit.read_holding_registers(start, count))
                    registers.update({start + i: word for i, word in enumerate(words)})
            raw[role] = registers
        return raw

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """Ask the inverter to feed the living-room circuit from the battery or grid."""
        battery = await self._battery_unit()
        await self._write_fields(
            battery,
            battery.living_room,
            ("source", _SOURCE_BATTERY if on_battery else _SOURCE_GRID),
        )

    async def async_set_reserve_soc(self, pct: float) -> None:
        """Set the backup reserve: SoC the battery keeps for outages."""
        if not 0 <= pct <= 100:
            raise ValueError(f"reserve must be within 0–100 %, got {pct}")
        battery = await self._battery_unit()
        await self._write_fields(battery, battery.battery, ("reserve_soc_pct", pct))

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        """Ask the battery for ``power_w`` (+ discharge, − charge) for ``revert_s``.

        Without another write within ``revert_s`` the battery reverts by itself to its
        own logic: a caller that vanishes cannot leave it draining. The timer goes in
        before the setpoint is enabled, and again only when it changes; a repeated
        setpoint is then one request, which re-arms the timer on the device.
        """
        if revert_s <= 0:
            raise ValueError("a setpoint needs a revert timer of at least 1 s")
        battery = await self._battery_unit()
        if battery.setpoint_revert_s != revert_s:
            await self._write_fields(
                battery,
                battery.controls,
                ("setpoint_enabled_revert", _DISABLED),
                ("setpoint_revert_s", revert_s),
            )
            battery.setpoint_revert_s = revert_s
        await self._write_fields(
            battery,
            battery.controls,
            ("setpoint_enabled", _ENABLED),
            ("setpoint_mode", _SETPOINT_MODE_WATTS),
            ("setpoint_w", power_w),
            ("setpoint_revert_w", 0),
        )

    async def async_set_bus_setpoint(self, power_w: float, revert_s: int) -> None:
        """Ask the bus for ``power_w`` (+ export, − import) for ``revert_s``.

        The timer is written first, and again only when it changes: each write of the
        setpoint re-arms it, and without another write within ``revert_s`` the
        setpoint falls back to 0 by itself.
        """
        check_bus_setpoint(power_w, revert_s)
        battery = await self._battery_unit()
        bus = _bus_of(battery)
        if battery.bus_revert_s != revert_s:
            await self._write_fields(battery, bus, ("setpoint_revert_s", revert_s))
            battery.bus_revert_s = revert_s
        await self._write_fields(battery, bus, ("setpoint_w", power_w))

    async def async_clear_bus_setpoint(self) -> None:
        """Neither export to the bus nor import from it."""
        battery = await self._battery_unit()
        await self._write_fields(battery, _bus_of(battery), ("setpoint_w", 0))

    async def async_clear_power_setpoint(self) -> None:
        """Hand the battery back to its own self-consumption logic."""
        battery = await self._battery_unit()
        await self._write_fields(
            battery,
            battery.controls,
            ("setpoint_enabled", _DISABLED),
            ("setpoint_mode", _SETPOINT_MODE_WATTS),
            ("setpoint_w", 0),
        )

    async def async_close(self) -> None:
        """Close the connection for good."""
        await self._connection.close()

    async def _battery_unit(self) -> _BatteryUnit:
        if self._battery is None:
            await self.async_discover()
        assert self._battery is not None
        return self._battery

    async def _write_fields(
        self,
        battery: _BatteryUnit,
        component: SunSpecComponent,
        *values: tuple[str, object],
    ) -> None:
        try:
            await write_fields(component, values, battery.scales)
        except ModbusExceptionError as err:
            battery.forget_revert_timers()
            written = ", ".join(f"{name}={value}" for name, value in values)
            raise DeviceRejectedError(f"device refused {written}: {err}") from err
        except _LINK_ERRORS as err:
            battery.forget_revert_timers()
            raise CannotConnectError(str(err)) from err

    async def _guard[T](self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err


def _pv_reading(pv: _PvUnit) -> PvReading:
    return PvReading(
        power_w=pv.ac.power_w,
        energy_wh=pv.ac.injected_wh,
        connected=_flag(pv.ac.connection_state, _CONNECTED),
    )


def _meter_reading(meter: _MeterUnit) -> MeterReading:
    return MeterReading(
        power_w=meter.ac.power_w,
        imported_wh=meter.ac.absorbed_wh,
        exported_wh=meter.ac.injected_wh,
        voltage_v=meter.ac.voltage_v,
        frequency_hz=meter.ac.frequency_hz,
        connected=_flag(meter.ac.connection_state, _CONNECTED),
    )


def _battery_reading(unit: _BatteryUnit) -> BatteryReading:
    ac, cap, bat, ctl = unit.ac, unit.capacity, unit.battery, unit.controls
    return BatteryReading(
        power_w=ac.power_w,
        soc_pct=bat.soc_pct if bat.soc_pct is not None else cap.soc_pct,
        soh_pct=bat.soh_pct if bat.soh_pct is not None else cap.soh_pct,
        cycles=_int(bat.cycles),
        charged_wh=ac.absorbed_wh,
        discharged_wh=ac.injected_wh,
        rated_wh=cap.rated_wh,
        available_wh=cap.available_wh,
        min_soc_pct=bat.min_soc_pct,
        reserve_soc_pct=bat.reserve_soc_pct,
        max_charge_w=bat.max_charge_w,
        max_discharge_w=bat.max_discharge_w,
        cell_v_max=bat.cell_v_max,
        cell_v_min=bat.cell_v_min,
        alarms=None if bat.alarms is None else int(bat.alarms),
        inverter_connected=_flag(ac.connection_state, _CONNECTED),
        inverter_faulted=_flag(ac.inverter_state, _INVERTER_FAULT),
        setpoint_enabled=_flag(ctl.setpoint_enabled, _ENABLED),
        setpoint_w=ctl.setpoint_w,
        setpoint_revert_remaining_s=_int(ctl.setpoint_revert_remaining_s),
    )


def _bus_reading(bus: BuildingBusModel) -> BusReading:
    return BusReading(
        wired=_flag(bus.available, 1),
        state=_int(bus.state),
        setpoint_w=bus.setpoint_w,
        power_w=bus.power_w,
        exported_wh=bus.exported_wh,
        imported_wh=bus.imported_wh,
        revert_s=_int(bus.setpoint_revert_s),
        revert_remaining_s=_int(bus.setpoint_revert_remaining_s),
    )


def _living_room_reading(unit: _BatteryUnit) -> LivingRoomReading:
    room = unit.living_room
    return LivingRoomReading(
        on_battery=_flag(room.source, _SOURCE_BATTERY),
        power_w=room.power_w,
        energy_wh=room.energy_wh,
        powered=_flag(room.powered, 1),
    )
