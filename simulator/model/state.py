"""Snapshots in engineering units: what the registers say, and more.

A ``BuildingState`` is the whole simulation at one moment: the grid, the building
meter, the bus and every flat's ``FlatState``. A flat on its own is a building of
one; what it shows of itself is its ``FlatState``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..physics.battery import Degradation


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
    degradation: Degradation


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


@dataclass(frozen=True, slots=True)
class BuildingMeterState:
    """The building's point of connection (bulk supply): ``w`` + export, − import.

    ``w`` = ``flats_w`` − ``common_w``: the sum of the flats' meters, less what the
    common areas draw. 0 during an outage.
    """

    w: float
    connected: bool
    voltage_v: float
    frequency_hz: float
    flats_w: float
    common_w: float
    exported_wh: float
    imported_wh: float
    common_wh: float
    tot_wh_inj: int
    tot_wh_abs: int


@dataclass(frozen=True, slots=True)
class BuildingBusState:
    """The building bus as a whole, W and Wh at the flats' terminals.

    ``imported`` = ``exported`` − ``loss``, always.
    """

    active: bool
    loss_pct: float
    wired_flats: int
    exported_w: float
    imported_w: float
    loss_w: float
    exported_wh: float
    imported_wh: float
    loss_wh: float


@dataclass(frozen=True, slots=True)
class ScheduledEvent:
    """Something that will happen at ``at_s`` simulated seconds since the start."""

    at_s: float
    label: str


@dataclass(frozen=True, slots=True)
class BuildingState:
    """Everything about the building at one simulated moment."""

    time: datetime
    elapsed_s: float
    cloud_cover: float
    grid: GridState
    meter: BuildingMeterState
    bus: BuildingBusState
    flats: tuple[FlatState, ...]
    vanished: tuple[str, ...]
    scheduled: tuple[ScheduledEvent, ...]
    event_errors: tuple[str, ...] = ()

    def flat(self, flat_id: str) -> FlatState:
        """The state of flat ``flat_id``."""
        for flat in self.flats:
            if flat.flat == flat_id:
                return flat
        raise KeyError(flat_id)

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        """JSON-ready data; each flat as a summary unless ``full``."""
        return {
            "time": self.time.isoformat(),
            "elapsed_s": self.elapsed_s,
            "cloud_cover": self.cloud_cover,
            "grid": asdict(self.grid),
            "building_meter": asdict(self.meter),
            "bus": asdict(self.bus),
            "flats": [
                flat.to_json()
                if full
                else flat_summary(flat, flat.flat in self.vanished)
                for flat in self.flats
            ],
            "vanished": list(self.vanished),
            "scheduled": [asdict(event) for event in self.scheduled],
            "event_errors": list(self.event_errors),
        }


def flat_summary(flat: FlatState, vanished: bool) -> dict[str, object]:
    """The few numbers of a flat that matter for the building."""
    battery, room, bus = flat.battery, flat.living_room, flat.bus
    return {
        "flat": flat.flat,
        "vanished": vanished,
        "soc_pct": round(battery.soc_pct, 2),
        "rated_wh": battery.rated_wh,
        "battery_w": round(battery.w, 1),
        "battery_fault": battery.fault,
        "pv_w": round(flat.pv.w, 1),
        "load_w": round(flat.load.total_w, 1),
        "meter_w": round(flat.meter.w, 1),
        "living_room": {
            "source": room.source,
            "powered": room.powered,
            "on_battery": room.on_battery,
            "w": round(room.w, 1),
        },
        "bus": None
        if bus is None
        else {
            "available": bus.available,
            "status": bus.status,
            "setpoint_w": bus.setpoint_w,
            "w": round(bus.w, 1),
        },
        "failing_units": list(flat.failing_units),
    }
