"""A snapshot of a flat in engineering units: what its registers say, and more."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class GridState:
    """The grid at the flat's connection point (0 V, 0 Hz during an outage)."""

    up: bool
    voltage_v: float
    frequency_hz: float
    nominal_v: float
    nominal_hz: float


@dataclass(frozen=True, slots=True)
class PvState:
    """The PV inverter (unit ``pv``, model 701)."""

    w: float
    connected: bool
    inverter_state: int
    produced_wh: float
    tot_wh_inj: int


@dataclass(frozen=True, slots=True)
class BatteryState:
    """The battery and its hybrid inverter (unit ``battery``, models 701/713/802).

    ``w`` is + discharging, − charging (AC side), as the registers say.
    """

    w: float
    soc_pct: float
    soh_pct: float
    soc_min_pct: float
    soc_max_pct: float
    reserve_pct: float
    rated_wh: float
    available_wh: float
    max_charge_w: float
    max_discharge_w: float
    cycles: int
    cell_v_max: float
    cell_v_min: float
    pack_v: float
    pack_a: float
    charge_state: int
    heartbeat: int
    alarms: int
    fault: bool
    inverter_state: int
    connected: bool
    charged_wh: float
    discharged_wh: float
    tot_wh_inj: int
    tot_wh_abs: int


@dataclass(frozen=True, slots=True)
class SetpointState:
    """Model 704's setpoint and revert timer."""

    enabled: bool
    mode: int
    setpoint_w: int
    revert_w: int
    revert_enabled: bool
    revert_s: int
    revert_remaining_s: int


@dataclass(frozen=True, slots=True)
class LivingRoomState:
    """The living-room circuit (model 64900). ``source`` 0 grid, 1 battery.

    ``on_battery`` says whether the battery really feeds it now; it may not (battery
    at SoCMin or faulted), and then the grid does, or nothing during an outage.
    """

    source: int
    on_battery: bool
    powered: bool
    w: float
    demand_w: float
    energy_wh: float
    tot_wh: int


@dataclass(frozen=True, slots=True)
class MeterState:
    """The flat's grid meter (unit ``meter``): ``w`` + export, − import."""

    w: float
    connected: bool
    voltage_v: float
    frequency_hz: float
    exported_wh: float
    imported_wh: float
    tot_wh_inj: int
    tot_wh_abs: int


@dataclass(frozen=True, slots=True)
class LoadState:
    """What the flat consumes right now (served load, living room included)."""

    total_w: float
    rest_w: float


@dataclass(frozen=True, slots=True)
class BusState:
    """The flat's side of the building bus (model 64901).

    ``w`` is + exported to the bus, − imported from it, at the flat's terminals.
    ``status`` 0 off (not wired, or tripped), 1 standby (grid up), 2 active.
    """

    available: bool
    status: int
    setpoint_w: int
    w: float
    revert_s: int
    revert_remaining_s: int
    exported_wh: float
    imported_wh: float
    tot_wh_exp: int
    tot_wh_imp: int


@dataclass(frozen=True, slots=True)
class FlatState:
    """Everything about one flat at one simulated moment."""

    flat: str
    time: datetime
    elapsed_s: float
    cloud_cover: float
    grid: GridState
    pv: PvState
    battery: BatteryState
    setpoint: SetpointState
    living_room: LivingRoomState
    meter: MeterState
    load: LoadState
    failing_units: tuple[str, ...]
    # Only for a flat in a building with a building bus.
    bus: BusState | None = None

    def to_json(self) -> dict[str, object]:
        """The snapshot as JSON-ready data (time as ISO 8601)."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["failing_units"] = list(self.failing_units)
        return data
