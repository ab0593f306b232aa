"""The rules that flag a battery, evaluated as each local day closes.

Each rule compares the latest days with the battery's own earlier days, so a
battery is judged against itself, not against a datasheet. An anomaly names the
entries that show it: for each segment in its window, the flow its SoC change
starts from and its last flow (see :mod:`.segments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from sidecar.apps.battery.figures import PPM, Day, window
from sidecar.apps.battery.segments import Kind
from sidecar.ledger.battery_state import CELL_SPREAD_MV, cell_event
from sidecar.ledger.canonical import JsonObject

EFFICIENCY_FALLING: Final = "efficiency_falling"
SELF_DISCHARGE: Final = "self_discharge"
CAPACITY_FADING: Final = "capacity_fading"
# From the battery's own reports (battery_state entries), as each arrives.
COUNTER_REGRESSION: Final = "counter_regression"
SOH_JUMP: Final = "soh_jump"
CELL_VOLTAGE: Final = "cell_voltage"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a rule fires (docs/BATTERY.md says why these values).

    Windows count days that have flows. ``recent_days``: the window judged;
    ``reference_days``: at most this many days before it make the reference.
    """

    recent_days: int = 7
    reference_days: int = 28
    min_reference_days: int = 7
    efficiency_drop_ppm: int = 20_000
    self_discharge_days: int = 14
    self_discharge_ppm_per_month: int = 150_000
    trend_min_days: int = 14
    capacity_below_trend_ppm: int = 15_000
    soh_jump_ppm: int = 20_000


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One rule that fired on one day: what was seen against what was expected."""

    kind: str
    day_start: int
    measured: int
    expected: int
    threshold: int
    entries: tuple[tuple[int, bytes], ...]


def _evidence(
    days: list[Day], kinds: tuple[Kind, ...]
) -> tuple[tuple[int, bytes], ...]:
    found: set[tuple[int, bytes]] = set()
    for day in days:
        for kind, first, last in day.evidence:
            if kind in kinds:
                found.update((first, last))
    return tuple(sorted(found))


def judge(
    days: list[Day],
    capacities: list[int | None],
    resolution_ppm: int,
    limits: Thresholds,
) -> list[Anomaly]:
    """The anomalies of the last of ``days``.

    ``capacities`` holds, per day, the capacity estimate (mWh) of the recent window
    ending on that day, the last one included.
    """
    found: list[Anomaly] = []
    last = len(days)
    recent = days[max(0, last - limits.recent_days) :]
    before = days[
        max(0, last - limits.recent_days - limits.reference_days) : max(
            0, last - limits.recent_days
        )
    ]
    day_start = days[-1].start
    moving = (Kind.CHARGE, Kind.DISCHARGE)
    if len(before) >= limits.min_reference_days and len(recent) == limits.recent_days:
        now, then = window(recent, resolution_ppm), window(before, resolution_ppm)
        if (
            now.round_trip_ppm is not None
            and then.round_trip_ppm is not None
            and then.round_trip_ppm - now.round_trip_ppm >= limits.efficiency_drop_ppm
        ):
            found.append(
                Anomaly(
                    EFFICIENCY_FALLING,
                    day_start,
                    now.round_trip_ppm,
                    then.round_trip_ppm,
                    limits.efficiency_drop_ppm,
                    _evidence(recent, moving),
                )
            )
    resting = days[max(0, last - limits.self_discharge_days) :]
    if len(resting) == limits.self_discharge_days:
        rate = window(resting, resolution_ppm).self_discharge_ppm_per_month
        if rate is not None and rate >= limits.self_discharge_ppm_per_month:
            found.append(
                Anomaly(
                    SELF_DISCHARGE,
                    day_start,
                    rate,
                    0,
                    limits.self_discharge_ppm_per_month,
                    _evidence(resting, (Kind.REST,)),
                )
            )
    expected = trend_at(capacities[: max(0, last - limits.recent_days)], last - 1)
    current = capacities[-1] if capacities else None
    if (
        expected is not None
        and current is not None
        and len([c for c in capacities[: last - limits.recent_days] if c])
        >= limits.trend_min_days
    ):
        floor = expected - expected * limits.capacity_below_trend_ppm // PPM
        if current < floor:
            found.append(
                Anomaly(
                    CAPACITY_FADING,
                    day_start,
                    current,
                    expected,
                    limits.capacity_below_trend_ppm,
                    _evidence(recent, moving),
                )
            )
    return found


def reported(
    before: tuple[int, bytes, JsonObject] | None,
    now: tuple[int, bytes, JsonObject],
    day_start: int,
    limits: Thresholds,
) -> list[Anomaly]:
    """The anomalies one ``battery_state`` shows against the one before it."""
    seq, eid, state = now
    found: list[Anomaly] = []
    if before is not None:
        last_seq, last_id, last = before
        pair = ((last_seq, last_id), (seq, eid))
        for counter in ("in_wh", "out_wh"):
            value, previous = state.get(counter), last.get(counter)
            if (
                isinstance(value, int)
                and isinstance(previous, int)
                and value < previous
            ):
                found.append(
                    Anomaly(COUNTER_REGRESSION, day_start, value, previous, 0, pair)
                )
                break
        soh, previous_soh = state.get("soh"), last.get("soh")
        if (
            isinstance(soh, int)
            and isinstance(previous_soh, int)
            and abs(soh - previous_soh) >= limits.soh_jump_ppm
        ):
            found.append(
                Anomaly(
                    SOH_JUMP, day_start, soh, previous_soh, limits.soh_jump_ppm, pair
                )
            )
    if cell_event(state):
        high, low = state.get("cell_mv_max"), state.get("cell_mv_min")
        found.append(
            Anomaly(
                CELL_VOLTAGE,
                day_start,
                high if isinstance(high, int) else 0,
                low if isinstance(low, int) else 0,
                CELL_SPREAD_MV,
                ((seq, eid),),
            )
        )
    return found


def trend(capacities: list[int | None]) -> tuple[Fraction, Fraction] | None:
    """Least-squares line ``(intercept, slope per day)`` through the known values.

    Exact: the sums are integers and the line is a pair of fractions.
    """
    points = [(x, y) for x, y in enumerate(capacities) if y is not None]
    n = len(points)
    if n < 2:
        return None
    sx = sum(x for x, _ in points)
    sy = sum(y for _, y in points)
    sxx = sum(x * x for x, _ in points)
    sxy = sum(x * y for x, y in points)
    denominator = n * sxx - sx * sx
    if denominator == 0:
        return None
    slope = Fraction(n * sxy - sx * sy, denominator)
    return Fraction(sy, n) - slope * Fraction(sx, n), slope


def trend_at(capacities: list[int | None], x: int) -> int | None:
    """The trend of ``capacities`` projected to day index ``x``, mWh rounded down."""
    line = trend(capacities)
    if line is None:
        return None
    intercept, slope = line
    return int((intercept + slope * x) // 1)
