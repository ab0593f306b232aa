"""How a simulation is set up: a building of flats, or a flat on its own.

A ``BuildingConfig`` says how the flats share a clock, a grid, a roof and a network
address, and how its flats come to differ: every flat gets its own PV share,
battery, starting charge and household from the building's seed, so the same seed
gives the same building. Shares of flats in a band (``soc_bands``,
``capacity_bands``) are exact counts, shuffled over the flats, so a small building
still has the spread it was asked for.

A ``FlatConfig`` is one flat. A flat on its own is a building of one
(``BuildingConfig.of_flat``): that flat, without a building meter, bus or common
areas.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
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

    A flat knows its surroundings too (clock, grid, site): a building gives each of
    its flats its own, and a flat on its own runs as ``BuildingConfig.of_flat``.
    ``port`` 0 picks a free port (see ``Simulator.port``). ``start`` is the
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
    # A flat in a building with a building bus: a 7xx battery unit serves model 64901
    # after 64900; a 1xx or ECHONET Lite flat has a bus changeover controller of its
    # own serving 64901. ``bus_wired`` says whether the building's wiring reaches it.
    building_bus: bool = False
    bus_wired: bool = True
    # "1xx": the units serve the older SunSpec models 103, 124 and 203 instead of
    # the 7xx set, and no living-room model (docs/SIMULATOR.md).
    sunspec: str = "7xx"
    # A 1xx flat's meter model: 203 (integer points with scale factors) or one of
    # the float meters 211–214 (float32 points, NaN when not implemented).
    sunspec_meter: int = 203
    # A 1xx PV inverter serves model 123 (immediate controls: connect, output
    # limit) after its 103; False leaves it out, as many installed inverters do.
    sunspec_controls: bool = True
    # The inverter's backup output takes the living room by itself while the grid is
    # out (as an ECHONET Lite power conditioner's self-sustained output does).
    backup_output_auto: bool = False
    # As an ECHONET Lite node, also serve a multi-input PCS (class 0x02A5): the
    # hybrid power conditioner that PV and battery share, as many Japanese
    # systems expose beside their battery and solar objects.
    echonet_pcs: bool = False
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
            (self.sunspec in ("7xx", "1xx"), "sunspec must be 7xx or 1xx"),
            (
                self.sunspec_meter in (203, 211, 212, 213, 214),
                "the 1xx meter model must be 203 or one of 211–214",
            ),
            (
                self.sunspec == "1xx" or self.sunspec_meter == 203,
                "only a 1xx flat's meter serves another meter model",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def serial(self, role: UnitRole) -> str:
        """The serial number a unit reports; the battery's names the installation."""
        suffix = {UnitRole.PV: "PV", UnitRole.BATTERY: "BAT", UnitRole.METER: "MTR"}
        return f"LVPP-{self.flat}-{suffix[role]}"


type Band = tuple[float, float, float]
"""(share of the flats, lowest value, highest value)."""

MAX_FLATS = 100
# What a lone flat and its building of one must agree on: the flat's settings win.
_SHARED_WITH_FLAT = (
    "host",
    "unit_ids",
    "seed",
    "speed",
    "manual_clock",
    "start",
    "area_hz",
    "nominal_v",
    "site",
    "cloud_cover",
    "reserve_pct",
    "reconnect_delay_s",
    "max_step_s",
    "tick_s",
)


