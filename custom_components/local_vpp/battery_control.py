"""The one writer to a flat's devices, and who of those wanting them wins.

Four parties want something from the battery: the living-room backup during a power
cut, outage support over the building bus, the building's group discharge and the
resident. Every write to the devices goes through :class:`BatteryControl`; what the
devices hold is decided by ``PRECEDENCE``, one table, highest row first.

- A *held* output (the power setpoint, the bus setpoint) holds what the first row with
  a claim decides, unless that row passes. The rows below wait and take over, in
  order, when the claims above end. A hold carries a revert timer that its party keeps
  re-arming: a party that goes silent lets the device revert by itself.
- A *command* (the living-room changeover, the backup reserve) is written when a party
  allowed to give it asks, and never imposed again: the last command stands. The
  resident's switch therefore still moves the living room during a power cut.

The bus row holds only the bus setpoint, a register of its own: the bus never moves
the living room (the power cut and the resident do) and never competes with the group
for one output; it only adds power to the flat or takes it away.

No Home Assistant imports: the table and the writes are testable alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, Protocol

from .const import SETPOINT_REARM_BELOW_S, SETPOINT_REVERT_S
from .device import DeviceError, FlatReading

_LOGGER = logging.getLogger(__name__)


class Party(StrEnum):
    """Who may want something from the devices."""

    POWER_CUT = "power_cut"
    BUS = "bus"
    GROUP = "group"
    RESIDENT = "resident"


class Output(StrEnum):
    """What can be written to the devices."""

    POWER = "power"
    BUS = "bus"
    CHANGEOVER = "changeover"
    RESERVE = "reserve"


class Act(StrEnum):
    """What a row does with one output while its party has a claim."""

    PASS = "pass"  # leaves the output to the rows below
    HOLD = "hold"  # holds the party's value, with the party's revert timer
    RELEASE = "release"  # holds it released: the battery's own logic, 0 W on the bus
    COMMAND = "command"  # writes it when the party asks; never imposed again


@dataclass(frozen=True, slots=True)
class Row:
    """One party's row of the precedence table."""

    party: Party
    power: Act
    bus: Act
    changeover: Act
    reserve: Act

    def act(self, output: Output) -> Act:
        """What this row does with ``output``."""
        act: Act = getattr(self, output.value)
        return act


# Highest first. The power cut releases the power setpoint: a charge or discharge
# setpoint would spend the reserve the living room lives on.
PRECEDENCE: Final[tuple[Row, ...]] = (
    Row(
        Party.POWER_CUT,
        power=Act.RELEASE,
        bus=Act.PASS,
        changeover=Act.COMMAND,
        reserve=Act.PASS,
    ),
    Row(
        Party.BUS,
        power=Act.PASS,
        bus=Act.HOLD,
        changeover=Act.PASS,
        reserve=Act.PASS,
    ),
    Row(
        Party.GROUP,
        power=Act.HOLD,
        bus=Act.PASS,
        changeover=Act.PASS,
        reserve=Act.PASS,
    ),
    Row(
        Party.RESIDENT,
        power=Act.HOLD,
        bus=Act.PASS,
        changeover=Act.COMMAND,
        reserve=Act.COMMAND,
    ),
)


@dataclass(frozen=True, slots=True)
class Hold:
    """A value held on the device until its revert timer runs out."""

    w: float
    revert_s: int


@dataclass(frozen=True, slots=True)
class Claims:
    """What each party wants now; ``None`` (or ``False``) wants nothing."""

    power_cut: bool = False
    bus: Hold | None = None
    group: Hold | None = None
    resident: Hold | None = None

    def has(self, party: Party) -> bool:
        """Whether ``party`` has a claim."""
        if party is Party.POWER_CUT:
            return self.power_cut
        return self.hold_of(party) is not None

    def hold_of(self, party: Party) -> Hold | None:
        """The value ``party`` wants held (the power cut holds none)."""
        match party:
            case Party.BUS:
                return self.bus
            case Party.GROUP:
                return self.group
            case Party.RESIDENT:
                return self.resident
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """What a held output should hold: ``hold`` ``None`` is released.

    ``party`` is whose claim decided it; ``None`` when nobody has one.
    """

    party: Party | None
    hold: Hold | None


