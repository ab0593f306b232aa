"""A simulated building in one event loop: N ≥ 1 flats, each its own Modbus endpoint.

All flats share one clock, one grid, one roof and a building bus; the building
meter (the point of connection for bulk supply) is an endpoint of its own. A flat
on its own is a building of one (``BuildingConfig.of_flat``): its one endpoint,
no building meter. Typical use in a test::

    config = BuildingConfig(flats=5, base_port=0, manual_clock=True, start=evening)
    async with Simulator(config) as sim:
        sim.ports["101"], sim.meter_port   # Modbus on 127.0.0.1
        sim.set_outage(True)
        sim.advance(60)

    async with Simulator(BuildingConfig.of_flat(FlatConfig(port=0))) as sim:
        sim.port                            # the flat's Modbus port
        sim.set_fault("device_failure", True, "meter")
        sim.flat_state().meter.connected    # False
"""

from __future__ import annotations

import asyncio

from .modbus.building_meter import BuildingMeterUnit
from .modbus.bus_controller import BusControllerUnit
from .modbus.server import ModbusTcpUnits
from .modbus.units import FlatUnit
from .modbus.units_1xx import flat_unit
from .model.building import Building
from .model.config import BuildingConfig, UnitRole
from .model.faults import FaultKind, GlitchKind
from .model.flat import LivingRoomSource
from .model.state import BuildingState, FlatState
from .physics.battery import Degradation

METER_SERIAL = "LVPP-BLDG-MTR"


