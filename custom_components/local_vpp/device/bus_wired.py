"""A family device whose flat reaches the building bus through a changeover controller.

An ECHONET Lite or SunSpec 1xx flat's devices have no bus model. Given a
``BusController`` (the installer names it in the options), the family device reads
the bus part of each reading from it and sends bus setpoints to it; everything
else stays with the flat's own devices. A controller that cannot be read leaves
the bus part ``None`` (its entities unavailable, never 0) and the rest of the
reading as the flat's devices gave it. Without a controller the flat is not on
the bus, and bus writes are refused.
"""

from __future__ import annotations

from dataclasses import replace

from .bus_controller import BusController
from .errors import DeviceRejectedError
from .reading import FlatReading


class BusWired:
    """Mixin for family devices without a bus model of their own."""

    bus_controller: BusController | None = None
    last_poll_requests: int

    @property
    def has_bus(self) -> bool:
        """Whether a changeover controller joins the flat to the bus."""
        return self.bus_controller is not None

    async def async_set_bus_setpoint(self, power_w: float, revert_s: int) -> None:
        """The controller holds ``power_w`` on the bus (+ export) for ``revert_s``."""
        await self._controller().async_set_setpoint(power_w, revert_s)

    async def async_clear_bus_setpoint(self) -> None:
        """The controller leaves the bus at 0."""
        await self._controller().async_clear()

    def _controller(self) -> BusController:
        if self.bus_controller is None:
            raise DeviceRejectedError("this flat is not on a building bus")
        return self.bus_controller

    async def _with_bus(self, reading: FlatReading) -> FlatReading:
        """``reading`` with the bus part from the controller, if there is one.

        The flat's devices are read first: a silent flat raises as it does without
        a controller, and a silent controller leaves only the bus part unknown.
        """
        if self.bus_controller is None:
            return reading
        bus = await self.bus_controller.async_poll()
        self.last_poll_requests += 1
        return replace(reading, bus=bus)

    async def _close_bus(self) -> None:
        if self.bus_controller is not None:
            await self.bus_controller.async_close()
