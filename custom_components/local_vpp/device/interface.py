"""The one interface every device family offers the integration.

SunSpec over Modbus (``FlatDevice``) and ECHONET Lite (``EchonetFlatDevice``) both
satisfy it; the integration's logic sees only this.
"""

from __future__ import annotations

from typing import Protocol

from .capabilities import Capabilities
from .flat import UnitIdentity
from .reading import FlatReading


class AnyFlatDevice(Protocol):
    """Discover, poll and control one flat's devices, whatever they speak."""

    capabilities: Capabilities
    # Whether the battery keeps a backup reserve of its own that can be set.
    has_reserve_setting: bool
    identities: dict[str, UnitIdentity]
    last_poll_requests: int

    @property
    def discovered(self) -> bool:
        """Whether the devices have been found and checked."""

    @property
    def has_bus(self) -> bool:
        """Whether the flat is on a building bus."""

    @property
    def serial(self) -> str:
        """The battery's serial: it names the installation."""

    async def async_discover(self) -> dict[str, UnitIdentity]:
        """Find the devices; raises ``DeviceError`` subclasses."""

    async def async_poll(self) -> FlatReading:
        """One reading; raises ``CannotConnectError`` when the devices are silent."""

    async def async_read_registers(self) -> dict[str, dict[int, int]]:
        """Raw values for diagnostics."""

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` (+ discharge) for about ``revert_s``."""

    async def async_clear_power_setpoint(self) -> None:
        """Hand the battery back to its own logic."""

    async def async_set_bus_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` on the building bus."""

    async def async_clear_bus_setpoint(self) -> None:
        """Leave the bus at 0."""

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """Feed the living room from the battery or the grid."""

    async def async_set_reserve_soc(self, pct: float) -> None:
        """Keep ``pct`` % for outages."""

    async def async_close(self) -> None:
        """Close the connection for good."""
