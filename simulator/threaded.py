"""A flat or a building simulator in a background thread with its own event loop.

Tests whose own event loop must stay clean (Home Assistant's test harness checks for
lingering tasks and timers) run the flat here and talk to it over 127.0.0.1. Every
method is thread-safe: it runs the call in the simulator's loop and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Protocol, Self

from .building import BuildingSimulator
from .flat import FlatSimulator
from .model.building_state import BuildingState
from .model.config import BuildingConfig, FlatConfig, UnitRole
from .model.faults import FaultKind, GlitchKind
from .model.scenarios import Scenario, apply_scenario
from .model.state import FlatState

_CALL_TIMEOUT_S = 30.0


class _Runnable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class SimulatorThread[S: _Runnable]:
    """A simulator of type ``S`` in its own thread and event loop."""

    def __init__(self, make: Callable[[], S], name: str) -> None:
        """Prepare; ``start`` builds the simulator with ``make`` in the new loop."""
        self._make = make
        self._loop: asyncio.AbstractEventLoop | None = None
        self._simulator: S | None = None
        self._started: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            simulator = self._make()
            await simulator.start()
        except BaseException as err:
            self._started.set_exception(err)
            return
        self._simulator = simulator
        self._started.set_result(None)
        try:
            await self._stop.wait()
        finally:
            self._simulator = None
            await simulator.stop()

    def start(self, timeout: float = _CALL_TIMEOUT_S) -> None:
        """Start the thread and wait until the simulator listens."""
        self._thread.start()
        try:
            self._started.result(timeout)
        except BaseException:
            self.close(timeout)  # leave no thread behind
            raise

    def close(self, timeout: float = _CALL_TIMEOUT_S) -> None:
        """Stop the simulator and join its thread; safe to call twice."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            # The loop may finish by itself just now; then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        """Use as ``with run_…_in_thread(config) as handle:``."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close."""
        self.close()

    def call[T](self, action: Callable[[S], T]) -> T:
        """Run ``action(simulator)`` in the simulator's loop and return its result."""

        async def run() -> T:
            assert self._simulator is not None
            return action(self._simulator)

        return self._await(run())

    def call_async[T](self, action: Callable[[S], Awaitable[T]]) -> T:
        """Await ``action(simulator)`` in the simulator's loop; return its result."""

        async def run() -> T:
            assert self._simulator is not None
            return await action(self._simulator)

        return self._await(run())

    def _call[T](self, action: Callable[[S], T]) -> T:
        return self.call(action)

    def _await[T](self, coroutine: Coroutine[None, None, T]) -> T:
        if self._loop is None or self._simulator is None:
            coroutine.close()
            raise RuntimeError("the simulator is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(_CALL_TIMEOUT_S)


class FlatThread(SimulatorThread[FlatSimulator]):
    """Handle on a flat simulator running in its own thread; ``close`` when done."""

    def __init__(self, config: FlatConfig) -> None:
        """Prepare; ``run_flat_in_thread`` starts it."""
        super().__init__(lambda: FlatSimulator(config), f"flat-simulator-{config.flat}")
        self.config = config

    @property
    def host(self) -> str:
        """Address the Modbus server listens on."""
        return self.config.host

    @property
    def port(self) -> int:
        """The Modbus server's real port."""
        return self._call(lambda sim: sim.port)

    @property
    def state(self) -> FlatState:
        """A snapshot of the flat now."""
        return self._call(lambda sim: sim.state)

    def advance(self, seconds: float) -> None:
        """Move simulated time on by ``seconds``."""
        self._call(lambda sim: sim.advance(seconds))

    def set_outage(self, on: bool) -> None:
        """Grid outage on or off."""
        self._call(lambda sim: sim.set_outage(on))

    def inject_sag(self, fraction: float = 0.6, seconds: float = 0.2) -> None:
        """Voltage falls to ``fraction`` of nominal for ``seconds``."""
        self._call(lambda sim: sim.inject_sag(fraction, seconds))

    def inject_frequency(self, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` for ``seconds``."""
        self._call(lambda sim: sim.inject_frequency(offset_hz, seconds))

    def set_flapping(self, up_seconds: float, down_seconds: float, cycles: int) -> None:
        """The grid drops for ``down_seconds`` after each ``up_seconds``."""
        self._call(lambda sim: sim.set_flapping(up_seconds, down_seconds, cycles))

    def set_clouds(self, cover: float) -> None:
        """Cloud cover from 0 to 1."""
        self._call(lambda sim: sim.set_clouds(cover))

    def set_fault(
        self, kind: FaultKind | str, on: bool, role: UnitRole | str | None = None
    ) -> None:
        """Turn a fault on or off."""
        self._call(lambda sim: sim.set_fault(kind, on, role))

    def disconnect(self, seconds: float) -> None:
        """Drop every Modbus client and refuse connections for ``seconds``."""
        self.call_async(lambda sim: sim.disconnect(seconds))

    def glitch_counter(
        self, role: UnitRole | str, point: str, kind: GlitchKind | str
    ) -> None:
        """The next read of counter ``point`` on ``role`` shows a wrong value."""
        self._call(lambda sim: sim.glitch_counter(role, point, kind))


class BuildingThread(SimulatorThread[BuildingSimulator]):
    """Handle on a building running in its own thread; ``close`` when done.

    Every method runs in the building's loop and waits for it; ``call`` runs any
    function of the ``BuildingSimulator`` there.
    """

    def __init__(
        self, config: BuildingConfig, scenario: Scenario | None = None
    ) -> None:
        """Prepare; ``run_building_in_thread`` starts it."""

        def make() -> BuildingSimulator:
            simulator = BuildingSimulator(config)
            if scenario is not None:
                apply_scenario(scenario, simulator.model)
            return simulator

        super().__init__(make, "building-simulator")
        self.config = config

    @property
    def host(self) -> str:
        """Address every endpoint listens on."""
        return self.config.host

    @property
    def ports(self) -> dict[str, int]:
        """Each flat's real Modbus port, by flat number."""
        return self.call(lambda sim: sim.ports)

    @property
    def meter_port(self) -> int:
        """The building meter's real Modbus port."""
        return self.call(lambda sim: sim.meter_port)

    @property
    def state(self) -> BuildingState:
        """A snapshot of the building now."""
        return self.call(lambda sim: sim.state)

    def flat_state(self, flat_id: str) -> FlatState:
        """A snapshot of flat ``flat_id``."""
        return self.call(lambda sim: sim.flat_state(flat_id))

    def advance(self, seconds: float) -> None:
        """Move simulated time on by ``seconds``."""
        self.call(lambda sim: sim.advance(seconds))

    def set_outage(self, on: bool) -> None:
        """Grid outage for the whole building, or grid back."""
        self.call(lambda sim: sim.set_outage(on))

    def inject_sag(self, fraction: float = 0.6, seconds: float = 0.2) -> None:
        """Voltage falls to ``fraction`` of nominal for ``seconds``."""
        self.call(lambda sim: sim.inject_sag(fraction, seconds))

    def inject_frequency(self, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` for ``seconds``."""
        self.call(lambda sim: sim.inject_frequency(offset_hz, seconds))

    def set_flapping(self, up_seconds: float, down_seconds: float, cycles: int) -> None:
        """The grid drops for ``down_seconds`` after every ``up_seconds``."""
        self.call(lambda sim: sim.set_flapping(up_seconds, down_seconds, cycles))

    def set_clouds(self, cover: float) -> None:
        """Cloud cover over the roof, 0–1."""
        self.call(lambda sim: sim.set_clouds(cover))

    def set_load_scale(self, factor: float) -> None:
        """Every household and the common areas draw ``factor`` × their usual."""
        self.call(lambda sim: sim.set_load_scale(factor))

    def set_bus_setpoint(
        self, flat_id: str, setpoint_w: int, revert_s: int | None = None
    ) -> None:
        """Set flat ``flat_id``'s bus setpoint as a Modbus write would."""
        self.call(lambda sim: sim.set_bus_setpoint(flat_id, setpoint_w, revert_s))

    def set_living_room(self, flat_id: str, source: int) -> None:
        """Switch flat ``flat_id``'s living room to grid (0) or battery (1)."""
        self.call(lambda sim: sim.set_living_room(flat_id, source))

    def glitch_counter(
        self, flat_id: str, role: UnitRole | str, point: str, kind: GlitchKind | str
    ) -> None:
        """The next read of counter ``point`` on flat ``flat_id``'s ``role`` is off."""
        self.call(lambda sim: sim.glitch_counter(flat_id, role, point, kind))

    def set_fault(
        self,
        flat_id: str,
        kind: FaultKind | str,
        on: bool,
        role: UnitRole | str | None = None,
    ) -> None:
        """Turn a fault of flat ``flat_id`` on or off."""
        self.call(lambda sim: sim.set_fault(flat_id, kind, on, role))

    def set_bus_available(self, flat_id: str, available: bool) -> None:
        """Connect flat ``flat_id`` to the building bus, or cut it off."""
        self.call(lambda sim: sim.set_bus_available(flat_id, available))

    def vanish(self, flat_id: str) -> None:
        """Flat ``flat_id`` goes silent on the network."""
        self.call_async(lambda sim: sim.vanish(flat_id))

    def return_flat(self, flat_id: str) -> None:
        """Flat ``flat_id`` answers again."""
        self.call_async(lambda sim: sim.return_flat(flat_id))

    def disconnect(self, flat_id: str, seconds: float) -> None:
        """Flat ``flat_id`` drops its clients for ``seconds`` of real time."""
        self.call_async(lambda sim: sim.disconnect(flat_id, seconds))


def run_building_in_thread(
    config: BuildingConfig, scenario: Scenario | None = None
) -> BuildingThread:
    """Start a building (with ``scenario``'s timetable) in its own thread.

    Returns once every endpoint listens.
    """
    handle = BuildingThread(config, scenario)
    handle.start()
    return handle


def run_flat_in_thread(config: FlatConfig) -> FlatThread:
    """Start a flat simulator in its own thread; returns once it listens."""
    handle = FlatThread(config)
    handle.start()
    return handle
