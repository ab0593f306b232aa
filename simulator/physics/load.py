"""What the flat consumes: the living-room circuit and everything else."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from .noise import Wander


def _hourly(morning: str, afternoon: str) -> tuple[float, ...]:
    """24 hourly values from two rows of 12."""
    values = tuple(float(w) for w in f"{morning} {afternoon}".split())
    if len(values) != 24:  # a typo must not shift the day
        raise AssertionError("an hourly profile has 24 values")
    return values


# Typical watts at each hour of the day (index = hour, value at half past).
# Living room: router, chargers and standby all day; TV and lights in the evening.
_LIVING_ROOM_W = _hourly(
    "60 60 60 60 60 60 90 120 110 80 80 80",
    "90 80 80 80 90 140 200 230 230 210 170 110",
)
# The rest of the flat: fridge and standby at night, breakfast, an evening peak
# (cooking, washing, air conditioning).
_REST_W = _hourly(
    "180 170 170 170 170 200 400 700 500 300 250 250",
    "350 260 240 250 300 500 900 1100 950 700 450 280",
)
_LIVING_ROOM_MIN_W, _LIVING_ROOM_MAX_W = 40.0, 250.0


def _profile(table: tuple[float, ...], now: datetime, shift_h: float = 0.0) -> float:
    """``table`` interpolated linearly between the half-hours, wrapping at midnight.

    ``shift_h`` moves the whole day later (a household that dines late) or earlier.
    """
    hours = now.hour + now.minute / 60 + now.second / 3600 - 0.5 - shift_h
    index = int(hours // 1) % 24
    fraction = hours - hours // 1
    return table[index] * (1 - fraction) + table[(index + 1) % 24] * fraction


@dataclass(frozen=True, slots=True)
class Demand:
    """Watts the loads ask for this moment (whether or not they get them)."""

    living_room_w: float
    rest_w: float


class HouseholdLoad:
    """The flat's demand over the day, with appliance-like random variation."""

    def __init__(self, scale: float, rng: random.Random, shift_h: float = 0.0) -> None:
        """``scale`` multiplies the whole-flat profile (1.0 = a typical family).

        ``shift_h`` moves the household's day by that many hours (+ later).
        """
        self.scale = scale
        self.shift_h = shift_h
        self._living_room = Wander(rng, sigma=0.15, time_constant_s=600.0)
        self._rest = Wander(rng, sigma=0.25, time_constant_s=300.0)

    def step(self, now: datetime, dt: float) -> Demand:
        """The demand at ``now`` after moving the random variation on by ``dt``."""
        shift_h = self.shift_h
        living_room_w = _profile(_LIVING_ROOM_W, now, shift_h) * (
            1 + self._living_room.step(dt)
        )
        rest_w = _profile(_REST_W, now, shift_h) * max(0.3, 1 + self._rest.step(dt))
        return Demand(
            living_room_w=min(
                _LIVING_ROOM_MAX_W, max(_LIVING_ROOM_MIN_W, living_room_w)
            ),
            rest_w=rest_w * self.scale,
        )


# A building's common areas per flat, W: corridor and entrance lights at night,
# the lift and the water pumps busiest when people leave and come home.
_COMMON_PER_FLAT_W = _hourly(
    "20 20 20 20 20 22 28 32 26 16 14 14",
    "15 14 14 14 16 24 30 32 30 28 26 22",
)


class CommonLoad:
    """The building's common areas: lights, lift, pumps, fire panel and intercom."""

    def __init__(self, flats: int, base_w: float, rng: random.Random) -> None:
        """Common areas for ``flats`` flats plus ``base_w`` that never switches off."""
        self.flats = flats
        self.base_w = base_w
        self.scale = 1.0
        # Lift trips and pumps starting come and go within minutes.
        self._wander = Wander(rng, sigma=0.15, time_constant_s=300.0)

    def step(self, now: datetime, dt: float) -> float:
        """Watts the common areas draw at ``now`` after ``dt`` seconds."""
        per_flat_w = _profile(_COMMON_PER_FLAT_W, now)
        varying_w = per_flat_w * self.flats * max(0.3, 1 + self._wander.step(dt))
        return (self.base_w + varying_w) * self.scale
