"""The public grid as the flat sees it: voltage and frequency, and what goes wrong."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .noise import Wander


@dataclass(frozen=True, slots=True)
class GridSample:
    """The grid at one moment. ``up`` is False during an outage (no voltage)."""

    up: bool
    voltage_v: float
    frequency_hz: float


@dataclass(slots=True)
class _Window:
    """Something that lasts from ``start_s`` to ``end_s`` of simulated time."""

    start_s: float
    end_s: float

    def covers(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(slots=True)
class _Sag(_Window):
    fraction: float


@dataclass(slots=True)
class _Excursion(_Window):
    offset_hz: float


@dataclass(slots=True)
class _Flapping(_Window):
    up_s: float
    down_s: float


class Grid:
    """Nominal voltage and frequency with noise, plus injected disturbances.

    Times are simulated seconds since the start; a disturbance starts at the moment it
    is injected and ends by itself.
    """

    def __init__(self, nominal_v: float, nominal_hz: float, rng: random.Random) -> None:
        """A healthy grid at ``nominal_v`` and ``nominal_hz``."""
        self.nominal_v = nominal_v
        self.nominal_hz = nominal_hz
        self.outage = False
        self._sag: _Sag | None = None
        self._excursion: _Excursion | None = None
        self._flapping: _Flapping | None = None
        # Real grids wander by about ±1 % in voltage and some 10 mHz in frequency.
        self._voltage = Wander(rng, sigma=0.006, time_constant_s=30.0)
        self._frequency = Wander(rng, sigma=0.012, time_constant_s=10.0)
        self.sample = GridSample(True, nominal_v, nominal_hz)
        # When the grid last came or went; it has been up since forever.
        self.last_change_s = -math.inf

    def inject_sag(self, now_s: float, fraction: float, seconds: float) -> None:
        """Voltage drops to ``fraction`` of nominal for ``seconds``."""
        self._sag = _Sag(now_s, now_s + seconds, fraction)

    def inject_frequency(self, now_s: float, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` for ``seconds``."""
        self._excursion = _Excursion(now_s, now_s + seconds, offset_hz)

    def set_flapping(
        self, now_s: float, up_s: float, down_s: float, cycles: int
    ) -> None:
        """The grid drops out for ``down_s`` after every ``up_s``, ``cycles`` times.

        The first drop comes ``up_s`` from now; ``cycles`` 0 stops flapping.
        """
        if cycles <= 0:
            self._flapping = None
            return
        self._flapping = _Flapping(
            now_s, now_s + cycles * (up_s + down_s), up_s, down_s
        )

    def _flapped_down(self, t: float) -> bool:
        flapping = self._flapping
        if flapping is None or not flapping.covers(t):
            return False
        return (t - flapping.start_s) % (
            flapping.up_s + flapping.down_s
        ) >= flapping.up_s

    def step(self, now_s: float, dt: float) -> GridSample:
        """The grid at ``now_s``, after moving the noise on by ``dt`` seconds."""
        voltage_noise = self._voltage.step(dt)
        frequency_noise = self._frequency.step(dt)
        up = not self.outage and not self._flapped_down(now_s)
        if not up:
            sample = GridSample(False, 0.0, 0.0)
        else:
            voltage_v = self.nominal_v * (1 + voltage_noise)
            if self._sag is not None and self._sag.covers(now_s):
                voltage_v = self.nominal_v * self._sag.fraction
            frequency_hz = self.nominal_hz + frequency_noise
            if self._excursion is not None and self._excursion.covers(now_s):
                frequency_hz = self.nominal_hz + self._excursion.offset_hz
            sample = GridSample(True, voltage_v, frequency_hz)
        if sample.up != self.sample.up:
            self.last_change_s = now_s
        self.sample = sample
        return sample

    def next_change_in(self, now_s: float) -> float | None:
        """Seconds until a disturbance starts or ends, so a step can stop there."""
        edges: list[float] = []
        for window in (self._sag, self._excursion):
            if window is not None and now_s < window.end_s:
                edges.append(window.end_s)
        flapping = self._flapping
        if flapping is not None and now_s < flapping.end_s:
            period = flapping.up_s + flapping.down_s
            into = (now_s - flapping.start_s) % period
            edge = flapping.up_s if into < flapping.up_s else period
            edges.append(min(flapping.end_s, now_s + edge - into))
        ahead = [edge - now_s for edge in edges if edge > now_s]
        return min(ahead) if ahead else None