@dataclass(frozen=True, slots=True)
class BuildingConfig:
    """A building of ``flats`` flats on one grid, one roof and one clock.

    Ports: the building meter listens on ``base_port``, flat number *k* (1, 2, …
    in the order 101, 102, …) on ``base_port`` + *k*; ``base_port`` 0 gives every
    endpoint a free port of its own. Flats are numbered by floor: with 10 flats a
    floor, the 11th flat is 201.

    With ``lone_flat`` the building is that one flat on its own, on its own port:
    no building meter, bus or common areas, and its own PV instead of a share of a
    roof. Make it with ``of_flat``, which takes the clock, grid and site from the flat.
    """

    flats: int = 10
    flats_per_floor: int = 10
    host: str = "127.0.0.1"
    base_port: int = 5100
    unit_ids: UnitIds = field(default_factory=UnitIds)
    meter_unit: int = 1
    seed: int = 1
    speed: float = 1.0
    manual_clock: bool = False
    start: datetime | None = None
    area_hz: int = 60
    nominal_v: float = 100.0
    site: Site = field(default_factory=Site)
    cloud_cover: float = 0.0
    # Each flat's share of the rooftop PV, kWp, drawn evenly from this range.
    pv_kwp: tuple[float, float] = (0.5, 3.0)
    # Battery capacity, Wh: mostly small batteries, a few large ones.
    capacity_bands: tuple[Band, ...] = (
        (0.6, 1000.0, 2000.0),
        (0.3, 2000.0, 5000.0),
        (0.1, 5000.0, 10000.0),
    )
    # SoC at start, %.
    soc_bands: tuple[Band, ...] = ((1.0, 30.0, 90.0),)
    # Household size (load scale) and how late its day runs (hours).
    load_scale: tuple[float, float] = (0.6, 1.6)
    load_shift_h: tuple[float, float] = (-1.0, 1.0)
    reserve_pct: float = 20.0
    reconnect_delay_s: float = 0.0
    # Share of flats the building's wiring connects to the bus.
    bus_wired_share: float = 0.8
    # Share of the power exported to the bus that never arrives (wiring, gear).
    bus_loss_pct: float = 3.0
    # Common areas: always-on base plus a per-flat profile (see ``CommonLoad``).
    common_base_w: float = 150.0
    max_step_s: float = 1.0
    tick_s: float = 0.1
    # Every flat's backup output switches by itself (see ``FlatConfig``).
    backup_output_auto: bool = False
    # Flats (1-based positions) of other families. ECHONET Lite flats' backup outputs
    # switch by themselves; SunSpec 1xx flats serve the older models and, without a
    # living-room model, have a backup output that switches by itself. Both reach the
    # bus through a changeover controller of their own.
    echonet_flats: tuple[int, ...] = ()
    sunspec_1xx_flats: tuple[int, ...] = ()
    lone_flat: FlatConfig | None = None

    def __post_init__(self) -> None:
        """Refuse a building that cannot be built."""
        checks = (
            (1 <= self.flats <= MAX_FLATS, f"flats must be within 1–{MAX_FLATS}"),
            (1 <= self.flats_per_floor <= 99, "flats per floor must be within 1–99"),
            (
                self.base_port == 0 or 1 <= self.base_port <= 65535 - self.flats,
                f"base port must be 0 or within 1–{65535 - self.flats}",
            ),
            (1 <= self.meter_unit <= 247, "the meter's unit id must be within 1–247"),
            (self.speed > 0, "speed must be positive"),
            (0 <= self.cloud_cover <= 1, "cloud cover must be within 0–1"),
            (_within(self.pv_kwp, 0, 30), "PV shares must be within 0–30 kWp"),
            (_within(self.load_scale, 0, 10), "load scale must be within 0–10"),
            (_within(self.load_shift_h, -12, 12), "load shift must be within ±12 h"),
            (
                _bands_ok(self.capacity_bands, 1000, 10000),
                "capacity bands must lie within 1000–10000 Wh, shares summing to 1",
            ),
            (
                _bands_ok(self.soc_bands, 0, 100),
                "SoC bands must lie within 0–100 %, shares summing to 1",
            ),
            (0 <= self.reserve_pct <= 100, "reserve must be within 0–100 %"),
            (self.reconnect_delay_s >= 0, "reconnect delay must not be negative"),
            (0 <= self.bus_wired_share <= 1, "bus wired share must be within 0–1"),
            (0 <= self.bus_loss_pct <= 50, "bus loss must be within 0–50 %"),
            (self.common_base_w >= 0, "common base load must not be negative"),
            (self.max_step_s > 0, "max step must be positive"),
            (self.tick_s > 0, "tick must be positive"),
            (
                all(
                    1 <= k <= self.flats
                    for k in (*self.echonet_flats, *self.sunspec_1xx_flats)
                ),
                f"ECHONET Lite and SunSpec 1xx flats must be within 1–{self.flats}",
            ),
            (
                not set(self.echonet_flats) & set(self.sunspec_1xx_flats),
                "a flat is either ECHONET Lite or SunSpec 1xx, not both",
            ),
            (
                self.lone_flat is None
                or (
                    self.flats == 1
                    and all(
                        getattr(self, name) == getattr(self.lone_flat, name)
                        for name in _SHARED_WITH_FLAT
                    )
                ),
                "a lone flat is a building of one with the flat's clock, grid and site",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def of_flat(cls, flat: FlatConfig) -> BuildingConfig:
        """``flat`` on its own, as a building of one."""
        shared = {name: getattr(flat, name) for name in _SHARED_WITH_FLAT}
        return cls(flats=1, lone_flat=flat, **shared)

    def flat_id(self, index: int) -> str:
        """The number of the flat at ``index`` (0-based): floor, then room."""
        floor, room = divmod(index, self.flats_per_floor)
        return f"{floor + 1}{room + 1:02d}"

    def port_of(self, index: int) -> int:
        """The Modbus port of the flat at ``index`` (0: a free one)."""
        return 0 if self.base_port == 0 else self.base_port + 1 + index

    def flat_configs(self) -> list[FlatConfig]:
        """Every flat's set-up, in order; the same seed gives the same flats."""
        if self.lone_flat is not None:
            return [self.lone_flat]
        n = self.flats

        def stream(name: str) -> random.Random:
            return random.Random(f"{self.seed}:building:{name}")

        capacities = _draw_bands(self.capacity_bands, n, stream("capacity"))
        socs = _draw_bands(self.soc_bands, n, stream("soc"))
        wired_count = round(self.bus_wired_share * n)
        wired = [i < wired_count for i in range(n)]
        stream("wiring").shuffle(wired)
        pv, loads, shifts = stream("pv"), stream("load"), stream("shift")
        configs = []
        for index in range(n):
            older = index + 1 in self.sunspec_1xx_flats
            backup_auto = (
                self.backup_output_auto or older or index + 1 in self.echonet_flats
            )
            capacity_wh = round(capacities[index], -1)
            # Inverters grow with the battery: 1 kW up to 2 kWh, at most 3 kW.
            power_w = min(3000.0, max(1000.0, capacity_wh / 2))
            configs.append(
                FlatConfig(
                    flat=self.flat_id(index),
                    host=self.host,
                    port=self.port_of(index),
                    unit_ids=self.unit_ids,
                    seed=self.seed * 1000 + index,
                    speed=self.speed,
                    manual_clock=self.manual_clock,
                    start=self.start,
                    area_hz=self.area_hz,
                    nominal_v=self.nominal_v,
                    site=self.site,
                    pv_peak_w=round(pv.uniform(*self.pv_kwp) * 1000, -1),
                    cloud_cover=self.cloud_cover,
                    load_scale=round(loads.uniform(*self.load_scale), 2),
                    load_shift_h=round(shifts.uniform(*self.load_shift_h), 2),
                    battery=BatterySpec(
                        capacity_wh=capacity_wh,
                        max_charge_w=power_w,
                        max_discharge_w=power_w,
                    ),
                    soc_pct=round(socs[index], 1),
                    reserve_pct=self.reserve_pct,
                    reconnect_delay_s=self.reconnect_delay_s,
                    building_bus=True,
                    bus_wired=wired[index],
                    backup_output_auto=backup_auto,
                    sunspec="1xx" if older else "7xx",
                    max_step_s=self.max_step_s,
                    tick_s=self.tick_s,
                )
            )
        return configs


def _within(bounds: tuple[float, float], low: float, high: float) -> bool:
    return low <= bounds[0] <= bounds[1] <= high


def _bands_ok(bands: Sequence[Band], low: float, high: float) -> bool:
    return (
        bool(bands)
        and all(share >= 0 and _within((lo, hi), low, high) for share, lo, hi in bands)
        and abs(sum(share for share, _, _ in bands) - 1.0) < 1e-6
    )


def _draw_bands(bands: Sequence[Band], n: int, rng: random.Random) -> list[float]:
    """``n`` values: each band's share of them (largest remainder), shuffled."""
    exact = [share * n for share, _, _ in bands]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(bands)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    values = [
        rng.uniform(lo, hi)
        for (_, lo, hi), count in zip(bands, counts, strict=True)
        for _ in range(count)
    ]
    rng.shuffle(values)
    return values
