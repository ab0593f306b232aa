"""One poll's worth of a flat's measurements, in engineering units.

A value is ``None`` when the device did not say (unit unreachable, point unimplemented):
callers show that as unknown, never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Model 64901 St: the flat's side of the building bus.
BUS_OFF: Final = 0
BUS_STANDBY: Final = 1
BUS_ACTIVE: Final = 2
BUS_STATES: Final = {BUS_OFF: "off", BUS_STANDBY: "standby", BUS_ACTIVE: "active"}


@dataclass(frozen=True, slots=True)
class PvReading:
    """The PV inverter's output."""

    power_w: float | None
    energy_wh: float | None
    connected: bool | None


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """The battery and its hybrid inverter (sign: + discharging, − charging)."""

    power_w: float | None
    soc_pct: float | None
    soh_pct: float | None
    cycles: int | None
    charged_wh: float | None
    discharged_wh: float | None
    rated_wh: float | None
    available_wh: float | None
    min_soc_pct: float | None
    reserve_soc_pct: float | None
    max_charge_w: float | None
    max_discharge_w: float | None
    cell_v_max: float | None
    cell_v_min: float | None
    alarms: int | None
    inverter_connected: bool | None
    inverter_faulted: bool | None
    setpoint_enabled: bool | None
    setpoint_w: float | None
    setpoint_revert_remaining_s: int | None


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The flat's grid connection point (sign: + export, − import)."""

    power_w: float | None
    imported_wh: float | None
    exported_wh: float | None
    voltage_v: float | None
    frequency_hz: float | None
    connected: bool | None

    @property
    def import_power_w(self) -> float | None:
        """Power drawn from the grid, ≥ 0."""
        return None if self.power_w is None else max(0.0, -self.power_w)

    @property
    def export_power_w(self) -> float | None:
        """Power fed into the grid, ≥ 0."""
        return None if self.power_w is None else max(0.0, self.power_w)


@dataclass(frozen=True, slots=True)
class LivingRoomReading:
    """The living-room circuit."""

    on_battery: bool | None
    power_w: float | None
    energy_wh: float | None
    powered: bool | None


@dataclass(frozen=True, slots=True)
class ConditionerReading:
    """A hybrid power conditioner's AC side (sign: + giving power out, − taking in).

    Read from an ECHONET Lite multi-input PCS (class 0x02A5) where the node has one.
    """

    power_w: float | None
    output_wh: float | None
    input_wh: float | None
    independent: bool | None


@dataclass(frozen=True, slots=True)
class InverterControlsReading:
    """A PV inverter's immediate controls (SunSpec model 123), as it holds them.

    ``connected`` is ``Conn``: whether the inverter is told to stay connected to
    the grid, not a measurement of the grid. The output limit is ``limit_pct`` % of
    its maximum power while ``limit_enabled``. A revert time is how long a written
    value holds before the inverter drops it by itself (0: until changed).
    """

    connected: bool | None
    connect_revert_s: int | None
    limit_enabled: bool | None
    limit_pct: float | None
    limit_revert_s: int | None

    @property
    def output_limit_pct(self) -> float | None:
        """The limit in force: ``limit_pct`` while enabled, 100 % while not."""
        if self.limit_enabled is None:
            return None
        return self.limit_pct if self.limit_enabled else 100.0


@dataclass(frozen=True, slots=True)
class BusReading:
    """The flat's side of the building bus (sign: + export to the bus, − import)."""

    wired: bool | None
    state: int | None
    setpoint_w: float | None
    power_w: float | None
    exported_wh: float | None
    imported_wh: float | None
    revert_s: int | None
    revert_remaining_s: int | None

    @property
    def state_name(self) -> str | None:
        """``off``, ``standby`` or ``active``; ``None`` for a value we do not know."""
        return None if self.state is None else BUS_STATES.get(self.state)

    @property
    def active(self) -> bool:
        """Wired and closed: the grid is out and the bus carries power."""
        return bool(self.wired) and self.state == BUS_ACTIVE


@dataclass(frozen=True, slots=True)
class FlatReading:
    """Everything one poll learned; a part is ``None`` when its unit did not answer."""

    pv: PvReading | None
    battery: BatteryReading | None
    meter: MeterReading | None
    living_room: LivingRoomReading | None
    # Only a flat whose battery unit serves model 64901 has a building bus.
    bus: BusReading | None = None
    # Only a flat whose ECHONET Lite node has a multi-input PCS (0x02A5).
    conditioner: ConditionerReading | None = None
    # Only a flat whose PV inverter serves SunSpec model 123.
    pv_controls: InverterControlsReading | None = None
