"""A flat whose devices serve the older SunSpec integer models (a "1xx" flat).

PV inverter: 1 + 103 + 123 (immediate controls; without 123 when
``FlatConfig.sunspec_controls`` is off). Battery: 1 + 103 + 124 (storage). Meter:
1 + 203, or 1 + one of the float meters 211–214 when ``FlatConfig.sunspec_meter``
(``--sunspec-meter``) says so: the same quantities as float32 values in W, V, Hz
and Wh, without scale factors. There is no living-room model: such a flat's living
room is switched by a relay Home Assistant drives, or by the inverter's backup
output by itself.

``leave_unimplemented`` makes a unit serve points as "not implemented" from then on
(the type's sentinel; NaN for a float), as a device does that cannot measure them;
``serve_fixed`` makes it serve a value of its own (an infinity, say).

Model 124's rates drive the same setpoint as model 704 does: with ``StorCtl_Mod``
bit 1 (discharge) and a positive ``OutWRte``, the battery discharges at that
percentage of ``WChaMax``; with bit 0 (charge) and a positive ``InWRte`` it charges.
``InOutWRte_RvrtTms`` is the revert timer: when it runs out, the battery returns to
its own logic and ``StorCtl_Mod`` reads 0 again. Meter power is + import, the
SunSpec meter convention.

Model 123 drives the PV inverter's ``PvControls``: ``Conn`` 0 disconnects it,
``WMaxLimPct`` (0.1 % steps) with ``WMaxLim_Ena`` 1 caps its output at that share
of its rated power; ``Conn_RvrtTms`` and ``WMaxLimPct_RvrtTms`` are their revert
timers, started by a write of ``Conn`` or ``WMaxLim_Ena``. The power-factor and
VAr controls are served disabled and refuse writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ..model.config import UnitRole
from ..model.controls import DISABLED, ENABLED, MODE_WATTS
from ..model.flat import Flat
from ..model.pv_controls import PvControls
from ..model.state import FlatState
from .sunspec_map import (
    MODEL_COMMON,
    MODEL_CONTROLS_1XX,
    MODEL_INVERTER_1XX,
    MODEL_METER_1XX,
    MODEL_STORAGE_1XX,
    PointValue,
)
from .units import FlatUnit, _Writable

CHAINS_1XX: Final[dict[UnitRole, tuple[int, ...]]] = {
    UnitRole.PV: (MODEL_COMMON, MODEL_INVERTER_1XX),
    UnitRole.BATTERY: (MODEL_COMMON, MODEL_INVERTER_1XX, MODEL_STORAGE_1XX),
    UnitRole.METER: (MODEL_COMMON, MODEL_METER_1XX),
}
CHARGE_BIT: Final = 1
DISCHARGE_BIT: Final = 2
# Model 103 St: 4 producing (MPPT), 8 standby, 2 sleeping, 7 fault.
_PRODUCING, _SLEEPING, _STANDBY, _FAULT = 4, 2, 8, 7
# Model 123: WMaxLimPct in 0.1 %; OutPFSet (served, never driven) in 0.001.
_LIMIT_SF: Final = -1
_PF_SF: Final = -3
# Rates in 0.1 % of WChaMax.
_RATE_SF: Final = -1
_MAX_RATE: Final = 1000


def _inverter(
    state: FlatState, power_w: float, energy_wh: int, status: int
) -> dict[str, PointValue]:
    return {
        "PhVphA": round(state.grid.voltage_v * 10),
        "V_SF": -1,
        "W": round(power_w),
        "W_SF": 0,
        "Hz": round(state.grid.frequency_hz * 100),
        "Hz_SF": -2,
        # A 32-bit accumulator wraps; the integration carries it across.
        "WH": energy_wh % (1 << 32),
        "WH_SF": 0,
        "St": status,
    }


def _pv(state: FlatState) -> dict[int, dict[str, PointValue]]:
    pv = state.pv
    status = _PRODUCING if pv.w > 0 else (_SLEEPING if pv.connected else _STANDBY)
    return {MODEL_INVERTER_1XX: _inverter(state, pv.w, pv.tot_wh_inj, status)}


def _controls(controls: PvControls) -> dict[str, PointValue]:
    """Model 123 as the PV inverter holds it now."""
    return {
        "Conn_RvrtTms": controls.connect_revert_s,
        "Conn": controls.connect,
        "WMaxLimPct": round(controls.limit_pct * 10),
        "WMaxLimPct_RvrtTms": controls.limit_revert_s,
        "WMaxLim_Ena": controls.limit_enabled,
        "OutPFSet": 1000,
        "OutPFSet_Ena": 0,
        "VArPct_Ena": 0,
        "WMaxLimPct_SF": _LIMIT_SF,
        "OutPFSet_SF": _PF_SF,
    }


def _meter(state: FlatState, model_id: int) -> dict[int, dict[str, PointValue]]:
    meter = state.meter
    if model_id != MODEL_METER_1XX:
        return {model_id: _float_meter(state)}
    return {
        MODEL_METER_1XX: {
            "PhVphA": round(state.grid.voltage_v * 10),
            "V_SF": -1,
            "Hz": round(state.grid.frequency_hz * 100),
            "Hz_SF": -2,
            "W": round(-meter.w),  # + import
            "W_SF": 0,
            "TotWhExp": meter.tot_wh_inj % (1 << 32),
            "TotWhImp": meter.tot_wh_abs % (1 << 32),
            "TotWh_SF": 0,
        }
    }


def _float_meter(state: FlatState) -> dict[str, PointValue]:
    """Models 211–214: plain values, + import; totals count on without wrapping."""
    meter, grid = state.meter, state.grid
    return {
        "PhV": grid.voltage_v,
        "PhVphA": grid.voltage_v,
        "Hz": grid.frequency_hz,
        "W": -meter.w,
        "TotWhExp": float(meter.tot_wh_inj),
        "TotWhImp": float(meter.tot_wh_abs),
    }


class FlatUnit1xx(FlatUnit):
    """One of a 1xx flat's units."""

    writable: Mapping[tuple[int, str], _Writable] = {
        (MODEL_STORAGE_1XX, "StorCtl_Mod"): _Writable(
            lambda v: 0 <= v <= 3, "0–3 (bit 0 charge, bit 1 discharge)"
        ),
        (MODEL_STORAGE_1XX, "OutWRte"): _Writable(
            lambda v: -_MAX_RATE <= v <= _MAX_RATE, "within ±100 %"
        ),
        (MODEL_STORAGE_1XX, "InWRte"): _Writable(
            lambda v: -_MAX_RATE <= v <= _MAX_RATE, "within ±100 %"
        ),
        (MODEL_STORAGE_1XX, "InOutWRte_RvrtTms"): _Writable(
            lambda v: 0 <= v < 0xFFFF, "seconds"
        ),
        (MODEL_STORAGE_1XX, "MinRsvPct"): _Writable(
            lambda v: 0 <= v <= 1000, "0–100 %"
        ),
        (MODEL_CONTROLS_1XX, "Conn"): _Writable(lambda v: v in (0, 1), "0 or 1"),
        (MODEL_CONTROLS_1XX, "Conn_RvrtTms"): _Writable(
            lambda v: 0 <= v < 0xFFFF, "seconds"
        ),
        (MODEL_CONTROLS_1XX, "WMaxLimPct"): _Writable(
            lambda v: 0 <= v <= 1000, "0–100 %"
        ),
        (MODEL_CONTROLS_1XX, "WMaxLimPct_RvrtTms"): _Writable(
            lambda v: 0 <= v < 0xFFFF, "seconds"
        ),
        (MODEL_CONTROLS_1XX, "WMaxLim_Ena"): _Writable(lambda v: v in (0, 1), "0 or 1"),
    }

    def __init__(
        self,
        role: UnitRole,
        flat: Flat,
        unit_id: int,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """Serve ``role``'s 1xx chain of ``flat``."""
        self.out_rate = 0
        self.in_rate = 0
        self.mode_bits = 0
        # Points served as fixed by a test: a value, or None for "not implemented".
        self._fixed: dict[str, PointValue | None] = {}
        super().__init__(role, flat, unit_id, on_write)

    def _models(self) -> tuple[int, ...]:
        if self.role is UnitRole.METER:
            return (MODEL_COMMON, self.flat.config.sunspec_meter)
        if self.role is UnitRole.PV and self.flat.config.sunspec_controls:
            return (*CHAINS_1XX[self.role], MODEL_CONTROLS_1XX)
        return CHAINS_1XX[self.role]

    def leave_unimplemented(self, *points: str) -> None:
        """Serve ``points`` as "not implemented" from now on."""
        for point in points:
            self._fix(point, None)

    def serve_fixed(self, point: str, value: PointValue) -> None:
        """Serve ``value`` for ``point`` from now on, whatever the physics says."""
        self._fix(point, value)

    def _fix(self, point: str, value: PointValue | None) -> None:
        if not any(point in model.layout.points for model in self.chain.models):
            raise ValueError(f"{self.role} serves no point {point!r}")
        self._fixed[point] = value
        self._cache = None

    def _values(self, state: FlatState) -> dict[int, dict[str, PointValue]]:
        served = self._served(state)
        for model in self.chain.models:
            values = served.setdefault(model.layout.model_id, {})
            for name, value in self._fixed.items():
                if name not in model.layout.points:
                    continue
                if value is None:
                    values.pop(name, None)
                else:
                    values[name] = value
        return served

    def _served(self, state: FlatState) -> dict[int, dict[str, PointValue]]:
        if self.role is UnitRole.PV:
            return _pv(state) | {MODEL_CONTROLS_1XX: _controls(self.flat.pv_controls)}
        if self.role is UnitRole.METER:
            return _meter(state, self.flat.config.sunspec_meter)
        battery, setpoint = state.battery, state.setpoint
        status = _FAULT if battery.fault else _PRODUCING
        return {
            MODEL_INVERTER_1XX: _inverter(state, battery.w, battery.tot_wh_inj, status),
            MODEL_STORAGE_1XX: {
                "WChaMax": round(battery.max_charge_w),
                "WChaMax_SF": 0,
                "StorCtl_Mod": self.mode_bits if setpoint.enabled else 0,
                "MinRsvPct": round(battery.reserve_pct * 10),
                "MinRsvPct_SF": -1,
                "ChaState": round(battery.soc_pct * 10),
                "ChaState_SF": -1,
                "InBatV": round(battery.pack_v * 10),
                "InBatV_SF": -1,
                "ChaSt": battery.charge_state,
                "OutWRte": self.out_rate,
                "InWRte": self.in_rate,
                "InOutWRte_RvrtTms": setpoint.revert_s,
                "InOutWRte_SF": _RATE_SF,
            },
        }

    def _apply(self, changes: Mapping[tuple[int, str], int]) -> None:
        flat, controls = self.flat, self.flat.controls
        pv = flat.pv_controls
        for (_, name), value in changes.items():
            match name:
                case "Conn":
                    pv.connect = value
                    pv.arm_connect()
                case "Conn_RvrtTms":
                    pv.connect_revert_s = value
                case "WMaxLimPct":
                    pv.limit_pct = value / 10
                case "WMaxLimPct_RvrtTms":
                    pv.limit_revert_s = value
                case "WMaxLim_Ena":
                    pv.limit_enabled = value
                    pv.arm_limit()
                case "StorCtl_Mod":
                    self.mode_bits = value
                case "OutWRte":
                    self.out_rate = value
                case "InWRte":
                    self.in_rate = value
                case "InOutWRte_RvrtTms":
                    controls.revert_s = value
                case "MinRsvPct":
                    flat.reserve_pct = value / 10
        rates = {"StorCtl_Mod", "OutWRte", "InWRte"}
        if rates & {name for _, name in changes}:
            max_w = flat.config.battery.max_charge_w
            power_w = 0.0
            if self.mode_bits & DISCHARGE_BIT and self.out_rate > 0:
                power_w = max_w * self.out_rate / _MAX_RATE
            elif self.mode_bits & CHARGE_BIT and self.in_rate > 0:
                power_w = -max_w * self.in_rate / _MAX_RATE
            controls.enabled = ENABLED if self.mode_bits else DISABLED
            controls.mode = MODE_WATTS
            controls.setpoint_w = round(power_w)
            controls.revert_w = 0
            controls.revert_enabled = DISABLED
            controls.rearm()
        flat.revision += 1
        if self._on_write is not None:
            self._on_write()


def flat_unit(
    role: UnitRole, flat: Flat, unit_id: int, on_write: Callable[[], None] | None
) -> FlatUnit:
    """The unit ``role`` of ``flat``, as its ``sunspec`` setting says."""
    unit_class = FlatUnit1xx if flat.config.sunspec == "1xx" else FlatUnit
    return unit_class(role, flat, unit_id, on_write=on_write)
