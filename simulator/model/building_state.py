"""A snapshot of a building: its meter, its bus and every flat, in engineering units."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .state import FlatState, GridState


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
