"""A simulated flat in one event loop: physics, clock, Modbus server, controls.

Typical use in a test::

    sim = FlatSimulator(FlatConfig(port=0, manual_clock=True, start=noon))
    await sim.start()
    sim.advance(60)
    ...  # talk Modbus to 127.0.0.1:sim.port
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

from .modbus.server import ModbusTcpUnits
from .modbus.units import FlatUnit
from .model.config import FlatConfig, UnitIds, UnitRole
from .model.faults import FaultKind, GlitchKind
from .model.flat import Flat
from .model.state import FlatState
from .physics.clock import SimClock
from .physics.grid import Grid

__all__ = [
    "FaultKind",
    "FlatConfig",
    "FlatSimulator",
    "FlatState",
    "GlitchKind",
    "UnitIds",
    "UnitRole",
]


class FlatSimulator:
    """One flat: its physics, its simulated clock and its Modbus TCP endpoint.

    Everything runs in the event loop that calls ``start``; the methods are not
    thread-safe (see ``simulator.threaded`` for a flat in its own thread).
    Durations of grid disturbances are simulated seconds; ``disconnect`` is real
    seconds, because it is about the network, not the physics.
    """

    def __init__(self, config: FlatConfig) -> None:
        """Build the flat; nothing listens until ``start``."""
        self.config = config
        start = config.start or datetime.now().replace(microsecond=0)
        self.clock = SimClock(start, config.speed, config.manual_clock)
        self.grid = Grid(
            config.nominal_v,
            float(config.area_hz),
            random.Random(f"{config.seed}:grid"),
        )
        self.flat = Flat(config, start)
        self.units = {
            role: FlatUnit(role, self.flat, unit_id, on_write=self._settle)
            for role, unit_id in config.unit_ids.by_role().items()
        }
        self._server = ModbusTcpUnits(
            {unit.unit_id: unit for unit in self.units.values()},
            config.host,
            config.port,
        )
        self._ticker: asyncio.Task[None] | None = None
        self._settle()

    @property
    def host(self) -> str:
        """Address the Modbus server listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """The Modbus server's port (the real one once started with port 0)."""
        return self._server.port

    @property
    def listening(self) -> bool:
        """Whether Modbus clients can connect now (not during ``disconnect``)."""
        return self._server.listening

    async def start(self) -> None:
        """Listen for Modbus clients and, unless the clock is manual, run time."""
        await self._server.start()
        if not self.clock.manual:
            self._ticker = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        """Stop time and the server; clients are disconnected."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait([self._ticker])  # never swallows our own cancellation
            self._ticker = None
        await self._server.stop()

    async def __aenter__(self) -> FlatSimulator:
        """Start; the simulator stops when the ``async with`` block ends."""
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        """Stop."""
        await self.stop()

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.config.tick_s)
            now = loop.time()
            self.advance(self.clock.simulated_seconds(now - last))
            last = now

    def advance(self, seconds: float) -> None:
        """Move simulated time on by ``seconds``, in physics steps.

        Steps stop exactly where the revert timer fires or a grid disturbance starts
        or ends, so short events are neither missed nor stretched.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        remaining = seconds
        while remaining > 1e-9:
            dt = min(remaining, self.config.max_step_s)
            for event_in in (
                self.flat.next_event_in(),
                self.grid.next_change_in(self.clock.elapsed_s),
            ):
                if event_in is not None and event_in > 1e-9:
                    dt = min(dt, event_in)
            self.clock.advance(dt)
            self._step(dt)
            remaining -= dt

    def _step(self, dt: float) -> None:
        elapsed = self.clock.elapsed_s
        sample = self.grid.step(elapsed, dt)
        self.flat.step(
            self.clock.now, elapsed, dt, sample, elapsed - self.grid.last_change_s
        )

    def _settle(self) -> None:
        """Let the flat react at once to a change made from outside."""
        self._step(0.0)

    @property
    def state(self) -> FlatState:
        """A snapshot of the flat now."""
        return self.flat.state()

    def set_outage(self, on: bool) -> None:
        """Grid outage (``True``) or grid back (``False``)."""
        self.grid.outage = on
        self._settle()

    def inject_sag(self, fraction: float = 0.6, seconds: float = 0.2) -> None:
        """Voltage falls to ``fraction`` of nominal for ``seconds``, from now."""
        if not 0 <= fraction <= 1.5 or seconds <= 0:
            raise ValueError("a sag needs 0 ≤ fraction ≤ 1.5 and seconds > 0")
        self.grid.inject_sag(self.clock.elapsed_s, fraction, seconds)
        self._settle()

    def inject_frequency(self, offset_hz: float, seconds: float) -> None:
        """Frequency moves by ``offset_hz`` from nominal for ``seconds``, from now."""
        if not -10 <= offset_hz <= 10 or seconds <= 0:
            raise ValueError("an excursion needs |offset| ≤ 10 Hz and seconds > 0")
        self.grid.inject_frequency(self.clock.elapsed_s, offset_hz, seconds)
        self._settle()

    def set_flapping(self, up_seconds: float, down_seconds: float, cycles: int) -> None:
        """The grid drops for ``down_seconds`` after each ``up_seconds``, ``cycles``×.

        ``cycles`` 0 stops it.
        """
        if up_seconds <= 0 or down_seconds <= 0 or cycles < 0:
            raise ValueError("flapping needs positive up/down seconds and cycles ≥ 0")
        self.grid.set_flapping(self.clock.elapsed_s, up_seconds, down_seconds, cycles)
        self._settle()

    def set_clouds(self, cover: float) -> None:
        """Cloud cover from 0 (clear) to 1 (overcast)."""
        if not 0 <= cover <= 1:
            raise ValueError("cloud cover must be within 0–1")
        self.flat.pv.cloud_cover = cover
        self._settle()

    def set_fault(
        self, kind: FaultKind | str, on: bool, role: UnitRole | str | None = None
    ) -> None:
        """Turn a fault on or off; ``device_failure`` needs the unit's ``role``."""
        kind = FaultKind(kind)
        if kind is FaultKind.BATTERY:
            self.flat.battery_fault = on
        else:
            if role is None:
                raise ValueError("device_failure needs a role: pv, battery or meter")
            unit_role = UnitRole(role)
            if on:
                self.flat.failing_units.add(unit_role)
            else:
                self.flat.failing_units.discard(unit_role)
        self._settle()

    async def disconnect(self, seconds: float) -> None:
        """Drop every Modbus client and refuse connections for ``seconds`` (real)."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        await self._server.disconnect(seconds)

    def glitch_counter(
        self, role: UnitRole | str, point: str, kind: GlitchKind | str
    ) -> None:
        """The next read of energy counter ``point`` on ``role`` shows a wrong value."""
        self.units[UnitRole(role)].glitch(point, GlitchKind(kind))
