"""The energy arithmetic a ``flow`` body states: totals, balance and allocation.

PROTOCOL.md section 7.1. A flow's six totals must balance within a tolerance, and its
transfers must be exactly the allocation of those totals: a verifier recomputes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sidecar.ledger.canonical import JsonObject

PPM: Final = 1_000_000
ENDPOINTS: Final = ("pv", "battery", "grid", "home")
TOLERANCE_MIN_MWH: Final = 10
TOLERANCE_PPM: Final = 20_000


@dataclass(frozen=True, slots=True)
class Totals:
    """The six energy totals of one interval, mWh."""

    pv: int
    grid_in: int
    bat_out: int
    home: int
    bat_in: int
    grid_out: int

    @property
    def supplied(self) -> int:
        """Energy made available in the interval: PV, import and discharge."""
        return self.pv + self.grid_in + self.bat_out

    @property
    def error(self) -> int:
        """In − out − storage change."""
        return self.supplied - self.home - self.bat_in - self.grid_out


def tolerance(totals: Totals) -> int:
    """The balance tolerance: 10 mWh or 2 % of the energy supplied."""
    return max(TOLERANCE_MIN_MWH, totals.supplied * TOLERANCE_PPM // PPM)


def balance(totals: Totals, *, metered: bool) -> JsonObject:
    """The ``balance`` member of a flow for these totals."""
    err = totals.error
    tol = tolerance(totals)
    return {
        "pv": totals.pv,
        "grid_in": totals.grid_in,
        "bat_out": totals.bat_out,
        "home": totals.home,
        "bat_in": totals.bat_in,
        "grid_out": totals.grid_out,
        "err": err,
        "tol": tol,
        "ok": 1 if abs(err) <= tol else 0,
        "metered": 1 if metered else 0,
    }


def allocate(totals: Totals) -> list[tuple[str, str, int]]:
    """Split the totals into (from, to, mWh) transfers.

    PV goes first to the home, then to the battery, then to the grid; the battery to
    the home, then the grid; the grid to the home, then the battery. Renewable energy
    is credited to consumption first.
    """
    home, battery, grid = totals.home, totals.bat_in, totals.grid_out
    result: list[tuple[str, str, int]] = []
    # Written out step by step: this runs for every interval of every flat.
    left = totals.pv
    if left:
        if moved := min(left, home):
            result.append(("pv", "home", moved))
            left -= moved
            home -= moved
        if moved := min(left, battery):
            result.append(("pv", "battery", moved))
            left -= moved
            battery -= moved
        if moved := min(left, grid):
            result.append(("pv", "grid", moved))
            grid -= moved
    left = totals.bat_out
    if left:
        if moved := min(left, home):
            result.append(("battery", "home", moved))
            left -= moved
            home -= moved
        if moved := min(left, grid):
            result.append(("battery", "grid", moved))
    left = totals.grid_in
    if left:
        if moved := min(left, home):
            result.append(("grid", "home", moved))
            left -= moved
        if moved := min(left, battery):
            result.append(("grid", "battery", moved))
    return result
