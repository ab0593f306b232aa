"""How a simulated flat is set up: its devices, its site, its network address."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ..physics.battery import BatterySpec
from ..physics.pv import Site


class UnitRole(StrEnum):
    """The three devices a flat has on its Modbus connection."""

    PV = "pv"
    BATTERY = "battery"
    METER = "meter"


@dataclass(frozen=True, slots=True)
class UnitIds:
    """Modbus unit id of each device (docs/REGISTERS.md defaults)."""

    pv: int = 1
    battery: int = 2
    meter: int = 3

    def __post_init__(self) -> None:
        """Refuse ids Modbus TCP cannot address or that collide."""
        ids = (self.pv, self.battery, self.meter)
        if any(not 1 <= unit_id <= 247 for unit_id in ids):
            raise ValueError("unit ids must be within 1–247")
        if len(set(ids)) != len(ids):
            raise ValueError("unit ids must differ")

    def by_role(self) -> dict[UnitRole, int]:
        """The ids keyed by role."""
        return {
            UnitRole.PV: self.pv,
            UnitRole.BATTERY: self.battery,
            UnitRole.METER: self.meter,
        }


@dataclass(frozen=True, slots=True)
class FlatConfig:
    """Everything that makes one simulated flat; defaults are a Fukuoka flat.

    ``port`` 0 picks a free port (see ``FlatSimulator.port``). ``start`` is the
    simulated time at start-up (naive local time at the site); ``None`` means now.
    A manual clock moves only when ``advance`` is called; otherwise simulated time
    runs ``speed`` times faster than real time.
    """

    flat: str = "101"
    host: str = "127.0.0.1"
    port: int = 5020
    unit_ids: UnitIds = field(default_factory=UnitIds)
    seed: int = 1
    speed: float = 1.0
    manual_clock: bool = False
    start: datetime | None = None
    area_hz: int = 60
    nominal_v: float = 100.0
    site: Site = field(default_factory=Site)
    pv_peak_w: float = 2000.0
    cloud_cover: float = 0.0
    load_scale: float = 1.0
    # Hours the household's day runs later (+) or earlier (−) than the profile.
    load_shift_h: float = 0.0
    battery: BatterySpec = field(default_factory=BatterySpec)
    soc_pct: float = 50.0
    soh_pct: float = 100.0
    reserve_pct: float = 20.0
    # Anti-islanding: after the grid returns, inverters wait this long before they
    # connect again (grid codes ask for minutes; 0 keeps tests short).
    reconnect_delay_s: float = 0.0
    # A flat in a building with a building bus: the battery unit serves model 64901
    # after 64900. ``bus_wired`` says whether the building's wiring reaches this flat.
    building_bus: bool = False
    bus_wired: bool = True
    # Longest physics step; advancing by more is done in steps of at most this.
    max_step_s: float = 1.0
    # Real seconds between physics updates when the clock runs by itself.
    tick_s: float = 0.1

    def __post_init__(self) -> None:
        """Refuse a set-up that no real flat could have."""
        checks = (
            (0 <= self.port <= 65535, "port must be within 0–65535"),
            (self.speed > 0, "speed must be positive"),
            (self.area_hz in (50, 60), "area must be 50 or 60 Hz"),
            (50 <= self.nominal_v <= 400, "nominal voltage must be within 50–400 V"),
            (0 <= self.pv_peak_w <= 30000, "PV peak must be within 0–30000 W"),
            (0 <= self.cloud_cover <= 1, "cloud cover must be within 0–1"),
            (0 <= self.load_scale <= 10, "load scale must be within 0–10"),
            (-12 <= self.load_shift_h <= 12, "load shift must be within ±12 h"),
            (
                1000 <= self.battery.capacity_wh <= 10000,
                "battery capacity must be within 1000–10000 Wh",
            ),
            (
                0 < self.battery.max_charge_w <= 10000
                and 0 < self.battery.max_discharge_w <= 10000,
                "battery power limits must be within 1–10000 W",
            ),
            (
                0 < self.battery.charge_efficiency <= 1
                and 0 < self.battery.discharge_efficiency <= 1,
                "efficiencies must be within 0–1",
            ),
            (
                0 <= self.battery.soc_min_pct < self.battery.soc_max_pct <= 100,
                "SoC limits must satisfy 0 ≤ min < max ≤ 100",
            ),
            (0 <= self.soc_pct <= 100, "SoC must be within 0–100 %"),
            (0 < self.soh_pct <= 100, "SoH must be within 0–100 %"),
            (0 <= self.reserve_pct <= 100, "reserve must be within 0–100 %"),
            (self.reconnect_delay_s >= 0, "reconnect delay must not be negative"),
            (self.max_step_s > 0, "max step must be positive"),
            (self.tick_s > 0, "tick must be positive"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def serial(self, role: UnitRole) -> str:
        """The serial number a unit reports; the battery's names the installation."""
        suffix = {UnitRole.PV: "PV", UnitRole.BATTERY: "BAT", UnitRole.METER: "MTR"}
        return f"LVPP-{self.flat}-{suffix[role]}"
