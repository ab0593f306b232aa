"""The flat's share of the rooftop PV: a clear-sky day shaded by clouds."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from .noise import Wander

# Share of clear-sky output a fully overcast sky still lets through (diffuse light).
_OVERCAST_TRANSMISSION = 0.25
# Heat, wiring, soiling and the inverter: the AC share of the panels' nameplate.
_SYSTEM_EFFICIENCY = 0.85
# Below this the inverter does not bother to run (it needs a minimum DC input).
_MIN_OUTPUT_W = 5.0


@dataclass(frozen=True, slots=True)
class Site:
    """Where the building stands: it decides sunrise, sunset and the sun's height."""

    latitude_deg: float = 33.59  # Fukuoka
    longitude_deg: float = 130.40
    utc_offset_h: float = 9.0  # JST


def sun_elevation_deg(local_time: datetime, site: Site) -> float:
    """The sun's height above the horizon at ``local_time`` (naive, site's zone).

    Textbook approximations (Cooper's declination, the usual equation of time) are
    good to about a degree, plenty for a PV curve.
    """
    day = local_time.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    b = 2 * math.pi * (day - 81) / 364
    equation_of_time_min = (
        9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    )
    clock_h = local_time.hour + local_time.minute / 60 + local_time.second / 3600
    solar_h = (
        clock_h
        + (site.longitude_deg - 15 * site.utc_offset_h) / 15
        + equation_of_time_min / 60
    )
    hour_angle = math.radians(15 * (solar_h - 12))
    latitude = math.radians(site.latitude_deg)
    sin_elevation = math.sin(latitude) * math.sin(declination) + math.cos(
        latitude
    ) * math.cos(declination) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_elevation))))


class PvArray:
    """AC power the flat's PV inverter could deliver, given sun and clouds."""

    def __init__(self, peak_w: float, site: Site, rng: random.Random) -> None:
        """``peak_w`` is the panels' nameplate (kWp share) in W."""
        self.peak_w = peak_w
        self.site = site
        self.cloud_cover = 0.0
        # Broken clouds come and go within minutes.
        self._gaps = Wander(rng, sigma=1.0, time_constant_s=120.0)

    def step(self, now: datetime, dt: float) -> float:
        """Available output at ``now`` after moving the clouds on by ``dt`` seconds."""
        gaps = self._gaps.step(dt)
        output_w = _output_w(self.peak_w, now, self.site, self.cloud_cover, gaps)
        return output_w if output_w >= _MIN_OUTPUT_W else 0.0


def _output_w(
    peak_w: float, now: datetime, site: Site, cover: float, gaps: float
) -> float:
    """What ``peak_w`` of panels give at ``now`` under ``cover`` moved by ``gaps``."""
    elevation = sun_elevation_deg(now, site)
    if elevation <= 0:
        return 0.0
    # Air mass dims the low sun more than the sine of its height alone.
    sine = math.sin(math.radians(elevation))
    clear_sky_w: float = peak_w * _SYSTEM_EFFICIENCY * sine**1.15
    # A clear or fully overcast sky is steady; a half-covered one flickers most.
    wandering = 0.5 * math.sqrt(cover * (1.0 - cover)) * gaps
    effective = min(1.0, max(0.0, cover + wandering))
    return clear_sky_w * (1.0 - (1.0 - _OVERCAST_TRANSMISSION) * effective)


class Rooftop:
    """A building's rooftop PV under one sky; the flats own shares of it.

    Stepped once per physics step by the building; every ``PvShare`` then reads the
    same sun and the same passing clouds.
    """

    def __init__(self, site: Site, rng: random.Random) -> None:
        """A roof at ``site``; ``rng`` moves its clouds."""
        self.site = site
        self.cloud_cover = 0.0
        self._gaps = Wander(rng, sigma=1.0, time_constant_s=120.0)
        self.yield_w_per_wp = 0.0

    def step(self, now: datetime, dt: float) -> None:
        """Move the sky on by ``dt`` seconds to ``now``."""
        gaps = self._gaps.step(dt)
        self.yield_w_per_wp = _output_w(1.0, now, self.site, self.cloud_cover, gaps)


class PvShare:
    """A flat's share of the rooftop, behind the flat's own PV inverter."""

    def __init__(self, peak_w: float, roof: Rooftop) -> None:
        """``peak_w`` of the roof's panels feed this flat's inverter."""
        self.peak_w = peak_w
        self.roof = roof

    @property
    def cloud_cover(self) -> float:
        """The building's sky."""
        return self.roof.cloud_cover

    @cloud_cover.setter
    def cloud_cover(self, cover: float) -> None:
        self.roof.cloud_cover = cover

    def step(self, now: datetime, dt: float) -> float:
        """Available output now; the building has stepped the roof already."""
        output_w = self.roof.yield_w_per_wp * self.peak_w
        return output_w if output_w >= _MIN_OUTPUT_W else 0.0