RELEASED: Final = Target(None, None)


def decide(claims: Claims, output: Output) -> Target:
    """What the held ``output`` should hold under ``claims``, by ``PRECEDENCE``."""
    for row in PRECEDENCE:
        act = row.act(output)
        if act is Act.PASS or not claims.has(row.party):
            continue
        if act is Act.RELEASE:
            return Target(row.party, None)
        if act is Act.HOLD:
            return Target(row.party, claims.hold_of(row.party))
        raise ValueError(f"{output} is a command, not a held output")
    return RELEASED


def may_command(party: Party, output: Output) -> bool:
    """Whether ``party`` may give the command ``output``."""
    return any(
        row.party is party and row.act(output) is Act.COMMAND for row in PRECEDENCE
    )


def _check_command(party: Party, output: Output) -> None:
    if not may_command(party, output):
        raise ValueError(f"{party} may not command {output}")


def outranked(claims: Claims, party: Party, output: Output = Output.POWER) -> bool:
    """Whether a party above ``party`` holds ``output`` now."""
    holder = decide(claims, output).party
    order = [row.party for row in PRECEDENCE]
    return holder is not None and order.index(holder) < order.index(party)


class DeviceWriter(Protocol):
    """The device library's writes (``FlatDevice``); nothing else calls them."""

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` (+ discharge, − charge) for ``revert_s``."""

    async def async_clear_power_setpoint(self) -> None:
        """Hand the battery back to its own logic."""

    async def async_set_bus_setpoint(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` on the bus (+ export, − import) for ``revert_s``."""

    async def async_clear_bus_setpoint(self) -> None:
        """Neither export to the bus nor import from it."""

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """Feed the living room from the battery (True) or the grid."""

    async def async_set_reserve_soc(self, pct: float) -> None:
        """Keep ``pct`` % of the battery for outages."""


class BatteryControl:
    """Write to one flat's devices what ``PRECEDENCE`` decides, one write at a time.

    Writes raise ``DeviceError``; a party's claim stays as set, so its next round (or
    the resident's next poll) writes again.
    """

    def __init__(
        self,
        device: DeviceWriter,
        changeover: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        """Control ``device``; nobody claims anything yet.

        ``changeover`` moves the living room instead of the device (a switch the
        electrician wired, or nothing when the inverter's backup output switches by
        itself).
        """
        self._device = device
        self._changeover = changeover
        self.claims = Claims()
        # One sequence at a time: a claim is decided and written before the next.
        self._lock = asyncio.Lock()

    @property
    def power(self) -> Target:
        """What the power setpoint should hold now."""
        return decide(self.claims, Output.POWER)

    def outranked(self, party: Party, output: Output = Output.POWER) -> bool:
        """Whether a party above ``party`` holds ``output`` now."""
        return outranked(self.claims, party, output)

    # -- the power cut ---------------------------------------------------------------

    @property
    def power_cut(self) -> bool:
        """Whether the living-room backup holds the battery for an outage."""
        return self.claims.power_cut

    def restore_power_cut(self, engaged: bool) -> None:
        """Take over the power cut's claim as it was before a restart, unwritten."""
        self.claims = replace(self.claims, power_cut=engaged)

    async def async_start_power_cut(self, *, room_on_battery: bool | None) -> None:
        """Living room to the battery, then release the power setpoint.

        The group's and the resident's setpoints are dropped: after the outage the
        battery goes back to its own logic. Raises ``DeviceError``; the power cut then
        has no claim.
        """
        async with self._lock:
            if not room_on_battery:
                await self._move_living_room(Party.POWER_CUT, True)
            self.claims = replace(
                self.claims, power_cut=True, group=None, resident=None
            )
            try:
                await self._write_power(self.power)
            except DeviceError:
                self.claims = replace(self.claims, power_cut=False)
                raise

    async def async_end_power_cut(self) -> None:
        """The power cut lets go; a claim that waited for it is written."""
        async with self._lock:
            self.claims = replace(self.claims, power_cut=False)
            # Nobody waiting: the setpoint stays released, as the power cut left it.
            if (target := self.power).party is not None:
                await self._write_power(target)

    # -- commands ----------------------------------------------------------------------

    async def async_move_living_room(self, party: Party, on_battery: bool) -> None:
        """Feed the living room from the battery (True) or the grid, for ``party``."""
        async with self._lock:
            await self._move_living_room(party, on_battery)

    async def async_set_reserve(self, pct: float) -> None:
        """The resident's backup reserve SoC."""
        _check_command(Party.RESIDENT, Output.RESERVE)
        async with self._lock:
            await self._device.async_set_reserve_soc(pct)

    async def _move_living_room(self, party: Party, on_battery: bool) -> None:
        _check_command(party, Output.CHANGEOVER)
        if self._changeover is not None:
            await self._changeover(on_battery)
        else:
            await self._device.async_set_living_room_on_battery(on_battery)

    # -- the group discharge -----------------------------------------------------------

    async def async_hold_group(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` for the group; it reverts after ``revert_s``.

        Nothing is claimed while a party above holds the power setpoint.
        """
        async with self._lock:
            if self.outranked(Party.GROUP):
                return
            # Claimed first: a write that fails half-way is still released at the end.
            self.claims = replace(self.claims, group=Hold(power_w, revert_s))
            await self._write_power(self.power)

    async def async_release_group(self) -> None:
        """End the group's hold: back to the resident's setpoint, or to the battery."""
        async with self._lock:
            self.claims = replace(self.claims, group=None)
            await self._write_power(self.power)

    # -- the building bus --------------------------------------------------------------

    async def async_hold_bus(self, power_w: float, revert_s: int) -> None:
        """Hold ``power_w`` on the bus (+ export, − import) for ``revert_s``."""
        async with self._lock:
            self.claims = replace(self.claims, bus=Hold(power_w, revert_s))
            await self._write_bus(decide(self.claims, Output.BUS))

    async def async_release_bus(self) -> None:
        """Leave the bus at 0."""
        async with self._lock:
            self.claims = replace(self.claims, bus=None)
            await self._write_bus(decide(self.claims, Output.BUS))

    # -- the resident ------------------------------------------------------------------

    async def async_set_resident_setpoint(self, power_w: float) -> None:
        """Hold ``power_w`` (+ discharge, − charge) for the resident; 0 lets go.

        While a party above holds the power setpoint the wish waits for it.
        """
        async with self._lock:
            resident = None if power_w == 0 else Hold(power_w, SETPOINT_REVERT_S)
            self.claims = replace(self.claims, resident=resident)
            if not self.outranked(Party.RESIDENT):
                await self._write_power(self.power)

    async def async_keep_alive(self, reading: FlatReading) -> None:
        """Re-arm the revert timer of the resident's setpoint while it is in force.

        Called after every good poll; a failed write waits for the next one.
        """
        battery = reading.battery
        if self.power.party is not Party.RESIDENT or battery is None:
            return
        remaining = battery.setpoint_revert_remaining_s
        if (
            battery.setpoint_enabled
            and remaining is not None
            and remaining >= SETPOINT_REARM_BELOW_S
        ):
            return
        try:
            async with self._lock:
                if (target := self.power).party is Party.RESIDENT:
                    await self._write_power(target)
        except DeviceError as err:
            _LOGGER.warning("Could not re-arm the battery setpoint: %s", err)

    # -- a battery without a revert timer ----------------------------------------------

    async def async_hand_back_left_hold(self, reading: FlatReading) -> None:
        """Release a hold that a run which ended without releasing it left behind.

        Only for a battery without a revert timer (ECHONET Lite): nothing on the
        device would ever end it. Called once at start, before anyone claims power.
        """
        battery = reading.battery
        if battery is None or not battery.setpoint_enabled:
            return
        async with self._lock:
            if self.power.party is None:
                await self._write_power(self.power)

    # -- the writes --------------------------------------------------------------------

    async def _write_power(self, target: Target) -> None:
        if (hold := target.hold) is None:
            await self._device.async_clear_power_setpoint()
        else:
            await self._device.async_set_power_setpoint(hold.w, hold.revert_s)

    async def _write_bus(self, target: Target) -> None:
        if (hold := target.hold) is None:
            await self._device.async_clear_bus_setpoint()
        else:
            await self._device.async_set_bus_setpoint(hold.w, hold.revert_s)
