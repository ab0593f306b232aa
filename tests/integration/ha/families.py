"""A simulated flat of each device family, and what tells the families apart.

The power-cut, group-discharge and bus tests run on every family through
``FamilyFlat``: a running simulated flat (real sockets on 127.0.0.1), the config
entry an installer would make for it, and probes that say how the family shows
what the tests look at.

- SunSpec 7xx: the living room moves on the vendor register (model 64900); the
  battery holds a setpoint under model 704's revert timer.
- SunSpec 1xx: no living-room register; the installer picks a relay (a template
  switch here), wired to the simulated flat's living room as the electrician's
  relay is to the backup output. Model 124 has a revert timer but no capacity: the
  installer types the battery's nameplate.
- ECHONET Lite: the power conditioner's backup output switches by itself when the
  grid fails (and back when it returns); the integration watches it. The meter
  measures no voltage, so a grid loss is seen on the power conditioner's
  interconnection state. The battery runs on an operation mode and an energy
  amount, with no revert timer: the amount bounds every hold, and the integration
  hands back a hold left over at its next start.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from homeassistant.const import STATE_ON
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import (
    EventStateChangedData,
    async_track_state_change_event,
)
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.battery_facts import (
    CONF_BATTERY_CAPACITY_WH,
    DEFAULT_RESERVE_PCT,
)
from custom_components.local_vpp.device.echonet import properties as p
from custom_components.local_vpp.device.echonet.flat import MIN_HOLD_S
from custom_components.local_vpp.living_room.options import (
    CONF_LIVING_ROOM_SWITCH,
    CONF_LIVING_ROOM_SWITCH_ENTITY,
    SWITCH_ENTITY,
)
from simulator.echonet.objects import StorageBattery
from simulator.echonet_nodes import EchonetNodes
from simulator.model.state import BatteryState, SetpointState
from simulator.simulator import Simulator
from simulator.threaded import FlatThread
from tests.integration.ha.echonet_flat import echonet_entry_data, echonet_flat_in_thread
from tests.integration.ha.support import entry_data, morning_flat, new_flat_entry

SUNSPEC_7XX: Final = "sunspec_7xx"
SUNSPEC_1XX: Final = "sunspec_1xx"
ECHONET: Final = "echonet"
FAMILIES: Final = (SUNSPEC_7XX, SUNSPEC_1XX, ECHONET)
RELAY: Final = "switch.living_room_relay"


@dataclass
class FamilyFlat:
    """One running simulated flat of family ``name`` and how to look at it."""

    name: str
    handle: FlatThread
    nodes: EchonetNodes | None = None
    _unsubscribe: list[CALLBACK_TYPE] = field(default_factory=list)

    # -- the entry ---------------------------------------------------------------

    def entry_data(self) -> dict[str, Any]:
        """Config entry data, as the family's config flow makes them."""
        if self.nodes is not None:
            return echonet_entry_data(self.nodes)
        data = entry_data(self.handle)
        if self.name == SUNSPEC_1XX:
            data["device_family"] = "sunspec1xx"
        return data

    def options(self) -> dict[str, Any]:
        """What the installer sets in the options for the family to work."""
        if self.name != SUNSPEC_1XX:
            return {}
        return {
            CONF_LIVING_ROOM_SWITCH: SWITCH_ENTITY,
            CONF_LIVING_ROOM_SWITCH_ENTITY: RELAY,
            # Model 124 has no capacity: the installer types the nameplate.
            CONF_BATTERY_CAPACITY_WH: round(self.handle.state.battery.rated_wh),
        }

    def new_entry(self, **options: Any) -> MockConfigEntry:
        """An entry for the flat (polled every second), not yet added."""
        return new_flat_entry(self.entry_data(), **self.options(), **options)

    async def async_prepare(self, hass: HomeAssistant) -> None:
        """What must exist in Home Assistant before the entry is set up.

        A 1xx flat's relay: a switch whose state moves the simulated living room
        to the backup output and back, as the wired relay does.
        """
        if self.name != SUNSPEC_1XX:
            return
        relay: dict[str, list[Any]] = {"turn_on": [], "turn_off": []}
        assert await async_setup_component(
            hass,
            "switch",
            {
                "switch": [
                    {
                        "platform": "template",
                        "switches": {"living_room_relay": relay},
                    }
                ]
            },
        )
        await hass.async_block_till_done()

        @callback
        def follow(event: Event[EventStateChangedData]) -> None:
            new = event.data["new_state"]
            self.handle.set_living_room(int(new is not None and new.state == STATE_ON))

        self._unsubscribe.append(async_track_state_change_event(hass, RELAY, follow))

    def close(self) -> None:
        """Stop following the relay."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # -- the grid and the living room ----------------------------------------------

    @property
    def sees_voltage(self) -> bool:
        """Whether the family's meter measures the grid's voltage (a sag shows)."""
        return self.name != ECHONET

    @property
    def reports_connection(self) -> bool:
        """Whether the devices say if the flat is connected to the grid."""
        return self.name != SUNSPEC_1XX

    @property
    def switches_itself(self) -> bool:
        """Whether the living room moves to the battery without being asked."""
        return self.name == ECHONET

    def room_on_battery(self, hass: HomeAssistant) -> bool:
        """Whether the living room is on the battery, as the family shows it.

        7xx: the vendor register's source; 1xx: the relay the installer picked;
        ECHONET Lite: the backup output carrying it.
        """
        if self.name == SUNSPEC_1XX:
            relay = hass.states.get(RELAY)
            return relay is not None and relay.state == STATE_ON
        room = self.handle.state.living_room
        return room.on_battery if self.name == ECHONET else room.source == 1

    @property
    def measures_room(self) -> bool:
        """Whether the flat's devices measure the living room's power."""
        return self.name != SUNSPEC_1XX

    def lose_comms(self, seconds: float) -> None:
        """The devices stop answering for ``seconds`` of real time."""
        if self.nodes is None:
            self.handle.disconnect(seconds)
            return
        node = self.nodes.node()

        def silence(_: Simulator) -> None:
            node.silent = True
            asyncio.get_running_loop().call_later(
                seconds, setattr, node, "silent", False
            )

        self.handle.call(silence)

    @property
    def requests_per_poll(self) -> int:
        """Requests one poll of the flat's devices takes.

        Five in every family (a 1xx flat since its inverter serves model 123 too).
        """
        return 5

    # -- the battery -----------------------------------------------------------------

    @property
    def soc_abs_pct(self) -> float:
        """How far the reported state of charge may be from the simulated one.

        SunSpec reports it in 0.1 % steps; ECHONET Lite (0xE4) in whole per cent.
        """
        return 0.6 if self.name == ECHONET else 0.2

    @property
    def setpoint(self) -> SetpointState:
        """What the simulated battery holds now, whatever drives it."""
        return self.handle.state.setpoint

    @property
    def revert_timer(self) -> bool:
        """Whether the battery ends a hold by itself when its writes stop."""
        return self.name != ECHONET

    def held_for_s(self, power_w: float, revert_s: int) -> int:
        """How long a hold of ``power_w`` asked for ``revert_s`` lasts on the device.

        A revert timer runs ``revert_s``; an ECHONET battery runs until the amount
        written with the mode (the power for at least ``MIN_HOLD_S``) has moved.
        """
        if self.revert_timer:
            return revert_s
        battery = self.handle.state.battery
        limit = battery.max_discharge_w if power_w > 0 else battery.max_charge_w
        watts = min(round(abs(power_w)), round(limit))
        amount_wh = max(1, math.ceil(watts * max(revert_s, MIN_HOLD_S) / 3600))
        return max(1, math.ceil(amount_wh * 3600 / watts))

    def offer_floor_pct(self, battery: BatteryState) -> float:
        """The SoC below which the flat offers nothing to a group discharge."""
        if self.name == ECHONET:
            return DEFAULT_RESERVE_PCT  # no reserve property: the default
        if self.name == SUNSPEC_1XX:
            return battery.reserve_pct  # model 124 has MinRsvPct, no minimum SoC
        return max(battery.reserve_pct, battery.soc_min_pct)

    def operation_mode(self) -> int:
        """The ECHONET battery's operation mode (0xDA)."""
        battery = self._echonet_battery()
        return self.handle.call(lambda _: battery.get(p.OPERATION_MODE) or b"\x00")[0]

    def mode_writes(self) -> int:
        """How often the ECHONET battery's operation mode has been written."""
        battery = self._echonet_battery()
        return self.handle.call(lambda _: battery.mode_writes)

    def _echonet_battery(self) -> StorageBattery:
        assert self.nodes is not None, f"{self.name} has no operation mode"
        battery = self.nodes.node().objects[p.STORAGE_BATTERY]
        assert isinstance(battery, StorageBattery)
        return battery


@contextmanager
def family_flat(name: str) -> Iterator[FamilyFlat]:
    """Flat 101 of family ``name`` at midday after a night on battery."""
    if name == ECHONET:
        with echonet_flat_in_thread() as (handle, nodes):
            flat = FamilyFlat(name, handle, nodes)
            try:
                yield flat
            finally:
                flat.close()
        return
    sunspec = "1xx" if name == SUNSPEC_1XX else "7xx"
    with morning_flat(sunspec=sunspec) as handle:
        flat = FamilyFlat(name, handle)
        try:
            yield flat
        finally:
            flat.close()
