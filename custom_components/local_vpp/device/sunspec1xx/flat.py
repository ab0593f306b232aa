"""A flat whose inverter, battery and meter serve SunSpec 1xx models.

PV unit: inverter 101/102/103. Battery unit: an inverter model and storage 124.
Meter unit: 201–204, or a float meter 211–214; a meter serving both is read through
its integer model, whose acc32 totals count every Wh (a float32 total above 2^24 Wh
moves in steps of 2 Wh or more). A float meter's totals do not wrap: a lower total is
a reset for the energy sensors to judge, and NaN or infinity is unknown.

Power is controlled through model 124's rates: discharging at ``OutWRte`` % of
``WChaMax`` with ``StorCtl_Mod`` bit 1, charging at ``InWRte`` with bit 0, with
``InOutWRte_RvrtTms`` as the revert timer. There is no living-room model: the
installer chooses a switch, or the inverter's backup output.

Where the PV inverter serves model 123 (immediate controls), it is read, never
written: ``Conn`` (told to connect or not), ``WMaxLimPct`` with ``WMaxLim_Ena`` (the
output limit) and both revert timers. They show as diagnostics, ``Conn`` is the PV
reading's ``connected``, and the flat counts ``immediate_controls`` as a capability.
Without 123 the flat reads exactly as before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Final

from modbus_connection import ModbusError, ModbusExceptionError, ModbusTcpParams
from modbus_connection.model.sunspec import (
    SunSpecComponent,
    SunSpecError,
    SunSpecModel,
    SunSpecModels,
    scan,
)
from modbus_connection.pymodbus import ModbusConnection

from ..bus_wired import BusWired
from ..capabilities import Capabilities
from ..checked_unit import checked_unit
from ..counters import WrappingCounter
from ..errors import (
    CannotConnectError,
    DeviceRejectedError,
    MissingModelsError,
    NotSunSpecError,
)
from ..field_block import ScaleCache, write_fields
from ..flat import (
    _LINK_ERRORS,
    ROLE_BATTERY,
    ROLE_METER,
    ROLE_PV,
    UnitIdentity,
    UnitIds,
)
from ..models import MODEL_COMMON, SUNSPEC_BASE, CommonModel
from ..pymodbus_log import demote_per_request_errors
from ..reading import (
    BatteryReading,
    FlatReading,
    InverterControlsReading,
    MeterReading,
    PvReading,
)
from .models import (
    FLOAT_METER_MODELS,
    INVERTER_MODELS,
    METER_MODELS,
    MODEL_CONTROLS,
    MODEL_STORAGE,
    ControlsModel,
    FloatMeterModel,
    InverterModel,
    MeterModel,
    StorageModel,
)

_CHARGE_BIT: Final = 1
_DISCHARGE_BIT: Final = 2
_FAULT_STATE: Final = 7
# Model 123 Conn and the enable fields.
_CONNECT: Final = 1
_ENABLED: Final = 1
_ACC32: Final = 1 << 32


def _first_of(models: SunSpecModels, ids: tuple[int, ...]) -> int | None:
    return next((m for m in ids if m in models), None)


def _finite(value: float | None) -> float | None:
    """A float point's value; NaN (decoded as None) and infinities are unknown."""
    return value if value is not None and math.isfinite(value) else None


