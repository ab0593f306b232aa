"""A simulated building in one event loop: N flats, each its own Modbus endpoint.

All flats share one clock, one grid, one roof and a building bus; the building
meter (the point of connection for bulk supply) is an endpoint of its own. Typical
use in a test::

    config = BuildingConfig(flats=5, base_port=0, manual_clock=True, start=evening)
    async with BuildingSimulator(config) as sim:
        sim.ports["101"], sim.meter_port   # Modbus on 127.0.0.1
        sim.set_outage(True)
        sim.advance(60)
"""

from __future__ import annotations

import asyncio

from .modbus.building_meter import BuildingMeterUnit
from .modbus.register_device import RegisterDevice
from .modbus.server import ModbusTcpUnits
from .modbus.units import FlatUnit
from .model.building import Building, UnknownFlatError
from .model.building_state import BuildingState
from .model.config import BuildingConfig, UnitRole
from .model.faults import FaultKind, GlitchKind
from .model.flat import LivingRoomSource
from .model.state import FlatState

__all__ = [
    "BuildingConfig",
    "BuildingSimulator",
    "BuildingState",
    "UnknownFlatError",
]

METER_SERIAL = "LVPP-BLDG-MTR"


class BuildingSimulator:
    """A building's physics, its simulated clock and all its Modbus endpoints.

    Everything runs in the event loop that calls ``start``; the methods are not
    thread-safe (see ``simulator.threaded.run_building_in_thread``). A Modbus write
    to any flat settles the whole building at once, since the bus links them.
    """

    def __init__(self, config: BuildingConfig) -> None:
        """Build the building; nothing listens until ``start``."""
        self.config = config
        self.model = building = Building(config)
        self.units: dict[str, dict[UnitRole, FlatUnit]] = {}
        self._endpoints: dict[str, ModbusTcpUnits] = {}
        for flat_id, flat in building.flats.items():
            units = {
                role: FlatUnit(role, flat, unit_id, on_write=building.settle)
                for role, unit_id in flat.config.unit_ids.by_role().items()
            }
            self.units[flat_id] = units
            devices: dict[int, RegisterDevice] = {
                unit.unit_id: unit for unit in units.values()
            }
            self._endpoints[flat_id] = ModbusTcpUnits(
                devices, config.host, flat.config.port
            )
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
    def meter_port(self) -> int:
        """The building meter's Modbus port."""
        return self._meter_endpoint.port

    def listening(self, flat_id: str) -> bool:
        """Whether flat ``flat_id`` answers Modbus now."""
        return self._endpoint(flat_id).listening

    def _endpoint(self, flat_id: str) -> ModbusTcpUnits:
        self.model.flat(flat_id)  # UnknownFlatError for a bad number
        return self._endpoints[flat_id]

    async def start(self) -> None:
        """Open every endpoint and, unless the clock is manual, run time.

        With a fixed base port, a port already taken fails the whole start.
        """
        try:
            await self._meter_endpoint.start()
            for flat_id, endpoint in self._endpoints.items():
                if flat_id in self.model.vanished:
                    await endpoint.go_silent()
                else:
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
        await asyncio.gather(
            self._meter_endpoint.stop(),
            *(endpoint.stop() for endpoint in self._endpoints.values()),
        )

    async def __aenter__(self) -> BuildingSimulator:
        """Start; the building stops when the ``async with`` block ends."""
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

    async def disconnect(self, flat_id: str, seconds: float) -> None:
        """Flat ``flat_id`` drops its clients and refuses them ``seconds`` (real)."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        endpoint = self._endpoint(flat_id)
        if flat_id in self.model.vanished:
            raise ValueError(f"flat {flat_id} has vanished; let it return first")
        await endpoint.disconnect(seconds)

    def glitch_counter(
        self, flat_id: str, role: UnitRole | str, point: str, kind: GlitchKind | str
    ) -> None:
        """The next read of counter ``point`` on flat ``flat_id``'s ``role`` is off."""
        self.model.flat(flat_id)
        self.units[flat_id][UnitRole(role)].glitch(point, GlitchKind(kind))

    async def vanish(self, flat_id: str) -> None:
        """Flat ``flat_id`` goes silent on the network until ``return_flat``."""
        self.model.vanish(flat_id)
        await self.network_settled()

    async def return_flat(self, flat_id: str) -> None:
        """Flat ``flat_id`` answers again."""
        self.model.return_flat(flat_id)
        await self.network_settled()

    # Physics (see ``Building``) ----------------------------------------------

    @property
    def state(self) -> BuildingState:
        """A snapshot of the building now."""
        return self.model.state()

    def flat_state(self, flat_id: str) -> FlatState:
        """A snapshot of flat ``flat_id``."""
        return self.model.flat_state(flat_id)

    def advance(self, seconds: float) -> None:
        """Move simulated time on by ``seconds``."""
        self.model.advance(seconds)

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
        flat_id: str,
        kind: FaultKind | str,
        on: bool,
        role: UnitRole | str | None = None,
    ) -> None:
        """Turn a fault of flat ``flat_id`` on or off."""
        self.model.set_fault(flat_id, kind, on, role)

    def set_bus_available(self, flat_id: str, available: bool) -> None:
        """Connect flat ``flat_id`` to the building bus, or cut it off."""
        self.model.set_bus_available(flat_id, available)

    def set_bus_setpoint(
        self, flat_id: str, setpoint_w: int, revert_s: int | None = None
    ) -> None:
        """Set flat ``flat_id``'s bus setpoint as a Modbus write would."""
        self.model.set_bus_setpoint(flat_id, setpoint_w, revert_s)

    def set_living_room(self, flat_id: str, source: LivingRoomSource | int) -> None:
        """Switch flat ``flat_id``'s living room to grid (0) or battery (1)."""
        self.model.set_living_room(flat_id, source)