class Simulator:
    """A building's physics, its simulated clock and all its Modbus endpoints.

    Everything runs in the event loop that calls ``start``; the methods are not
    thread-safe (see ``simulator.threaded`` for a simulator in its own thread). A
    Modbus write to any flat settles the whole building at once, since the bus
    links them. Whatever is done to one flat names it with ``flat_id``; in a
    building of one it may be left out. Durations of grid disturbances are
    simulated seconds; ``disconnect`` is real seconds, because it is about the
    network, not the physics.
    """

    def __init__(self, config: BuildingConfig) -> None:
        """Build the building; nothing listens until ``start``."""
        self.config = config
        self.model = building = Building(config)
        self.units: dict[str, dict[UnitRole, FlatUnit]] = {}
        self._endpoints: dict[str, ModbusTcpUnits] = {}
        for flat_id, flat in building.flats.items():
            units = {
                role: flat_unit(role, flat, unit_id, building.settle)
                for role, unit_id in flat.config.unit_ids.by_role().items()
            }
            self.units[flat_id] = units
            self._endpoints[flat_id] = ModbusTcpUnits(
                {unit.unit_id: unit for unit in units.values()},
                config.host,
                flat.config.port,
            )
        # A bus-wired flat whose devices have no bus model (ECHONET Lite, SunSpec
        # 1xx) reaches the bus through a changeover controller of its own.
        self.bus_controllers: dict[str, BusControllerUnit] = {}
        self._bus_endpoints: dict[str, ModbusTcpUnits] = {}
        for position, (flat_id, flat) in enumerate(building.flats.items(), 1):
            if (
                flat.config.building_bus
                and flat.config.bus_wired
                and (flat.config.sunspec == "1xx" or position in config.echonet_flats)
            ):
                unit = BusControllerUnit(flat, on_write=building.settle)
                self.bus_controllers[flat_id] = unit
                self._bus_endpoints[flat_id] = ModbusTcpUnits(
                    {unit.unit_id: unit}, config.host, 0
                )
        # A flat on its own has no building around it, so no building meter.
        self.meter: BuildingMeterUnit | None = None
        self._meter_endpoint: ModbusTcpUnits | None = None
        if config.lone_flat is None:
            self.meter = BuildingMeterUnit(building, config.meter_unit, METER_SERIAL)
            self._meter_endpoint = ModbusTcpUnits(
                {config.meter_unit: self.meter}, config.host, config.base_port
            )
        self._ticker: asyncio.Task[None] | None = None
        self._started = False
        self._network_tasks: set[asyncio.Task[None]] = set()
        self._network_locks: dict[str, asyncio.Lock] = {}
        building.on_vanish = self._on_vanish

    # Running -----------------------------------------------------------------

    @property
    def host(self) -> str:
        """Address every endpoint listens on."""
        return self.config.host

    @property
    def ports(self) -> dict[str, int]:
        """Each flat's Modbus port (the real ones once started), by flat number."""
        return {flat_id: ep.port for flat_id, ep in self._endpoints.items()}

    @property
    def bus_controller_ports(self) -> dict[str, int]:
        """The Modbus port of each flat's bus changeover controller, if it has one."""
        return {flat_id: ep.port for flat_id, ep in self._bus_endpoints.items()}

    @property
    def port(self) -> int:
        """The Modbus port of the only flat of a building of one."""
        return self._endpoint(None).port

    @property
    def meter_port(self) -> int | None:
        """The building meter's Modbus port; a flat on its own has none."""
        return None if self._meter_endpoint is None else self._meter_endpoint.port

    def listening(self, flat_id: str | None = None) -> bool:
        """Whether flat ``flat_id`` answers Modbus now."""
        return self._endpoint(flat_id).listening

    def _endpoint(self, flat_id: str | None) -> ModbusTcpUnits:
        # UnknownFlatError for a bad number.
        return self._endpoints[self.model.flat(flat_id).config.flat]

    async def start(self) -> None:
        """Open every endpoint and, unless the clock is manual, run time.

        With a fixed port, a port already taken fails the whole start.
        """
        try:
            if self._meter_endpoint is not None:
                await self._meter_endpoint.start()
            for flat_id, endpoint in self._endpoints.items():
                if flat_id in self.model.vanished:
                    await endpoint.go_silent()
                else:
                    await endpoint.start()
            for endpoint in self._bus_endpoints.values():
                await endpoint.start()
        except BaseException:
            await self._stop_endpoints()
            raise
        self._started = True
        if not self.model.clock.manual:
            self._ticker = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        """Stop time and every endpoint; clients are disconnected."""
        self._started = False
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait([self._ticker])  # never swallows our own cancellation
            self._ticker = None
        for task in list(self._network_tasks):
            task.cancel()
        await asyncio.gather(*self._network_tasks, return_exceptions=True)
        await self._stop_endpoints()

    async def _stop_endpoints(self) -> None:
        endpoints = [*self._endpoints.values(), *self._bus_endpoints.values()]
        if self._meter_endpoint is not None:
            endpoints.insert(0, self._meter_endpoint)
        await asyncio.gather(*(endpoint.stop() for endpoint in endpoints))

    async def __aenter__(self) -> Simulator:
        """Start; the simulator stops when the ``async with`` block ends."""
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        """Stop."""
        await self.stop()

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        clock = self.model.clock
        last = loop.time()
        while True:
            await asyncio.sleep(self.config.tick_s)
            now = loop.time()
            self.model.advance(clock.simulated_seconds(now - last))
            last = now

    # Network -----------------------------------------------------------------

    def _on_vanish(self, flat_id: str, vanished: bool) -> None:
        if not self._started:
            return  # start() opens the endpoint as the model says
        task = asyncio.get_running_loop().create_task(self._follow(flat_id))
        self._network_tasks.add(task)
        task.add_done_callback(self._network_tasks.discard)

    async def _follow(self, flat_id: str) -> None:
        """Make flat ``flat_id``'s endpoint as silent or talkative as the model."""
        lock = self._network_locks.setdefault(flat_id, asyncio.Lock())
        async with lock:
            endpoint = self._endpoints[flat_id]
            if flat_id in self.model.vanished:
                await endpoint.go_silent()
            else:
                await endpoint.speak_again()

    async def network_settled(self) -> None:
        """Wait until every endpoint has followed the latest vanish or return."""
        # Only the unfinished ones: a finished task stays in the set until its done
        # callback runs, and gather over finished tasks completes without yielding,
        # so waiting for it would spin for ever without letting that callback run.
        while pending := [task for task in self._network_tasks if not task.done()]:
            await asyncio.gather(*pending)

    async def disconnect(self, seconds: float, *, flat_id: str | None = None) -> None:
        """A flat drops its clients and refuses them for ``seconds`` (real time).

        Then it listens again on the same port, as a device does after a reboot.
        """
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        flat_id = self.model.flat(flat_id).config.flat
        if flat_id in self.model.vanished:
            raise ValueError(f"flat {flat_id} has vanished; let it return first")
        await self._endpoints[flat_id].disconnect(seconds)

    def glitch_counter(
        self,
        role: UnitRole | str,
        point: str,
        kind: GlitchKind | str,
        *,
        flat_id: str | None = None,
    ) -> None:
        """The next read of energy counter ``point`` on a flat's ``role`` is off."""
        flat_id = self.model.flat(flat_id).config.flat
        self.units[flat_id][UnitRole(role)].glitch(point, GlitchKind(kind))

    def reset_counter(
        self, role: UnitRole | str, point: str, *, flat_id: str | None = None
    ) -> int:
        """Counter ``point`` of a flat's ``role`` restarts from 0; what it showed."""
        return self.model.reset_counter(role, point, flat_id=flat_id)

    async def vanish(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id`` goes silent on the network until ``return_flat``."""
        self.model.vanish(flat_id)
        await self.network_settled()

    async def return_flat(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id`` answers again."""
        self.model.return_flat(flat_id)
        await self.network_settled()

    # Physics (see ``Building``) ----------------------------------------------

    @property
    def state(self) -> BuildingState:
        """A snapshot of the building now."""
        return self.model.state()

    def flat_state(self, flat_id: str | None = None) -> FlatState:
        """A snapshot of flat ``flat_id``."""
        return self.model.flat_state(flat_id)

    def advance(self, seconds: float, max_step_s: float | None = None) -> None:
        """Move simulated time on by ``seconds`` (in steps of up to ``max_step_s``)."""
        self.model.advance(seconds, max_step_s)

    def set_outage(self, on: bool) -> None:
        """Grid outage for the whole building, or grid back."""
        self.model.set_outage(on)

    def inject_sag(self, fraction: float = 0.6, seconds: float = 0.2) -> None:
        """Voltage falls to ``fraction`` of nominal for ``seconds``."""
        self.model.inject_sag(fraction, seconds)

    def inject_frequency(self, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` for ``seconds``."""
        self.model.inject_frequency(offset_hz, seconds)

    def set_flapping(self, up_seconds: float, down_seconds: float, cycles: int) -> None:
        """The grid drops for ``down_seconds`` after every ``up_seconds``."""
        self.model.set_flapping(up_seconds, down_seconds, cycles)

    def set_clouds(self, cover: float) -> None:
        """Cloud cover over the roof, 0–1."""
        self.model.set_clouds(cover)

    def set_load_scale(self, factor: float) -> None:
        """Every household and the common areas draw ``factor`` × their usual."""
        self.model.set_load_scale(factor)

    def set_fault(
        self,
        kind: FaultKind | str,
        on: bool,
        role: UnitRole | str | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """Turn a fault of a flat on or off (see ``Building.set_fault``)."""
        self.model.set_fault(kind, on, role, flat_id=flat_id)

    def degrade(self, degradation: Degradation, *, flat_id: str | None = None) -> None:
        """A flat's battery ages as ``degradation`` says (see ``Building.degrade``)."""
        self.model.degrade(degradation, flat_id=flat_id)

    def set_bus_available(self, available: bool, *, flat_id: str | None = None) -> None:
        """Connect a flat to the building bus, or cut it off."""
        self.model.set_bus_available(available, flat_id=flat_id)

    def set_bus_setpoint(
        self,
        setpoint_w: int,
        revert_s: int | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """Set a flat's bus setpoint as a Modbus write would."""
        self.model.set_bus_setpoint(setpoint_w, revert_s, flat_id=flat_id)

    def set_living_room(
        self, source: LivingRoomSource | int, *, flat_id: str | None = None
    ) -> None:
        """Switch a flat's living room to grid (0) or battery (1)."""
        self.model.set_living_room(source, flat_id=flat_id)
