"""A simulator in a background thread with its own event loop.

Tests whose own event loop must stay clean (Home Assistant's test harness checks for
lingering tasks and timers) run the simulator here and talk to it over 127.0.0.1.
Every method is thread-safe: it runs the call in the simulator's loop and waits for
it. ``run_flat_in_thread`` starts a flat on its own, ``run_building_in_thread`` a
building; both are a ``SimulatorThread`` and differ only in what ``state`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Self

from .model.config import BuildingConfig, FlatConfig, UnitRole
from .model.faults import FaultKind, GlitchKind
from .model.scenarios import Scenario, apply_scenario
from .model.state import BuildingState, FlatState
from .physics.battery import Degradation
from .simulator import Simulator

_CALL_TIMEOUT_S = 30.0


class SimulatorThread:
    """A ``Simulator`` in its own thread and event loop; ``close`` when done.

    Every method runs in the simulator's loop and waits for it; ``call`` runs any
    function of the ``Simulator`` there. As on the ``Simulator``, whatever is done
    to one flat names it with ``flat_id``, which a building of one may leave out.
    """

    def __init__(
        self, config: BuildingConfig, scenario: Scenario | None, name: str
    ) -> None:
        """Prepare; ``start`` builds the simulator (with ``scenario``) in a new loop."""
        self.config = config
        self._scenario = scenario
        self._loop: asyncio.AbstractEventLoop | None = None
        self._simulator: Simulator | None = None
        self._started: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            simulator = Simulator(self.config)
            if self._scenario is not None:
                apply_scenario(self._scenario, simulator.model)
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

    def call[T](self, action: Callable[[Simulator], T]) -> T:
        """Run ``action(simulator)`` in the simulator's loop and return its result."""

        async def run() -> T:
            assert self._simulator is not None
            return action(self._simulator)

        return self._await(run())

    def call_async[T](self, action: Callable[[Simulator], Awaitable[T]]) -> T:
        """Await ``action(simulator)`` in the simulator's loop; return its result."""

        async def run() -> T:
            assert self._simulator is not None
            return await action(self._simulator)

        return self._await(run())

    def _await[T](self, coroutine: Coroutine[None, None, T]) -> T:
        if self._loop is None or self._simulator is None:
            coroutine.close()
            raise RuntimeError("the simulator is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(_CALL_TIMEOUT_S)

    @property
    def host(self) -> str:
        """Address every endpoint listens on."""
        return self.config.host

    @property
    def ports(self) -> dict[str, int]:
        """Each flat's real Modbus port, by flat number."""
        return self.call(lambda sim: sim.ports)

    @property
    def bus_controller_ports(self) -> dict[str, int]:
        """Each bus changeover controller's real Modbus port, by flat number."""
        return self.call(lambda sim: sim.bus_controller_ports)

    def set_bus_controller_failing(self, failing: bool, flat_id: str) -> None:
        """Make flat ``flat_id``'s bus controller refuse every request, or answer."""

        def apply(sim: Simulator) -> None:
            sim.bus_controllers[flat_id].failing = failing

        self.call(apply)

    @property
    def port(self) -> int:
        """The real Modbus port of the only flat of a building of one."""
        return self.call(lambda sim: sim.port)

    @property
    def meter_port(self) -> int | None:
        """The building meter's real Modbus port; a flat on its own has none."""
        return self.call(lambda sim: sim.meter_port)

    def flat_state(self, flat_id: str | None = None) -> FlatState:
        """A snapshot of flat ``flat_id``."""
        return self.call(lambda sim: sim.flat_state(flat_id))

    def advance(self, seconds: float, max_step_s: float | None = None) -> None:
        """Move simulated time on by ``seconds`` (in steps of up to ``max_step_s``)."""
        self.call(lambda sim: sim.advance(seconds, max_step_s))

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

    def set_fault(
        self,
        kind: FaultKind | str,
        on: bool,
        role: UnitRole | str | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """Turn a fault of a flat on or off."""
        self.call(lambda sim: sim.set_fault(kind, on, role, flat_id=flat_id))

    def degrade(self, degradation: Degradation, *, flat_id: str | None = None) -> None:
        """A flat's battery ages as ``degradation`` says."""
        self.call(lambda sim: sim.degrade(degradation, flat_id=flat_id))

    def glitch_counter(
        self,
        role: UnitRole | str,
        point: str,
        kind: GlitchKind | str,
        *,
        flat_id: str | None = None,
    ) -> None:
        """The next read of counter ``point`` on a flat's ``role`` is off."""
        self.call(lambda sim: sim.glitch_counter(role, point, kind, flat_id=flat_id))

    def reset_counter(
        self, role: UnitRole | str, point: str, *, flat_id: str | None = None
    ) -> int:
        """Counter ``point`` of a flat's ``role`` restarts from 0; what it showed."""
        return self.call(lambda sim: sim.reset_counter(role, point, flat_id=flat_id))

    def disconnect(self, seconds: float, *, flat_id: str | None = None) -> None:
        """A flat drops its clients for ``seconds`` of real time."""
        self.call_async(lambda sim: sim.disconnect(seconds, flat_id=flat_id))

    def set_bus_available(self, available: bool, *, flat_id: str | None = None) -> None:
        """Connect a flat to the building bus, or cut it off."""
        self.call(lambda sim: sim.set_bus_available(available, flat_id=flat_id))

    def set_bus_setpoint(
        self,
        setpoint_w: int,
        revert_s: int | None = None,
        *,
        flat_id: str | None = None,
    ) -> None:
        """Set a flat's bus setpoint as a Modbus write would."""
        self.call(
            lambda sim: sim.set_bus_setpoint(setpoint_w, revert_s, flat_id=flat_id)
        )

    def set_living_room(self, source: int, *, flat_id: str | None = None) -> None:
        """Switch a flat's living room to grid (0) or battery (1)."""
        self.call(lambda sim: sim.set_living_room(source, flat_id=flat_id))

    def vanish(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id`` goes silent on the network."""
        self.call_async(lambda sim: sim.vanish(flat_id))

    def return_flat(self, flat_id: str | None = None) -> None:
        """Flat ``flat_id`` answers again."""
        self.call_async(lambda sim: sim.return_flat(flat_id))


class FlatThread(SimulatorThread):
    """A flat on its own in its own thread: ``state`` is the flat's."""

    def __init__(self, config: FlatConfig) -> None:
        """Prepare; ``run_flat_in_thread`` starts it."""
        super().__init__(
            BuildingConfig.of_flat(config), None, f"flat-simulator-{config.flat}"
        )

    @property
    def state(self) -> FlatState:
        """A snapshot of the flat now."""
        return self.flat_state()


class BuildingThread(SimulatorThread):
    """A building in its own thread: ``state`` is the building's."""

    def __init__(
        self, config: BuildingConfig, scenario: Scenario | None = None
    ) -> None:
        """Prepare; ``run_building_in_thread`` starts it."""
        super().__init__(config, scenario, "building-simulator")

    @property
    def state(self) -> BuildingState:
        """A snapshot of the building now."""
        return self.call(lambda sim: sim.state)


def run_flat_in_thread(config: FlatConfig) -> FlatThread:
    """Start a flat on its own in its own thread; returns once it listens."""
    handle = FlatThread(config)
    handle.start()
    return handle


def run_building_in_thread(
    config: BuildingConfig, scenario: Scenario | None = None
) -> BuildingThread:
    """Start a building (with ``scenario``'s timetable) in its own thread.

    Returns once every endpoint listens.
    """
    handle = BuildingThread(config, scenario)
    handle.start()
    return handle
