"""One flat's physics and device logic, without any networking.

A ``Flat`` is stepped through time by its building, which owns the grid and steps
every flat with the same sample (a flat on its own is a building of one). A step has
two halves, ``prepare`` and ``finish``, so that the building can settle its bus in
between (see ``simulator.physics.bus``).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from ..physics.battery import Battery
from ..physics.energy import EnergyCounter
from ..physics.grid import GridSample
from ..physics.load import Demand, HouseholdLoad
from ..physics.pv import PvArray
from .config import FlatConfig, UnitRole
from .controls import ENABLED, BusControl, BusStatus, SetpointControl
from .pv_controls import PvControls
from .state import (
    BatteryState,
    BusState,
    FlatState,
    GridState,
    LivingRoomState,
    LoadState,
    MeterState,
    PvState,
    SetpointState,
)


class LivingRoomSource(IntEnum):
    """Model 64900 ``Src``: where the living-room circuit is fed from."""

    GRID = 0
    BATTERY = 1


class InverterState(IntEnum):
    """Model 701 ``InvSt`` values the simulator uses."""

    SLEEPING = 1
    RUNNING = 3
    FAULT = 6
    STANDBY = 7


class ChargeState(IntEnum):
    """Model 802 ``ChaSt``."""

    OFF = 1
    EMPTY = 2
    DISCHARGING = 3
    CHARGING = 4
    FULL = 5
    HOLDING = 6


# Model 802 Evt1 bit for the battery fault, as docs/REGISTERS.md defines it.
OVER_TEMPERATURE_BIT = 1 << 1
# Below this the battery counts as idle (holding) rather than (dis)charging.
_IDLE_W = 1.0


class PvSource(Protocol):
    """Where a flat's PV power comes from: its own array or a rooftop share."""

    cloud_cover: float

    def step(self, now: datetime, dt: float) -> float:
        """Available AC output at ``now`` after ``dt`` seconds."""
        ...


