"""The origin of every flat's energy, hour by hour, in exact integers (mWh).

docs/ORIGIN.md states the rules; in short, per hour of the building's time zone:

* Own PV counts as renewable in full; grid energy at the share the flat's flows
  state for the grid.
* Storage is one pool per battery, allocated by **weighted average**: an hour's
  charge joins the pool, then the hour's discharge leaves it at the pool's share,
  rounded down, then the hour's measured **losses** leave it at the same share.
  The losses are what the pool holds beyond the energy the battery stores: the
  SoC its hourly rollup states times a capacity estimated from the rollups
  themselves (:func:`capacity`). So renewable out + renewable losses + what the
  pool holds = renewable in, for any battery.
* Exports of all flats are matched to the grid imports of the flats' homes in the
  same hour: the matched energy comes from *neighbours*, each exporter sending in
  proportion to its export and each importer receiving in proportion to its
  import (largest remainders, ties by author id); the energy received carries the
  givers' renewable share. What is not matched is exported to, or imported from,
  the grid.

Every split rounds down and gives the remainder to the largest fractions, so the
parts of a quantity always sum to it and every node computes identical figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from math import isqrt
from typing import Final

from sidecar.apps.origin.hourly import Flat, Hour

CONSUMPTION: Final = "consumption"
STORAGE: Final = "storage"
EXPORT_NEIGHBOURS: Final = "export_neighbours"
EXPORT_GRID: Final = "export_grid"
SOURCES: Final = ("pv", "battery", "neighbours", "grid")
USES: Final = (CONSUMPTION, STORAGE, EXPORT_NEIGHBOURS, EXPORT_GRID)

STORAGE_FLOWS: Final = (
    "charge",
    "charge_ren",
    "discharge",
    "discharge_ren",
    "loss",
    "loss_ren",
)

type Part = tuple[str, str]
"""(source, use): where the energy came from and where it went."""


@dataclass(slots=True)
class FlatHour:
    """One flat's hour: energy and renewable energy (mWh) per (source, use).

    ``storage`` holds the hour's Storage Charge and Discharge figures, the
    measured losses and what the pool holds after the hour (``charge``,
    ``discharge``, ``loss``, ``held`` and their ``_ren`` renewable parts).
    """

    author: bytes
    hour: int
    parts: dict[Part, tuple[int, int]] = field(default_factory=dict)
    storage: dict[str, int] = field(default_factory=dict)
    hour_source: Hour | None = None

    def add(self, part: Part, mwh: int, ren: int) -> None:
        """Book energy of one part (nothing if it is zero)."""
        if mwh:
            self.parts[part] = (mwh, ren)


def apportion(total: int, weights: list[tuple[bytes, int]]) -> dict[bytes, int]:
    """Split ``total`` in proportion to the weights, exactly (largest remainders).

    Each key gets ``total * w // W``; the units left over go to the largest
    remainders, ties to the smaller key. The shares sum to ``total`` when W > 0.
    """
    whole = sum(weight for _key, weight in weights)
    if whole == 0 or total == 0:
        return {key: 0 for key, _weight in weights}
    shares = {key: total * weight // whole for key, weight in weights}
    left = total - sum(shares.values())
    if left:
        order = sorted(weights, key=lambda kw: (-(total * kw[1] % whole), kw[0]))
        for key, _weight in order[:left]:
            shares[key] += 1
    return shares


def _part_of(amount: int, ren: int, whole: int) -> int:
    """The renewable mWh of ``amount`` taken from ``whole`` holding ``ren``."""
    return ren * amount // whole if whole else 0


PPM: Final = 1_000_000


@dataclass(slots=True)
class _Pool:
    """A battery's pool and what its capacity is estimated from.

    ``soc`` is the last SoC a rollup stated; ``up_mwh``/``up_ppm`` sum the charge
    and SoC rise of the hours that only charged, ``down_mwh``/``down_ppm`` the
    discharge and SoC fall of the hours that only discharged.
    """

    held: int = 0
    ren: int = 0
    soc: int | None = None
    up_mwh: int = 0
    up_ppm: int = 0
    down_mwh: int = 0
    down_ppm: int = 0


def capacity(up_mwh: int, up_ppm: int, down_mwh: int, down_ppm: int) -> int | None:
    """The battery's usable capacity (mWh) from charging and discharging hours.

    Charge per SoC rise overstates the capacity by the charge losses, discharge per
    SoC fall understates it by the discharge losses; their geometric mean,
    ``isqrt(up_mwh × down_mwh × 10^12 / (up_ppm × down_ppm))`` rounded down, is the
    estimate (as the battery figures estimate it from flows). None until both kinds
    of hour were seen.
    """
    if not (up_mwh and up_ppm and down_mwh and down_ppm):
        return None
    return isqrt(up_mwh * down_mwh * PPM * PPM // (up_ppm * down_ppm))


@dataclass(slots=True)
class Settled:
    """Where a computation stopped: the hours before ``until`` and the pools after.

    Hours every flat has closed never change again, so a later computation can
    start from here.
    """

    until: int = 0
    pools: dict[bytes, tuple[int | None, ...]] = field(default_factory=dict)


def compute(
    flats: Mapping[bytes, Flat], *, closed_only: bool = False
) -> dict[tuple[bytes, int], FlatHour]:
    """Every flat's figures for every hour the ledger has, keyed (author, hour).

    ``closed_only`` leaves out the hours whose rollups are not written yet (as a
    verifier that reads only rollups sees the ledger).
    """
    return compute_from(flats, Settled(), closed_only=closed_only)[0]


def compute_from(
    flats: Mapping[bytes, Flat],
    settled: Settled,
    *,
    settle: int = 0,
    closed_only: bool = False,
) -> tuple[dict[tuple[bytes, int], FlatHour], Settled]:
    """The figures of the hours from ``settled.until`` on, and where to start next.

    The next start is ``settle`` (the end of the hours every flat has closed), if it
    is later than ``settled.until``.
    """
    hours: dict[int, list[tuple[bytes, Hour]]] = {}
    for author in sorted(flats):
        for key, hour in flats[author].figures(closed_only=closed_only).items():
            if key >= settled.until:
                hours.setdefault(key, []).append((author, hour))
    pools = {author: _Pool(*pool) for author, pool in settled.pools.items()}  # type: ignore[arg-type]
    result: dict[tuple[bytes, int], FlatHour] = {}
    following = settled
    for key in sorted(hours):
        if settled.until < settle <= key and following is settled:
            following = _snapshot(settle, pools)
        members = hours[key]
        battery_out: dict[bytes, tuple[int, int]] = {}
        for author, hour in members:
            figures = FlatHour(author, key, hour_source=hour)
            result[(author, key)] = figures
            pool = pools.setdefault(author, _Pool())
            battery_out[author] = _store(figures, hour, pool)
            pv_home = hour.get("pv", "home")
            figures.add(("pv", CONSUMPTION), pv_home, hour.get_ren("pv", "home"))
        _match(key, members, battery_out, result)
    if following is settled and settle > settled.until:
        following = _snapshot(settle, pools)
    return result, following


def _snapshot(until: int, pools: dict[bytes, _Pool]) -> Settled:
    return Settled(until, {author: astuple(pool) for author, pool in pools.items()})


def _store(figures: FlatHour, hour: Hour, pool: _Pool) -> tuple[int, int]:
    """Run the hour through the battery's pool; return the discharge to the grid."""
    pv_in, grid_in = hour.get("pv", "battery"), hour.get("grid", "battery")
    pv_ren, grid_ren = hour.get_ren("pv", "battery"), hour.get_ren("grid", "battery")
    figures.add(("pv", STORAGE), pv_in, pv_ren)
    figures.add(("grid", STORAGE), grid_in, grid_ren)
    charge, charge_ren = pv_in + grid_in, pv_ren + grid_ren
    held, ren = pool.held + charge, pool.ren + charge_ren
    to_home, to_grid = hour.get("battery", "home"), hour.get("battery", "grid")
    out = to_home + to_grid
    if out >= held:
        out_ren, held, ren = ren, 0, 0
    else:
        out_ren = ren * out // held
        held, ren = held - out, ren - out_ren
    loss = _losses(pool, hour.soc, charge, out, held)
    loss_ren = ren * loss // held if held else 0
    pool.held, pool.ren = held - loss, ren - loss_ren
    home_ren = _part_of(to_home, out_ren, out)
    figures.add(("battery", CONSUMPTION), to_home, home_ren)
    if charge or out or loss or pool.held:
        figures.storage = {
            "charge": charge,
            "charge_ren": charge_ren,
            "discharge": out,
            "discharge_ren": out_ren,
            "loss": loss,
            "loss_ren": loss_ren,
            "held": pool.held,
            "held_ren": pool.ren,
        }
    return to_grid, out_ren - home_ren


