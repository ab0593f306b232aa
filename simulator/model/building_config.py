"""How a simulated building is set up, and how its flats come to differ.

Every flat gets its own PV share, battery, starting charge and household from the
building's seed: the same seed gives the same building. Shares of flats in a band
(``soc_bands``, ``capacity_bands``) are exact counts, shuffled over the flats, so a
small building still has the spread it was asked for.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..physics.battery import BatterySpec
from ..physics.pv import Site
from .config import FlatConfig, UnitIds

type Band = tuple[float, float, float]
"""(share of the flats, lowest value, highest value)."""

MAX_FLATS = 100


@dataclass(frozen=True, slots=True)
class BuildingConfig:
    """A building of ``flats`` flats on one grid, one roof and one clock.

    Ports: the building meter listens on ``base_port``, flat number *k* (1, 2, …
    in the order 101, 102, …) on ``base_port`` + *k*; ``base_port`` 0 gives every
    endpoint a free port of its own. Flats are numbered by floor: with 10 flats a
    floor, the 11th flat is 201.
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
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def flat_id(self, index: int) -> str:
        """The number of the flat at ``index`` (0-based): floor, then room."""
        floor, room = divmod(index, self.flats_per_floor)
        return f"{floor + 1}{room + 1:02d}"

    def port_of(self, index: int) -> int:
        """The Modbus port of the flat at ``index`` (0: a free one)."""
        return 0 if self.base_port == 0 else self.base_port + 1 + index

    def flat_configs(self) -> list[FlatConfig]:
        """Every flat's set-up, in order; the same seed gives the same flats."""
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