class Flat:
    """A flat's PV, loads, battery, living-room relay and meter."""

    def __init__(
        self, config: FlatConfig, start: datetime, pv: PvSource | None = None
    ) -> None:
        """A flat as ``config`` describes it, at simulated time ``start``.

        ``pv`` replaces the flat's own PV array (a building's flats share a roof).
        """
        self.config = config
        seed = config.seed
        # One random stream per part, so changing one part leaves the others alone.
        if pv is None:
            pv = PvArray(config.pv_peak_w, config.site, random.Random(f"{seed}:pv"))
            pv.cloud_cover = config.cloud_cover
        self.pv: PvSource = pv
        self.load = HouseholdLoad(
            config.load_scale, random.Random(f"{seed}:load"), config.load_shift_h
        )
        self.battery = Battery(config.battery, config.soc_pct, config.soh_pct)
        self.controls = SetpointControl()
        # Model 123 of a 1xx PV inverter; left alone it changes nothing.
        self.pv_controls = PvControls()
        self.reserve_pct = config.reserve_pct
        self.source = LivingRoomSource.GRID
        self.battery_fault = False
        self.failing_units: set[UnitRole] = set()
        self.pv_produced = EnergyCounter()
        self.exported = EnergyCounter()
        self.imported = EnergyCounter()
        self.living_room_energy = EnergyCounter()
        # The hybrid power conditioner's AC side (PV and battery behind one
        # converter): + DC→AC output, − AC→DC input, and the energy each way.
        self.conditioner_w = 0.0
        self.conditioner_out = EnergyCounter()
        self.conditioner_in = EnergyCounter()
        self.time = start
        self.elapsed_s = 0.0
        self.grid = GridSample(True, config.nominal_v, float(config.area_hz))
        self.inverters_connected = True
        self.pv_w = 0.0
        self.demand = Demand(0.0, 0.0)
        self.living_room_w = 0.0
        self.living_room_powered = True
        self.living_room_on_battery = False
        self.rest_w = 0.0
        self.meter_w = 0.0
        # The building bus (model 64901): + export to the bus, − import from it.
        self.bus_control = BusControl()
        self.bus_wired = config.bus_wired
        self.bus_active = False
        self.bus_offer_w = 0.0
        self.bus_want_w = 0.0
        self.bus_w = 0.0
        self.bus_exported = EnergyCounter()
        self.bus_imported = EnergyCounter()
        self._dt = 0.0
        # Bumped on every change, so register images can be cached between changes.
        self.revision = 0

    @property
    def room_on_backup_output(self) -> bool:
        """Whether the living room hangs on the backup output now.

        It does when switched there (model 64900 ``Src``), and, on an inverter whose
        backup output switches by itself, whenever the grid is out.
        """
        return self.source is LivingRoomSource.BATTERY or (
            self.config.backup_output_auto and not self.grid.up
        )

    def next_event_in(self) -> float | None:
        """Seconds until the flat changes by itself (a revert timer firing)."""
        events = [
            event
            for event in (
                self.controls.next_event_in(),
                self.bus_control.next_event_in(),
                self.pv_controls.next_event_in(),
            )
            if event is not None
        ]
        return min(events) if events else None

    def prepare(
        self,
        now: datetime,
        elapsed_s: float,
        dt: float,
        grid: GridSample,
        grid_up_s: float,
    ) -> None:
        """First half of a step: time, sun, loads; what the flat offers the bus.

        The step moves on by ``dt`` seconds to ``now``, under ``grid`` all that
        time; ``dt`` 0 just settles the flat into a changed situation (a new fault,
        an outage). ``grid_up_s`` is how long the grid has been back; inverters
        reconnect only after the configured delay. Afterwards ``bus_offer_w`` (what
        it could export) or ``bus_want_w`` (what it asks to import) is set, both 0
        unless the bus is active for this flat.
        """
        self.time = now
        self.elapsed_s = elapsed_s
        self.grid = grid
        self._dt = dt
        self.controls.tick(dt)
        self.bus_control.tick(dt)
        self.pv_controls.tick(dt)
        self.inverters_connected = (
            grid.up and grid_up_s >= self.config.reconnect_delay_s
        )
        available_pv_w = self.pv.step(now, dt)
        self.pv_w = (
            self.pv_controls.cap_w(available_pv_w, self.config.pv_peak_w)
            if self.inverters_connected
            else 0.0
        )
        self.demand = self.load.step(now, dt)
        # The bus closes only while the grid is out, and only for flats it reaches.
        self.bus_active = (
            self.config.building_bus
            and self.bus_wired
            and not grid.up
            and not self.battery_fault
        )
        self.bus_offer_w = self.bus_want_w = 0.0
        if not self.bus_active:
            return
        setpoint_w = float(self.bus_control.setpoint_w)
        battery, soc_min = self.battery, self.config.battery.soc_min_pct
        carries_room = (
            self.room_on_backup_output
            and battery.max_discharge_w(soc_min, dt) >= self.demand.living_room_w
        )
        if setpoint_w > 0:
            # Export only above the backup reserve and after the flat's own room.
            backup_w = self.demand.living_room_w if carries_room else 0.0
            spare_w = battery.max_discharge_w(max(self.reserve_pct, soc_min), dt)
            self.bus_offer_w = max(0.0, min(setpoint_w, spare_w - backup_w))
        elif setpoint_w < 0:
            # Import what the living room and the battery's charging can take.
            room_w = self.demand.living_room_w if self.room_on_backup_output else 0.0
            self.bus_want_w = min(-setpoint_w, room_w + battery.max_charge_w(dt))

    def finish(self, bus_w: float) -> float:
        """Second half of a step, with ``bus_w`` on the bus (+ export, − import).

        ``bus_w`` must stay within what ``prepare`` offered or wanted. Returns the
        bus power really exchanged: an importer whose living room has tripped takes
        only what its battery can store.
        """
        dt, grid = self._dt, self.grid
        request_w, floor_pct = self._plan(self.demand, dt, bus_w)
        battery_w = self.battery.run(request_w, floor_pct, dt)
        self.meter_w = (
            self.pv_w + battery_w - self.living_room_w - self.rest_w if grid.up else 0.0
        )
        self.pv_produced.add(self.pv_w, dt)
        self.exported.add(self.meter_w, dt)
        self.imported.add(-self.meter_w, dt)
        self.living_room_energy.add(self.living_room_w, dt)
        self.conditioner_w = self.pv_w + battery_w
        self.conditioner_out.add(self.conditioner_w, dt)
        self.conditioner_in.add(-self.conditioner_w, dt)
        self.bus_exported.add(self.bus_w, dt)
        self.bus_imported.add(-self.bus_w, dt)
        self.revision += 1
        return self.bus_w

    def _plan(self, demand: Demand, dt: float, bus_w: float) -> tuple[float, float]:
        """Decide who feeds what; returns the battery's request (W) and SoC floor.

        Sets ``bus_w`` to the bus power really exchanged.
        """
        soc_min = self.config.battery.soc_min_pct
        floor_pct = max(self.reserve_pct, soc_min)
        battery_ok = not self.battery_fault
        bus_in_w = max(0.0, -bus_w)
        # The backup output carries the living room only while the battery (and
        # what comes in from the bus) can carry all of it: an overloaded or empty
        # backup output trips.
        self.living_room_on_battery = (
            self.room_on_backup_output
            and battery_ok
            and self.battery.max_discharge_w(soc_min, dt) + bus_in_w
            >= demand.living_room_w
        )
        backup_w = demand.living_room_w if self.living_room_on_battery else 0.0
        self.bus_w = bus_w
        if not self.grid.up:
            # Outage: anti-islanding keeps everything off the grid; only the backup
            # output lives, and the rest of the flat is dark. The bus, if closed,
            # adds to or takes from the battery.
            self.rest_w = 0.0
            self.living_room_powered = self.living_room_on_battery
            self.living_room_w = backup_w
            if bus_in_w > 0 and not self.living_room_on_battery:
                # Nothing to feed: take only what the battery can store.
                self.bus_w = -min(bus_in_w, self.battery.max_charge_w(dt))
            return backup_w + self.bus_w, soc_min
        self.rest_w = demand.rest_w
        self.living_room_powered = True
        self.living_room_w = demand.living_room_w
        if not battery_ok:
            return 0.0, soc_min
        if not self.inverters_connected:
            # Grid back, inverter still waiting to reconnect: only the backup output.
            return backup_w, soc_min
        if self.controls.enabled == ENABLED:
            return float(self.controls.setpoint_w), floor_pct
        # Self-consumption: cover the flat's deficit, store its surplus; the reserve
        # stays for outages, except for the living room when it is on battery.
        deficit_w = self.rest_w + self.living_room_w - backup_w - self.pv_w
        if deficit_w > 0 and self.battery.soc * 100 <= floor_pct:
            deficit_w = 0.0
        return backup_w + deficit_w, soc_min if backup_w > 0 else floor_pct

    def _battery_inverter_state(self) -> InverterState:
        if self.battery_fault:
            return InverterState.FAULT
        if self.inverters_connected or self.living_room_on_battery or self.bus_w:
            return InverterState.RUNNING
        return InverterState.STANDBY

    def _pv_inverter_state(self) -> InverterState:
        if not self.inverters_connected:
            return InverterState.STANDBY
        return InverterState.RUNNING if self.pv_w > 0 else InverterState.SLEEPING

    def _charge_state(self) -> ChargeState:
        battery = self.battery
        if self.battery_fault:
            return ChargeState.OFF
        if battery.power_w < -_IDLE_W:
            return ChargeState.CHARGING
        if battery.power_w > _IDLE_W:
            return ChargeState.DISCHARGING
        if battery.soc * 100 >= self.config.battery.soc_max_pct - 0.05:
            return ChargeState.FULL
        if battery.soc * 100 <= self.config.battery.soc_min_pct + 0.05:
            return ChargeState.EMPTY
        return ChargeState.HOLDING

    def energy_counter(self, role: UnitRole, point: str) -> EnergyCounter:
        """The counter behind register ``point`` of ``role``; ``ValueError`` if none."""
        counters: dict[str, EnergyCounter]
        match role:
            case UnitRole.PV:
                counters = {"TotWhInj": self.pv_produced}
            case UnitRole.METER:
                counters = {"TotWhInj": self.exported, "TotWhAbs": self.imported}
            case _:
                counters = {
                    "TotWhInj": self.battery.discharged,
                    "TotWhAbs": self.battery.charged,
                    "TotWh": self.living_room_energy,
                }
                if self.config.building_bus:
                    counters |= {
                        "TotWhExp": self.bus_exported,
                        "TotWhImp": self.bus_imported,
                    }
        if point not in counters:
            raise ValueError(
                f"{role} has no counter {point!r}; choose from {sorted(counters)}"
            )
        return counters[point]

    def state(self) -> FlatState:
        """A snapshot of everything, in engineering units."""
        battery, spec, controls = self.battery, self.config.battery, self.controls
        cell_v_max, cell_v_min = battery.cell_voltages()
        grid = self.grid
        return FlatState(
            flat=self.config.flat,
            time=self.time,
            elapsed_s=self.elapsed_s,
            cloud_cover=self.pv.cloud_cover,
            grid=GridState(
                up=grid.up,
                voltage_v=grid.voltage_v,
                frequency_hz=grid.frequency_hz,
                nominal_v=self.config.nominal_v,
                nominal_hz=float(self.config.area_hz),
            ),
            pv=PvState(
                w=self.pv_w,
                connected=self.inverters_connected,
                inverter_state=int(self._pv_inverter_state()),
                produced_wh=self.pv_produced.wh,
                tot_wh_inj=self.pv_produced.register_wh,
            ),
            battery=BatteryState(
                w=battery.power_w,
                soc_pct=battery.soc * 100,
                soh_pct=battery.soh * 100,
                soc_min_pct=spec.soc_min_pct,
                soc_max_pct=spec.soc_max_pct,
                reserve_pct=self.reserve_pct,
                rated_wh=spec.capacity_wh,
                available_wh=battery.available_wh(spec.soc_min_pct),
                max_charge_w=spec.max_charge_w,
                max_discharge_w=spec.max_discharge_w,
                cycles=battery.cycles,
                cell_v_max=cell_v_max,
                cell_v_min=cell_v_min,
                pack_v=battery.pack_v,
                pack_a=battery.pack_current_a,
                charge_state=int(self._charge_state()),
                heartbeat=math.floor(self.elapsed_s) % 65536,
                alarms=OVER_TEMPERATURE_BIT if self.battery_fault else 0,
                fault=self.battery_fault,
                inverter_state=int(self._battery_inverter_state()),
                connected=self.inverters_connected,
                charged_wh=battery.charged.wh,
                discharged_wh=battery.discharged.wh,
                tot_wh_inj=battery.discharged.register_wh,
                tot_wh_abs=battery.charged.register_wh,
                degradation=battery.degradation,
            ),
            setpoint=SetpointState(
                enabled=controls.enabled == ENABLED,
                mode=controls.mode,
                setpoint_w=controls.setpoint_w,
                revert_w=controls.revert_w,
                revert_enabled=controls.revert_enabled == ENABLED,
                revert_s=controls.revert_s,
                revert_remaining_s=controls.remaining_register_s,
            ),
            living_room=LivingRoomState(
                source=int(self.source),
                on_battery=self.living_room_on_battery,
                powered=self.living_room_powered,
                w=self.living_room_w,
                demand_w=self.demand.living_room_w,
                energy_wh=self.living_room_energy.wh,
                tot_wh=self.living_room_energy.register_wh,
            ),
            meter=MeterState(
                w=self.meter_w,
                connected=grid.up,
                voltage_v=grid.voltage_v,
                frequency_hz=grid.frequency_hz,
                exported_wh=self.exported.wh,
                imported_wh=self.imported.wh,
                tot_wh_inj=self.exported.register_wh,
                tot_wh_abs=self.imported.register_wh,
            ),
            load=LoadState(
                total_w=self.living_room_w + self.rest_w, rest_w=self.rest_w
            ),
            failing_units=tuple(sorted(self.failing_units)),
            bus=self._bus_state() if self.config.building_bus else None,
        )

    def _bus_status(self) -> BusStatus:
        if not self.bus_wired or self.battery_fault:
            return BusStatus.OFF
        return BusStatus.ACTIVE if self.bus_active else BusStatus.STANDBY

    def _bus_state(self) -> BusState:
        control = self.bus_control
        return BusState(
            available=self.bus_wired,
            status=int(self._bus_status()),
            setpoint_w=control.setpoint_w,
            w=self.bus_w,
            revert_s=control.revert_s,
            revert_remaining_s=control.remaining_register_s,
            exported_wh=self.bus_exported.wh,
            imported_wh=self.bus_imported.wh,
            tot_wh_exp=self.bus_exported.register_wh,
            tot_wh_imp=self.bus_imported.register_wh,
        )
