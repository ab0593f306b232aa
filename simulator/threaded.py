"""A flat simulator in a background thread with its own event loop.

Tests whose own event loop must stay clean (Home Assistant's test harness checks for
lingering tasks and timers) run the flat here and talk to it over 127.0.0.1. Every
method is thread-safe: it runs the call in the simulator's loop and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future

from .config import FlatConfig, UnitRole
from .faults import FaultKind, GlitchKind
from .flat import FlatSimulator
from .state import FlatState

_CALL_TIMEOUT_S = 30.0


class FlatThread:
    """Handle on a flat simulator running in its own thread; ``close`` when done."""

    def __init__(self, config: FlatConfig) -> None:
        """Prepare; ``run_flat_in_thread`` starts it."""
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._simulator: FlatSimulator | None = None
        self._started: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"flat-simulator-{config.flat}", daemon=True
        )

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        simulator = FlatSimulator(self.config)
        try:
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
        """Start the thread and wait until the Modbus server listens."""
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

    def __enter__(self) -> FlatThread:
        """Use as ``with run_flat_in_thread(config) as flat:``."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close."""
        self.close()

    def _call[T](self, action: Callable[[FlatSimulator], T]) -> T:
        async def run() -> T:
            assert self._simulator is not None
            return action(self._simulator)

        return self._await(run())

    def _await[T](self, coroutine: Coroutine[None, None, T]) -> T:
        if self._loop is None or self._simulator is None:
            coroutine.close()
            raise RuntimeError("the simulator is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(_CALL_TIMEOUT_S)

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

        async def run() -> None:
            assert self._simulator is not None
            await self._simulator.disconnect(seconds)

        self._await(run())

    def glitch_counter(
        self, role: UnitRole | str, point: str, kind: GlitchKind | str
    ) -> None:
        """The next read of counter ``point`` on ``role`` shows a wrong value."""
        self._call(lambda sim: sim.glitch_counter(role, point, kind))


def run_flat_in_thread(config: FlatConfig) -> FlatThread:
    """Start a flat simulator in its own thread; returns once it listens."""
    handle = FlatThread(config)
    handle.start()
    return handle
