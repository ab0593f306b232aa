"""A flat's three Modbus units: the flat's state as SunSpec registers, and writes.

Scale factors are fixed (docs/REGISTERS.md): power in W, voltage in 0.1 V, frequency in
mHz, energy in Wh, percentages in 0.1 %, cell voltages in mV, current in 0.1 A.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .. import __version__
from ..model.config import UnitRole
from ..model.controls import ENABLED, MODE_WATTS
from ..model.faults import GlitchKind, glitched_wh
from ..model.flat import Flat, LivingRoomSource
from ..model.state import FlatState
from .register_device import ExceptionCode, ModbusRefusal
from .sunspec_map import (
    MODEL_BATTERY,
    MODEL_BUILDING_BUS,
    MODEL_COMMON,
    MODEL_DER_CONTROLS,
    MODEL_DER_MEASUREMENT,
    MODEL_LIVING_ROOM,
    MODEL_STORAGE_CAPACITY,
    ChainLayout,
    Point,
    PointValue,
    decode,
    encode,
)

CHAINS: Final[dict[UnitRole, tuple[int, ...]]] = {
    UnitRole.PV: (MODEL_COMMON, MODEL_DER_MEASUREMENT),
    UnitRole.BATTERY: (
        MODEL_COMMON,
        MODEL_DER_MEASUREMENT,
        MODEL_STORAGE_CAPACITY,
        MODEL_BATTERY,
        MODEL_DER_CONTROLS,
        MODEL_LIVING_ROOM,
    ),
    UnitRole.METER: (MODEL_COMMON, MODEL_DER_MEASUREMENT),
}


def chain_of(role: UnitRole, building_bus: bool) -> tuple[int, ...]:
    """The models ``role`` serves; a flat on a building bus adds 64901 last."""
    if role is UnitRole.BATTERY and building_bus:
        return (*CHAINS[role], MODEL_BUILDING_BUS)
    return CHAINS[role]


# Energy counters that can be made to misread once, per unit: (model, point).
COUNTERS: Final[dict[UnitRole, dict[str, int]]] = {
    UnitRole.PV: {"TotWhInj": MODEL_DER_MEASUREMENT},
    UnitRole.BATTERY: {
        "TotWhInj": MODEL_DER_MEASUREMENT,
        "TotWhAbs": MODEL_DER_MEASUREMENT,
        "TotWh": MODEL_LIVING_ROOM,
        "TotWhExp": MODEL_BUILDING_BUS,
        "TotWhImp": MODEL_BUILDING_BUS,
    },
    UnitRole.METER: {
        "TotWhInj": MODEL_DER_MEASUREMENT,
        "TotWhAbs": MODEL_DER_MEASUREMENT,
    },
}

# Model 1 Md holds 32 characters.
_MODEL_NAMES: Final = {
    UnitRole.PV: "Simulated PV inverter",
    UnitRole.BATTERY: "Simulated hybrid battery",
    UnitRole.METER: "Simulated grid meter",
}
_ON, _OFF = 1, 0
_INT32_NOT_IMPLEMENTED = -0x80000000
_UINT32_NOT_IMPLEMENTED = 0xFFFFFFFF
_SF_UNITS, _SF_TENTHS, _SF_MILLI = 0, -1, -3
# The most a bus setpoint may ask for, either way (no flat's inverter does more).
_BUS_MAX_W = 10000


def _tenths(value: float) -> int:
    return round(value * 10)


def _milli(value: float) -> int:
    return round(value * 1000)


def _common(role: UnitRole, flat: Flat, unit_id: int) -> dict[str, PointValue]:
    return {
        "Mn": "Local VPP",
        "Md": _MODEL_NAMES[role],
        "Opt": "",
        "Vr": __version__,
        "SN": flat.config.serial(role),
        "DA": unit_id,
    }


def _ac(
    *,
    state: FlatState,
    status: int,
    inverter_state: int | None,
    connected: bool,
    power_w: float,
    injected_wh: int,
    absorbed_wh: int,
) -> dict[str, PointValue]:
    """Model 701 as a unit measures it at its AC terminals (the grid side)."""
    values: dict[str, PointValue] = {
        "ACType": 0,  # single phase
        "St": status,
        "ConnSt": _ON if connected else _OFF,
        "W": round(power_w),
        "LNV": _tenths(state.grid.voltage_v),
        "Hz": _milli(state.grid.frequency_hz),
        "TotWhInj": injected_wh,
        "TotWhAbs": absorbed_wh,
        "V_SF": _SF_TENTHS,
        "Hz_SF": _SF_MILLI,
        "W_SF": _SF_UNITS,
        "TotWh_SF": _SF_UNITS,
    }
    if inverter_state is not None:
        values["InvSt"] = inverter_state
    return values


def _pv_values(state: FlatState) -> dict[int, dict[str, PointValue]]:
    pv = state.pv
    return {
        MODEL_DER_MEASUREMENT: _ac(
            state=state,
            status=_ON if pv.connected else _OFF,
            inverter_state=pv.inverter_state,
            connected=pv.connected,
            power_w=pv.w,
            injected_wh=pv.tot_wh_inj,
            absorbed_wh=0,  # a PV inverter draws nothing worth metering here
        )
    }


def _meter_values(state: FlatState) -> dict[int, dict[str, PointValue]]:
    meter = state.meter
    return {
        MODEL_DER_MEASUREMENT: _ac(
            state=state,
            status=_ON,
            inverter_state=None,  # a meter is no inverter
            connected=meter.connected,
            power_w=meter.w,
            injected_wh=meter.tot_wh_inj,
            absorbed_wh=meter.tot_wh_abs,
        )
    }


def _battery_values(state: FlatState) -> dict[int, dict[str, PointValue]]:
    battery, setpoint, room = state.battery, state.setpoint, state.living_room
    return {
        MODEL_DER_MEASUREMENT: _ac(
            state=state,
            status=_OFF if battery.fault else _ON,
            inverter_state=battery.inverter_state,
            connected=battery.connected,
            power_w=battery.w,
            injected_wh=battery.tot_wh_inj,
            absorbed_wh=battery.tot_wh_abs,
        ),
        MODEL_STORAGE_CAPACITY: {
            "WHRtg": round(battery.rated_wh),
            "WHAvail": round(battery.available_wh),
            "SoC": _tenths(battery.soc_pct),
            "SoH": _tenths(battery.soh_pct),
            "Sta": 2 if battery.fault else 0,  # ERROR / OK
            "WH_SF": _SF_UNITS,
            "Pct_SF": _SF_TENTHS,
        },
        MODEL_BATTERY: {
            "AHRtg": round(battery.rated_wh / (16 * 3.2)),
            "WHRtg": round(battery.rated_wh),
            "WChaRteMax": round(battery.max_charge_w),
            "WDisChaRteMax": round(battery.max_discharge_w),
            "SoCMax": _tenths(battery.soc_max_pct),
            "SoCMin": _tenths(battery.soc_min_pct),
            "SoCRsvMin": _tenths(battery.reserve_pct),
            "SoC": _tenths(battery.soc_pct),
            "SoH": _tenths(battery.soh_pct),
            "NCyc": battery.cycles,
            "ChaSt": battery.charge_state,
            "LocRemCtl": 0,  # remote control allowed
            "Hb": battery.heartbeat,
            "Typ": 4,  # lithium-ion
            "State": 99 if battery.fault else 3,  # FAULT / CONNECTED
            "Evt1": battery.alarms,
            "Evt2": 0,
            "EvtVnd1": 0,
            "EvtVnd2": 0,
            "V": _tenths(battery.pack_v),
            "CellVMax": _milli(battery.cell_v_max),
            "CellVMin": _milli(battery.cell_v_min),
            "CellVAvg": _milli((battery.cell_v_max + battery.cell_v_min) / 2),
            "A": _tenths(battery.pack_a),
            "W": round(battery.w),
            "AHRtg_SF": _SF_UNITS,
            "WHRtg_SF": _SF_UNITS,
            "WChaDisChaMax_SF": _SF_UNITS,
            "SoC_SF": _SF_TENTHS,
            "SoH_SF": _SF_TENTHS,
            "V_SF": _SF_TENTHS,
            "CellV_SF": _SF_MILLI,
            "A_SF": _SF_TENTHS,
            "W_SF": _SF_UNITS,
        },
        MODEL_DER_CONTROLS: {
            "WSetEna": ENABLED if setpoint.enabled else 0,
            "WSetMod": setpoint.mode,
            "WSet": setpoint.setpoint_w,
            "WSetRvrt": setpoint.revert_w,
            "WSetEnaRvrt": ENABLED if setpoint.revert_enabled else 0,
            "WSetRvrtTms": setpoint.revert_s,
            "WSetRvrtRem": setpoint.revert_remaining_s,
            "WSet_SF": _SF_UNITS,
        },
        MODEL_LIVING_ROOM: {
            "Src": room.source,
            "W": round(room.w),
            "TotWh": room.tot_wh,
            "Pwr": _ON if room.powered else _OFF,
            "W_SF": _SF_UNITS,
        },
        **_bus_values(state),
    }


def _bus_values(state: FlatState) -> dict[int, dict[str, PointValue]]:
    bus = state.bus
    if bus is None:
        return {}
    return {
        MODEL_BUILDING_BUS: {
            "Avail": _ON if bus.available else _OFF,
            "St": bus.status,
            "WSet": bus.setpoint_w,
            "W": round(bus.w),
            "TotWhExp": bus.tot_wh_exp,
            "TotWhImp": bus.tot_wh_imp,
            "WSetRvrtTms": bus.revert_s,
            "WSetRvrtRem": bus.revert_remaining_s,
            "W_SF": _SF_UNITS,
            "TotWh_SF": _SF_UNITS,
        }
    }


_VALUES: Final[
    dict[UnitRole, Callable[[FlatState], dict[int, dict[str, PointValue]]]]
] = {
    UnitRole.PV: _pv_values,
    UnitRole.BATTERY: _battery_values,
    UnitRole.METER: _meter_values,
}


@dataclass(frozen=True, slots=True)
class _Writable:
    """A point a client may write, and which values the device accepts."""

    accepts: Callable[[int], bool]
    rule: str


# Everything else is read-only. Values are register values (after scaling).
_WRITABLE: Final[dict[tuple[int, str], _Writable]] = {
    (MODEL_BATTERY, "SoCRsvMin"): _Writable(lambda v: 0 <= v <= 1000, "0–100 %"),
    (MODEL_DER_CONTROLS, "WSetEna"): _Writable(lambda v: v in (0, 1), "0 or 1"),
    (MODEL_DER_CONTROLS, "WSetMod"): _Writable(lambda v: v == MODE_WATTS, "1 (watts)"),
    (MODEL_DER_CONTROLS, "WSet"): _Writable(
        lambda v: v != _INT32_NOT_IMPLEMENTED, "a number of watts"
    ),
    (MODEL_DER_CONTROLS, "WSetRvrt"): _Writable(
        lambda v: v != _INT32_NOT_IMPLEMENTED, "a number of watts"
    ),
    (MODEL_DER_CONTROLS, "WSetEnaRvrt"): _Writable(lambda v: v in (0, 1), "0 or 1"),
    (MODEL_DER_CONTROLS, "WSetRvrtTms"): _Writable(
        lambda v: v != _UINT32_NOT_IMPLEMENTED, "seconds"
    ),
    (MODEL_LIVING_ROOM, "Src"): _Writable(lambda v: v in (0, 1), "0 (grid) or 1"),
    (MODEL_BUILDING_BUS, "WSet"): _Writable(
        lambda v: -_BUS_MAX_W <= v <= _BUS_MAX_W, f"within ±{_BUS_MAX_W} W"
    ),
    (MODEL_BUILDING_BUS, "WSetRvrtTms"): _Writable(
        lambda v: v != _UINT32_NOT_IMPLEMENTED, "seconds"
    ),
}
# Writing either of these re-arms the 704 revert timer; 64901 WSet re-arms the bus's.
_REARMING: Final = frozenset(
    {(MODEL_DER_CONTROLS, "WSet"), (MODEL_DER_CONTROLS, "WSetEna")}
)


class FlatUnit:
    """One of the flat's units as a register device (see ``RegisterDevice``).

    A subclass serves other models by overriding ``_models``, ``_values``,
    ``writable`` and ``_apply`` (see ``units_1xx``).
    """

    writable: Mapping[tuple[int, str], _Writable] = _WRITABLE

    def __init__(
        self,
        role: UnitRole,
        flat: Flat,
        unit_id: int,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """Serve ``role``'s chain of ``flat`` at SunSpec base 40000.

        ``on_write`` runs after an accepted write, so the owner can let the flat
        react at once (a relay that switches, a setpoint that applies).
        """
        self.role = role
        self._on_write = on_write
        self.flat = flat
        self.unit_id = unit_id
        self.chain = ChainLayout(self._models())
        self._counters = {
            point: model_id
            for point, model_id in COUNTERS[role].items()
            if any(m.layout.model_id == model_id for m in self.chain.models)
        }
        self._common = _common(role, flat, unit_id)
        self._cache: tuple[int, list[int]] | None = None
        self._glitches: dict[str, GlitchKind] = {}

    def _models(self) -> tuple[int, ...]:
        """The chain this unit serves."""
        return chain_of(self.role, self.flat.config.building_bus)

    def _values(self, state: FlatState) -> dict[int, dict[str, PointValue]]:
        """Every model's point values for ``state``."""
        return _VALUES[self.role](state)

    def registers(self) -> list[int]:
        """The whole chain as it reads now (no glitch applied)."""
        revision = self.flat.revision
        if self._cache is None or self._cache[0] != revision:
            values = self._values(self.flat.state())
            values[MODEL_COMMON] = self._common
            self._cache = (revision, self.chain.render(values))
        return self._cache[1]

    def glitch(self, point: str, kind: GlitchKind) -> None:
        """Make the next read that covers counter ``point`` show a wrong value."""
        if point not in self._counters:
            raise ValueError(
                f"{self.role} has no counter {point!r};"
                f" choose from {sorted(self._counters)}"
            )
        self._glitches[point] = kind

    def _check_alive(self) -> None:
        if self.role in self.flat.failing_units:
            raise ModbusRefusal(ExceptionCode.DEVICE_FAILURE, f"{self.role} has failed")

    def _offsets(self, address: int, count: int) -> range:
        start = address - self.chain.base
        if count < 1 or start < 0 or start + count > self.chain.size:
            raise ModbusRefusal(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"{address}+{count} is outside {self.chain.base}–{self.chain.end - 1}",
            )
        return range(start, start + count)

    def read(self, address: int, count: int) -> list[int]:
        """``count`` registers from ``address``, with a pending glitch applied once."""
        self._check_alive()
        offsets = self._offsets(address, count)
        words = self.registers()[offsets.start : offsets.stop]
        for point_name, kind in list(self._glitches.items()):
            placed = self.chain.model(self._counters[point_name])
            point = placed.layout.point(point_name)
            start = placed.address_of(point_name)
            if start + point.size <= address or start >= address + count:
                continue
            true_wh = decode(
                point, self.registers()[start - self.chain.base :][: point.size]
            )
            assert isinstance(true_wh, int)
            wrong = encode(point, glitched_wh(true_wh, kind))
            for i, word in enumerate(wrong):
                if address <= start + i < address + count:
                    words[start + i - address] = word
            del self._glitches[point_name]
        return words

    def check_write(self, address: int, count: int) -> None:
        """Refuse a write to these registers before seeing its values."""
        self._writable_points(address, count)

    def _writable_points(
        self, address: int, count: int
    ) -> dict[tuple[int, str], tuple[int, Point]]:
        """The writable points a write touches; refuses read-only registers."""
        self._check_alive()
        self._offsets(address, count)
        touched: dict[tuple[int, str], tuple[int, Point]] = {}
        for register in range(address, address + count):
            found = self.chain.point_at(register)
            if found is None or (
                (found[0].layout.model_id, found[1].name) not in self.writable
            ):
                raise ModbusRefusal(
                    ExceptionCode.ILLEGAL_ADDRESS, f"register {register} is read-only"
                )
            placed, point = found
            touched[(placed.layout.model_id, point.name)] = (
                placed.address_of(point.name),
                point,
            )
        return touched

    def write(self, address: int, words: Sequence[int]) -> None:
        """Write writable points, all or nothing; refuse read-only or bad values."""
        touched = self._writable_points(address, len(words))
        offsets = self._offsets(address, len(words))
        image = list(self.registers())
        image[offsets.start : offsets.stop] = words
        changes: dict[tuple[int, str], int] = {}
        for key, (start, point) in touched.items():
            value = decode(point, image[start - self.chain.base :][: point.size])
            assert isinstance(value, int)
            writable = self.writable[key]
            if not writable.accepts(value):
                raise ModbusRefusal(
                    ExceptionCode.ILLEGAL_VALUE,
                    f"{point.name}={value} refused: must be {writable.rule}",
                )
            changes[key] = value
        self._apply(changes)

    def _apply(self, changes: Mapping[tuple[int, str], int]) -> None:
        flat, controls, bus = self.flat, self.flat.controls, self.flat.bus_control
        for (model_id, name), value in changes.items():
            # Literal model ids: a bare constant name here would be a capture pattern.
            match model_id, name:
                case _, "SoCRsvMin":
                    flat.reserve_pct = value / 10
                case _, "Src":
                    flat.source = LivingRoomSource(value)
                case 704, "WSetEna":
                    controls.enabled = value
                case 704, "WSetMod":
                    controls.mode = value
                case 704, "WSet":
                    controls.setpoint_w = value
                case 704, "WSetRvrt":
                    controls.revert_w = value
                case 704, "WSetEnaRvrt":
                    controls.revert_enabled = value
                case 704, "WSetRvrtTms":
                    controls.revert_s = value
                case 64901, "WSet":
                    bus.setpoint_w = value
                case 64901, "WSetRvrtTms":
                    bus.revert_s = value
        if _REARMING & changes.keys():
            controls.rearm()
        if (MODEL_BUILDING_BUS, "WSet") in changes:
            bus.rearm()
        flat.revision += 1
        if self._on_write is not None:
            self._on_write()