class Sunspec1xxFlatDevice(BusWired):
    """Discover, poll and control a flat of SunSpec 1xx devices.

    On a building bus only through a changeover controller (``BusWired``).
    """

    has_reserve_setting = True
    capabilities = Capabilities(switch_living_room=False)

    def __init__(
        self,
        connection: ModbusConnection,
        unit_ids: UnitIds,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``connection`` for the units in ``unit_ids``."""
        self._connection = connection
        self.unit_ids = unit_ids
        self._clock = clock
        self._units = {
            role: checked_unit(connection.for_unit(unit_id))
            for role, unit_id in unit_ids.by_role().items()
        }
        self.identities: dict[str, UnitIdentity] = {}
        self.models: dict[str, SunSpecModels] = {}
        self.last_poll_requests = 0
        self._pv: InverterModel | None = None
        self._inverter: InverterModel | None = None
        self._storage: StorageModel | None = None
        self._meter: MeterModel | FloatMeterModel | None = None
        self._controls: ControlsModel | None = None
        self._scales = ScaleCache()
        self._counters = {
            name: WrappingCounter(_ACC32)
            for name in ("pv", "discharged", "imported", "exported")
        }
        # The hold last written: (power W, revert s, when), for the reading.
        self._hold: tuple[float, int, float] | None = None

    @classmethod
    def tcp(
        cls, host: str, port: int, unit_ids: UnitIds, *, timeout: float = 3.0
    ) -> Sunspec1xxFlatDevice:
        """Build a flat on a new Modbus TCP connection (opened on first use)."""
        demote_per_request_errors()
        return cls(
            ModbusConnection(ModbusTcpParams(host=host, port=port), timeout=timeout),
            unit_ids,
        )

    @property
    def discovered(self) -> bool:
        """Whether the model chains have been read and checked."""
        return self._storage is not None

    @property
    def serial(self) -> str:
        """The battery unit's serial: it identifies the installation."""
        return self.identities[ROLE_BATTERY].serial

    async def async_discover(self) -> dict[str, UnitIdentity]:
        """Walk every unit's chain; raises the same errors as the 7xx family."""
        models: dict[str, SunSpecModels] = {}
        for role, unit in self._units.items():
            unit_id = self.unit_ids.by_role()[role]
            try:
                models[role] = await scan(unit, SUNSPEC_BASE)
            except (SunSpecError, ModbusExceptionError) as err:
                raise NotSunSpecError(role, unit_id, SUNSPEC_BASE) from err
            except _LINK_ERRORS as err:
                raise CannotConnectError(str(err)) from err
            except ModbusError as err:
                raise CannotConnectError(str(err)) from err
        pv = _first_of(models[ROLE_PV], INVERTER_MODELS)
        inverter = _first_of(models[ROLE_BATTERY], INVERTER_MODELS)
        # Integer first: see the module docstring.
        meter = _first_of(models[ROLE_METER], METER_MODELS + FLOAT_METER_MODELS)
        missing = {
            role: wanted
            for role, wanted in (
                (ROLE_PV, [] if pv else [103]),
                (
                    ROLE_BATTERY,
                    ([] if inverter else [103])
                    + ([] if MODEL_STORAGE in models[ROLE_BATTERY] else [124]),
                ),
                (ROLE_METER, [] if meter else [203]),
            )
            if wanted
        }
        if missing:
            raise MissingModelsError(missing, self.unit_ids.by_role())
        assert pv is not None
        assert inverter is not None
        assert meter is not None
        identities = {}
        for role, unit in self._units.items():
            common = CommonModel(unit, _model(models[role], MODEL_COMMON))
            await self._guard(common.async_update())
            identities[role] = UnitIdentity(
                manufacturer=common.manufacturer or "",
                model=common.model or "",
                version=common.version or "",
                serial=common.serial or "",
            )
        battery = self._units[ROLE_BATTERY]
        self._pv = InverterModel(self._units[ROLE_PV], _model(models[ROLE_PV], pv))
        self._inverter = InverterModel(battery, _model(models[ROLE_BATTERY], inverter))
        self._storage = StorageModel(
            battery, _model(models[ROLE_BATTERY], MODEL_STORAGE)
        )
        meter_class = FloatMeterModel if meter in FLOAT_METER_MODELS else MeterModel
        self._meter = meter_class(
            self._units[ROLE_METER], _model(models[ROLE_METER], meter)
        )
        if MODEL_CONTROLS in models[ROLE_PV]:
            self._controls = ControlsModel(
                self._units[ROLE_PV], _model(models[ROLE_PV], MODEL_CONTROLS)
            )
        self.capabilities = Capabilities(
            switch_living_room=False, immediate_controls=self._controls is not None
        )
        self.models = models
        self.identities = identities
        return identities

    async def async_poll(self) -> FlatReading:
        """One request per model; a unit that refuses leaves its part None."""
        if not self.discovered:
            await self.async_discover()
        assert self._pv
        assert self._inverter
        assert self._storage
        assert self._meter
        self.last_poll_requests = 0
        ok = {}
        components: list[tuple[str, SunSpecComponent]] = [
            ("pv", self._pv),
            ("inverter", self._inverter),
            ("storage", self._storage),
            ("meter", self._meter),
        ]
        if self._controls is not None:
            components.append(("controls", self._controls))
        for name, component in components:
            try:
                await component.async_update(notify=False)
                ok[name] = True
            except _LINK_ERRORS as err:
                raise CannotConnectError(str(err)) from err
            except ModbusError:
                ok[name] = False
            self.last_poll_requests += 1
        if not any(ok.values()):
            raise CannotConnectError("no unit answered the poll")
        controls = self._controls_reading() if ok.get("controls") else None
        if controls is None and self._controls is not None:
            # Served but not read this time: unknown, never "disconnected".
            controls = InverterControlsReading(None, None, None, None, None)
        return await self._with_bus(
            FlatReading(
                pv=self._pv_reading(controls) if ok["pv"] else None,
                battery=self._battery_reading()
                if ok["inverter"] and ok["storage"]
                else None,
                meter=self._meter_reading() if ok["meter"] else None,
                living_room=None,
                pv_controls=controls,
            )
        )

    def _pv_reading(self, controls: InverterControlsReading | None) -> PvReading:
        assert self._pv is not None
        return PvReading(
            power_w=self._pv.power_w,
            energy_wh=self._count("pv", self._pv.energy_wh),
            connected=None if controls is None else controls.connected,
        )

    def _controls_reading(self) -> InverterControlsReading:
        controls = self._controls
        assert controls is not None
        connect, enabled = controls.connect, controls.limit_enabled
        return InverterControlsReading(
            connected=None if connect is None else int(connect) == _CONNECT,
            connect_revert_s=_whole(controls.connect_revert_s),
            limit_enabled=None if enabled is None else int(enabled) == _ENABLED,
            limit_pct=controls.limit_pct,
            limit_revert_s=_whole(controls.limit_revert_s),
        )

    def _count(self, name: str, value: float | None) -> float | None:
        if value is None:
            return None
        counted = self._counters[name].update(int(value))
        return None if counted is None else float(counted)

    def _battery_reading(self) -> BatteryReading:
        inverter, storage = self._inverter, self._storage
        assert inverter is not None
        assert storage is not None
        mode = storage.control_mode
        enabled = None if mode is None else int(mode) != 0
        remaining = setpoint_w = None
        if enabled and self._hold is not None:
            setpoint_w = self._hold[0]
            elapsed = self._clock() - self._hold[2]
            remaining = max(0, math.ceil(self._hold[1] - elapsed))
        state = inverter.state
        return BatteryReading(
            power_w=inverter.power_w,
            soc_pct=storage.soc_pct,
            soh_pct=None,
            cycles=None,
            charged_wh=None,
            discharged_wh=self._count("discharged", inverter.energy_wh),
            rated_wh=None,
            available_wh=None,
            min_soc_pct=None,
            reserve_soc_pct=storage.reserve_pct,
            max_charge_w=storage.max_charge_w,
            max_discharge_w=storage.max_charge_w,
            cell_v_max=None,
            cell_v_min=None,
            alarms=None,
            inverter_connected=None,
            inverter_faulted=None if state is None else int(state) == _FAULT_STATE,
            setpoint_enabled=enabled,
            setpoint_w=setpoint_w,
            setpoint_revert_remaining_s=remaining,
        )

    def _meter_reading(self) -> MeterReading:
        meter = self._meter
        assert meter is not None
        if isinstance(meter, FloatMeterModel):
            power_w = _finite(meter.power_w)
            return MeterReading(
                power_w=None if power_w is None else -power_w,
                imported_wh=_finite(meter.imported_wh),
                exported_wh=_finite(meter.exported_wh),
                voltage_v=_finite(meter.voltage_v),
                frequency_hz=_finite(meter.frequency_hz),
                connected=None,
            )
        return MeterReading(
            # SunSpec meters count import as positive; the integration, export.
            power_w=None if meter.power_w is None else -meter.power_w,
            imported_wh=self._count("imported", meter.imported_wh),
            exported_wh=self._count("exported", meter.exported_wh),
            voltage_v=meter.voltage_v,
            frequency_hz=meter.frequency_hz,
            connected=None,
        )

    async def async_read_registers(self) -> dict[str, dict[int, int]]:
        """Every register of every discovered model, by role, for diagnostics."""
        raw: dict[str, dict[int, int]] = {}
        for role, unit in self._units.items():
            registers: dict[int, int] = {}
            for model in self.models.get(role, SunSpecModels()).chain:
                end = model.address + model.span
                for start in range(model.address, end, 125):
                    count = min(125, end - start)
                    words = await self._guard(unit.read_holding_registers(start, count))
                    registers.update({start + i: w for i, w in enumerate(words)})
            raw[role] = registers
        return raw

    # -- writes (called only by the integration's battery control) ------------------

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        """Charge or discharge at ``power_w`` (+ discharge) through model 124.

        The revert timer goes first, then the rates, then the mode that enables them.
        """
        if revert_s <= 0:
            raise ValueError("a setpoint needs a revert timer of at least 1 s")
        storage = await self._storage_model()
        if not storage.max_charge_w:
            await self._guard(storage.async_update(notify=False))
        max_w = storage.max_charge_w or 0.0
        if max_w <= 0:
            raise DeviceRejectedError("model 124 gives no WChaMax to scale rates by")
        rate = min(100.0, round(abs(power_w) / max_w * 100, 1))
        discharge, charge = (rate, 0.0) if power_w > 0 else (0.0, rate)
        bits = _DISCHARGE_BIT if power_w > 0 else _CHARGE_BIT
        if power_w == 0:
            bits = _CHARGE_BIT | _DISCHARGE_BIT
        await self._write(storage, ("revert_s", revert_s))
        await self._write(
            storage, ("discharge_rate_pct", discharge), ("charge_rate_pct", charge)
        )
        await self._write(storage, ("control_mode", bits))
        self._hold = (power_w, revert_s, self._clock())

    async def async_clear_power_setpoint(self) -> None:
        """Hand the battery back to its own logic."""
        self._hold = None
        await self._write(await self._storage_model(), ("control_mode", 0))

    async def async_set_reserve_soc(self, pct: float) -> None:
        """Set the backup reserve (model 124 MinRsvPct)."""
        if not 0 <= pct <= 100:
            raise ValueError(f"reserve must be within 0–100 %, got {pct}")
        await self._write(await self._storage_model(), ("reserve_pct", pct))

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """SunSpec 1xx has no living-room model."""
        raise DeviceRejectedError(
            "this inverter has no living-room register: choose a switch, or the"
            " inverter's backup output, in the options"
        )

    async def async_close(self) -> None:
        """Close the connection (and the bus controller's) for good."""
        try:
            await self._connection.close()
        finally:
            await self._close_bus()

    async def _storage_model(self) -> StorageModel:
        if self._storage is None:
            await self.async_discover()
        assert self._storage is not None
        return self._storage

    async def _write(self, storage: StorageModel, *values: tuple[str, object]) -> None:
        try:
            await write_fields(storage, values, self._scales)
        except ModbusExceptionError as err:
            written = ", ".join(f"{name}={value}" for name, value in values)
            raise DeviceRejectedError(f"device refused {written}: {err}") from err
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err

    async def _guard[T](self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except _LINK_ERRORS as err:
            raise CannotConnectError(str(err)) from err


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _model(models: SunSpecModels, model_id: int) -> SunSpecModel:
    found = models.first(model_id)
    assert found is not None  # discovery checked it
    return found
