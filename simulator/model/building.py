"""A building of flats under one clock, one grid and one roof, without networking.

Every physics step the grid is sampled once and the roof stepped once; each flat
takes its half-step (``Flat.prepare``), the building bus is settled across all flats
(``share_bus``), each flat finishes, and the building meter adds everything up with
the common areas. Events can be scheduled on the simulated clock; steps stop exactly
where one is due, as they do for the grid's disturbances and the revert timers.

A flat on its own (``BuildingConfig.lone_flat``) is a building of one without a
roof or common areas: the flat has its own PV array and sky.

Whatever is done to one flat names it with ``flat_id``; in a building of one it may
be left out.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from ..physics.battery import Degradation
from ..physics.bus import BusFlows, share_bus
from ..physics.clock import SimClock
from ..physics.energy import EnergyCounter
from ..physics.grid import Grid
from ..physics.load import CommonLoad
from ..physics.pv import PvShare, Rooftop
from .config import BuildingConfig, UnitRole
from .faults import FaultKind
from .flat import Flat, LivingRoomSource
from .state import (
    BuildingBusState,
    BuildingMeterState,
    BuildingState,
    FlatState,
    GridState,
    ScheduledEvent,
)

_EPSILON_S = 1e-9
_LOGGER = logging.getLogger(__name__)


class _Sky(Protocol):
    """What the clouds are set on: the building's roof, or a lone flat's panels."""

    cloud_cover: float


class UnknownFlatError(LookupError):
    """No flat has that number."""

    def __init__(self, flat_id: str) -> None:
        """Name the flat that was asked for."""
        super().__init__(f"no flat {flat_id!r}")
        self.flat_id = flat_id


class Building:
    """The building's flats, grid, roof, bus and meter, and its simulated clock."""

    def __init__(self, config: BuildingConfig) -> None:
        """Build every flat as ``config`` draws them; time starts at once."""
        self.config = config
        seed = config.seed
        start = config.start or datetime.now().replace(microsecond=0)
        self.clock = SimClock(start, config.speed, config.manual_clock)
        self.grid = Grid(
            config.nominal_v, float(config.area_hz), random.Random(f"{seed}:grid")
        )
        lone = config.lone_flat is not None
        # A lone flat has its own panels (``Flat`` makes them); a building a roof.
        self.roof = (
            None if lone else Rooftop(config.site, random.Random(f"{seed}:roof"))
        )
        self.flats: dict[str, Flat] = {}
        for flat_config in config.flat_configs():
            share = (
                None if self.roof is None else PvShare(flat_config.pv_peak_w, self.roof)
            )
            self.flats[flat_config.flat] = Flat(flat_config, start, share)
        self._order = tuple(self.flats.values())
        self._sky: _Sky = self._order[0].pv if self.roof is None else self.roof
        self._sky.cloud_cover = config.cloud_cover
        self._load_scales = {
            flat_id: flat.load.scale for flat_id, flat in self.flats.items()
        }
        # The building's load factor and each household's own (away, guests).
        self._load_factor = 1.0
        self._household_factors = dict.fromkeys(self.flats, 1.0)
        self.common = (
            None
            if lone
            else CommonLoad(
                config.flats, config.common_base_w, random.Random(f"{seed}:common")
            )
        )
        self._loss = config.bus_loss_pct / 100.0
        self.common_w = 0.0
        self.meter_w = 0.0
        self.flats_w = 0.0
        self.exported = EnergyCounter()
        self.imported = EnergyCounter()
        self.common_energy = EnergyCounter()
        self.bus = BusFlows(0.0, 0.0)
        self.bus_exported = EnergyCounter()
        self.bus_imported = EnergyCounter()
        self.vanished: set[str] = set()
        # Called with (flat id, vanished) when a flat vanishes or returns.
        self.on_vanish: Callable[[str, bool], None] | None = None
        self._schedule: list[tuple[float, int, str, Callable[[], None]]] = []
        # Scheduled events the building refused when they came, with the reason.
        self.event_errors: list[str] = []
        self._sequence = itertools.count()
        # Bumped on every change, so register images can be cached between changes.
        self.revision = 0
        self.settle()

    # Time --------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """Simulated wall-clock time."""
        return self.clock.now

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds since the start."""
        return self.clock.elapsed_s

    def advance(self, seconds: float, max_step_s: float | None = None) -> None:
        """Move simulated time on by ``seconds``, in physics steps.

        Steps stop exactly where a revert timer fires, a grid disturbance starts or
        ends, or a scheduled event is due; the event runs right there. A larger
        ``max_step_s`` than the configured one fast-forwards hours (a test's
        morning) in fewer, coarser steps.
        """
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("time only moves forward")
        self._run_due()
        remaining = seconds
        while remaining > _EPSILON_S:
            dt = min(remaining, max_step_s or self.config.max_step_s)
            for event_in in self._events_in():
                if event_in > _EPSILON_S:
                    dt = min(dt, event_in)
            self.clock.advance(dt)
            self._step(dt)
            remaining -= dt
            self._run_due()

    def _events_in(self) -> Iterable[float]:
        elapsed = self.clock.elapsed_s
        grid_in = self.grid.next_change_in(elapsed)
        if grid_in is not None:
            yield grid_in
        if self._schedule:
            yield self._schedule[0][0] - elapsed
        for flat in self._order:
            flat_in = flat.next_event_in()
            if flat_in is not None:
                yield flat_in

    def schedule(self, at_s: float, label: str, action: Callable[[], None]) -> None:
        """Run ``action`` when the clock reaches ``at_s`` seconds since the start.

        An event already due runs at once. Events due at the same moment run in
        the order they were scheduled. An event that fails (``ValueError`` or
        ``LookupError``: a value the building refuses, a flat it lacks) is logged
        and kept in ``event_errors``; time goes on.
        """
        if not math.isfinite(at_s):
            raise ValueError("an event needs a finite time")
        heapq.heappush(self._schedule, (at_s, next(self._sequence), label, action))
        self._run_due()

    def _run_due(self) -> None:
        ran = False
        while self._schedule and self._schedule[0][0] <= self.clock.elapsed_s + 1e-6:
            at_s, _, label, action = heapq.heappop(self._schedule)
            try:
                action()
            except (ValueError, LookupError) as err:
                message = f"{label} at {at_s:g} s: {err}"
                _LOGGER.warning("scheduled event failed: %s", message)
                self.event_errors.append(message)
            ran = True
        if ran:
            self.settle()

    def _step(self, dt: float) -> None:
        clock, grid = self.clock, self.grid
        elapsed, now = clock.elapsed_s, clock.now
        sample = grid.step(elapsed, dt)
        grid_up_s = elapsed - grid.last_change_s
        if self.roof is not None:
            self.roof.step(now, dt)
        for flat in self._order:
            flat.prepare(now, elapsed, dt, sample, grid_up_s)
        exporters = [flat for flat in self._order if flat.bus_offer_w > 0]
        importers = [flat for flat in self._order if flat.bus_want_w > 0]
        if exporters or importers:

            def take(j: int, w: float) -> float:
                return -importers[j].finish(-w)

            def give(i: int, w: float) -> None:
                exporters[i].finish(w)

            self.bus = share_bus(
                [flat.bus_offer_w for flat in exporters],
                [flat.bus_want_w for flat in importers],
                self._loss,
                take,
                give,
            )
            on_bus = {id(flat) for flat in (*exporters, *importers)}
            for flat in self._order:
                if id(flat) not in on_bus:
                    flat.finish(0.0)
        else:
            self.bus = BusFlows(0.0, 0.0)
            for flat in self._order:
                flat.finish(0.0)
        self.bus_exported.add(self.bus.exported_w, dt)
        self.bus_imported.add(self.bus.imported_w, dt)
        common_w = 0.0 if self.common is None else self.common.step(now, dt)
        self.common_w = common_w if sample.up else 0.0
        self.flats_w = math.fsum(flat.meter_w for flat in self._order)
        self.meter_w = self.flats_w - self.common_w if sample.up else 0.0
        self.exported.add(self.meter_w, dt)
        self.imported.add(-self.meter_w, dt)
        self.common_energy.add(self.common_w, dt)
        self.revision += 1

    def settle(self) -> None:
        """Let every flat react at once to a change made from outside."""
        self._step(0.0)

    # Looking -----------------------------------------------------------------

    def flat(self, flat_id: str | None = None) -> Flat:
        """Flat ``flat_id``; ``UnknownFlatError`` if there is none.

        ``None`` is the only flat of a building of one; a building of more flats
        needs the number.
        """
        if flat_id is None:
            if len(self._order) != 1:
                raise ValueError(f"a building of {len(self._order)} flats: which?")
            return self._order[0]
        try:
            return self.flats[flat_id]
        except KeyError:
            raise UnknownFlatError(flat_id) from None

    def flat_state(self, flat_id: str | None = None) -> FlatState:
        """A snapshot of flat ``flat_id``."""
        return self.flat(flat_id).state()

    def meter_state(self) -> BuildingMeterState:
        """The building meter now."""
        sample = self.grid.sample
        return BuildingMeterState(
            w=self.meter_w,
            connected=sample.up,
            voltage_v=sample.voltage_v,
            frequency_hz=sample.frequency_hz,
            flats_w=self.flats_w,
            common_w=self.common_w,
            exported_wh=self.exported.wh,
            imported_wh=self.imported.wh,
            common_wh=self.common_energy.wh,
            tot_wh_inj=self.exported.register_wh,
            tot_wh_abs=self.imported.register_wh,
        )

    def state(self) -> BuildingState:
        """A snapshot of the whole building."""
        sample, config = self.grid.sample, self.config
        return BuildingState(
            time=self.clock.now,
            elapsed_s=self.clock.elapsed_s,
            cloud_cover=self._sky.cloud_cover,
            grid=GridState(
                up=sample.up,
                voltage_v=sample.voltage_v,
                frequency_hz=sample.frequency_hz,
                nominal_v=config.nominal_v,
                nominal_hz=float(config.area_hz),
            ),
            meter=self.meter_state(),
            bus=BuildingBusState(
                active=not sample.up,
                loss_pct=config.bus_loss_pct,
                wired_flats=sum(flat.bus_wired for flat in self._order),
                exported_w=self.bus.exported_w,
                imported_w=self.bus.imported_w,
                loss_w=self.bus.loss_w,
                exported_wh=self.bus_exported.wh,
                imported_wh=self.bus_imported.wh,
                loss_wh=self.bus_exported.wh - self.bus_imported.wh,
            ),
            flats=tuple(flat.state() for flat in self._order),
            vanished=tuple(sorted(self.vanished)),
            scheduled=tuple(
                ScheduledEvent(at_s, label)
                for at_s, _, label, _ in sorted(self._schedule)
            ),
            event_errors=tuple(self.event_errors),
        )

    # The whole building ------------------------------------------------------

    def set_outage(self, on: bool) -> None:
        """Grid outage (``True``) or grid back (``False``), for every flat at once."""
        self.grid.outage = on
        self.settle()

    def inject_sag(self, fraction: float = 0.6, seconds: float = 0.2) -> None:
        """Voltage falls to ``fraction`` of nominal for ``seconds``, from now."""
        if not 0 <= fraction <= 1.5 or seconds <= 0:
            raise ValueError("a sag needs 0 ≤ fraction ≤ 1.5 and seconds > 0")
        self.grid.inject_sag(self.clock.elapsed_s, fraction, seconds)
        self.settle()

    def inject_frequency(self, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` from nominal for ``seconds``, from now."""
        if not -10 <= offset_hz <= 10 or seconds <= 0:
            raise ValueError("an excursion needs |offset| ≤ 10 Hz and seconds > 0")
        self.grid.inject_frequency(self.clock.elapsed_s, offset_hz, seconds)
        self.settle()

    def set_flapping(self, up_seconds: float, down_seconds: float, cycles: int) -> None:
        """The grid drops for ``down_seconds`` after every ``up_seconds``."""
        if up_seconds <= 0 or down_seconds <= 0 or cycles < 0:
            raise ValueError("flapping needs positive up/down seconds and cycles ≥ 0")
        self.grid.set_flapping(self.clock.elapsed_s, up_seconds, down_seconds, cycles)
        self.settle()

    def set_clouds(self, cover: float) -> None:
        """Cloud cover over the roof, from 0 (clear) to 1 (overcast)."""
        if not 0 <= cover <= 1:
            raise ValueError("cloud cover must be within 0–1")
        self._sky.cloud_cover = cover
        self.settle()

    def set_load_scale(self, factor: float) -> None:
        """Every household (and the common areas) draws ``factor`` × its usual."""
        if not 0 <= factor <= 5:
            raise ValueError("load factor must be within 0–5")
        self._load_factor = factor
        for flat_id, flat in self.flats.items():
            flat.load.scale = self._load_scale(flat_id)
        if self.common is not None:
            self.common.scale = factor
        self.settle()

    def _load_scale(self, flat_id: str) -> float:
        return (
            self._load_scales[flat_id]
            * self._load_factor
            * self._household_factors[flat_id]
        )

    # One flat ----------------------------------------------------------------

    def set_household_load(self, factor: float, *, flat_id: str | None = None) -> None:
        """One household draws ``factor`` × its usual (0.3: out for the evening).

        It stays in force through later building-wide load factors, which multiply it.
        """
        if not 0 <= factor <= 5:
            raise ValueError("load factor must be within 0–5")
        flat = self.flat(flat_id)
        self._household_factors[flat.config.flat] = factor
        flat.load.scale = self._load_scale(flat.config.flat)
        self.settle()

    def reset_counter(
        self, role: UnitRole | str, point: str, *, flat_id: str | None = None
    ) -> int:
        """Energy counter ``point`` of a flat's unit ``role`` starts again from 0.

        As a reset or replaced meter: the register restarts while the flat's energy
        (``imported_wh`` …) goes on. Returns what the register showed before.
        """
        flat = self.flat(flat_id)
        shown = flat.energy_counter(UnitRole(role), point).restart_register()
        self.settle()
        return shown

    def degrade(self, degradation: Degradation, *, flat_id: str | None = None) -> None:
        """A flat's battery ages from now on as ``degradation`` says.

        It replaces any earlier injection; ``ValueError`` if a figure is out of range.
        """
        self.flat(flat_id).battery.degrade(degradation)
        self.settle()

    def set_fault(
        self,
        kind: FaultKind | str,
        on: bool,
        role: UnitRole | str | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """Turn a fault of a flat on or off; ``device_failure`` needs a ``role``.

        ``battery``: the battery trips. ``device_failure``: unit ``role`` answers
        every request with Modbus exception 4.
        """
        flat = self.flat(flat_id)
        kind = FaultKind(kind)
        if kind is FaultKind.BATTERY:
            flat.battery_fault = on
        else:
            if role is None:
                raise ValueError("device_failure needs a role: pv, battery or meter")
            unit_role = UnitRole(role)
            if on:
                flat.failing_units.add(unit_role)
            else:
                flat.failing_units.discard(unit_role)
        self.settle()

    def set_bus_available(self, available: bool, *, flat_id: str | None = None) -> None:
        """Connect a flat to the building bus, or cut it off."""
        self.flat(flat_id).bus_wired = available
        self.settle()

    def set_bus_setpoint(
        self,
        setpoint_w: int,
        revert_s: int | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """What a Modbus write of 64901 ``WSet`` (and ``WSetRvrtTms``) does."""
        if not -10000 <= setpoint_w <= 10000:
            raise ValueError("a bus setpoint must be within ±10000 W")
        if revert_s is not None and not 0 <= revert_s <= 0xFFFFFFFE:
            raise ValueError("a revert time must be a number of seconds")
        control = self.flat(flat_id).bus_control
        if revert_s is not None:
            control.revert_s = revert_s
        control.setpoint_w = setpoint_w
        control.rearm()
        self.settle()

    def set_living_room(
        self, source: LivingRoomSource | int, *, flat_id: str | None = None
    ) -> None:
        """What a Modbus write of 64900 ``Src`` does: 0 grid, 1 battery."""
        self.flat(flat_id).source = LivingRoomSource(source)
        self.settle()

    def vanish(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id``'s Modbus endpoint goes silent until ``return_flat``.

        Only the network goes: the flat's devices keep running on their last
        setpoints until the revert timers end them.
        """
        flat_id = self.flat(flat_id).config.flat
        if flat_id not in self.vanished:
            self.vanished.add(flat_id)
            self.revision += 1
            if self.on_vanish is not None:
                self.on_vanish(flat_id, True)

    def return_flat(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id`` answers again."""
        flat_id = self.flat(flat_id).config.flat
        if flat_id in self.vanished:
            self.vanished.discard(flat_id)
            self.revision += 1
            if self.on_vanish is not None:
                self.on_vanish(flat_id, False)