def _losses(pool: _Pool, soc: int | None, charge: int, out: int, held: int) -> int:
    """The hour's measured losses (mWh): what the pool holds beyond the stored energy.

    Learns the hour for the capacity estimate first. Without a stated SoC or an
    estimate nothing is measured (0), and the pool keeps what it holds.
    """
    before, pool.soc = pool.soc, soc if soc is not None else pool.soc
    if soc is None:
        return 0
    if before is not None:
        if charge and not out and soc > before:
            pool.up_mwh += charge
            pool.up_ppm += soc - before
        elif out and not charge and soc < before:
            pool.down_mwh += out
            pool.down_ppm += before - soc
    whole = capacity(pool.up_mwh, pool.up_ppm, pool.down_mwh, pool.down_ppm)
    if whole is None:
        return 0
    return max(0, held - whole * soc // PPM)


def _match(
    key: int,
    members: list[tuple[bytes, Hour]],
    battery_out: dict[bytes, tuple[int, int]],
    result: dict[tuple[bytes, int], FlatHour],
) -> None:
    """Match the hour's exports to its home imports; book both sides."""
    exports = [
        (author, hour.get("pv", "grid") + battery_out[author][0])
        for author, hour in members
    ]
    imports = [(author, hour.get("grid", "home")) for author, hour in members]
    matched = min(sum(w for _a, w in exports), sum(w for _a, w in imports))
    sent = apportion(matched, exports)
    received = apportion(matched, imports)
    pool_ren = 0
    for author, hour in members:
        figures = result[(author, key)]
        pv_out, pv_ren = hour.get("pv", "grid"), hour.get_ren("pv", "grid")
        bat_out, bat_ren = battery_out[author]
        total = pv_out + bat_out
        to_neighbours = sent[author]
        pv_nb = to_neighbours * pv_out // total if total else 0
        bat_nb = to_neighbours - pv_nb
        pv_nb_ren = _part_of(pv_nb, pv_ren, pv_out)
        bat_nb_ren = _part_of(bat_nb, bat_ren, bat_out)
        pool_ren += pv_nb_ren + bat_nb_ren
        figures.add(("pv", EXPORT_NEIGHBOURS), pv_nb, pv_nb_ren)
        figures.add(("pv", EXPORT_GRID), pv_out - pv_nb, pv_ren - pv_nb_ren)
        figures.add(("battery", EXPORT_NEIGHBOURS), bat_nb, bat_nb_ren)
        figures.add(("battery", EXPORT_GRID), bat_out - bat_nb, bat_ren - bat_nb_ren)
    shares = apportion(pool_ren, [(author, received[author]) for author, _w in imports])
    for author, hour in members:
        figures = result[(author, key)]
        grid, grid_ren = hour.get("grid", "home"), hour.get_ren("grid", "home")
        got = received[author]
        figures.add(("neighbours", CONSUMPTION), got, shares[author])
        figures.add(
            ("grid", CONSUMPTION), grid - got, grid_ren - _part_of(got, grid_ren, grid)
        )


@dataclass(slots=True)
class Summary:
    """Totals over a span (mWh): per (source, use), and the storage flows."""

    parts: dict[Part, list[int]] = field(default_factory=dict)
    storage: dict[str, int] = field(default_factory=dict)

    def add(self, figures: FlatHour) -> None:
        """Add one flat-hour."""
        for part, (mwh, ren) in figures.parts.items():
            total = self.parts.setdefault(part, [0, 0])
            total[0] += mwh
            total[1] += ren
        for name in STORAGE_FLOWS:
            self.storage[name] = self.storage.get(name, 0) + figures.storage.get(
                name, 0
            )

    def energy(self, use: str, source: str | None = None) -> tuple[int, int]:
        """(mWh, renewable mWh) of a use, from one source or all."""
        mwh = ren = 0
        for (part_source, part_use), (amount, renewable) in self.parts.items():
            if part_use == use and source in (None, part_source):
                mwh += amount
                ren += renewable
        return mwh, ren


def summarize(
    figures: Iterable[FlatHour], *, authors: set[bytes] | None = None
) -> Summary:
    """Sum flat-hours (of the given authors, or all: the building)."""
    summary = Summary()
    for item in figures:
        if authors is None or item.author in authors:
            summary.add(item)
    return summary
