"""The living room as the installer set it up: who switches it, what measures it.

``changeover`` is what the battery control calls to move the living room (``None``:
the device's own write); ``adjust`` puts the chosen entities' states into each
reading, so the backup and the entities see one living room whatever drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from homeassistant.const import (
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant

from ..device import FlatReading, LivingRoomReading
from .options import (
    CONF_LIVING_ROOM_POWER_ENTITY,
    CONF_LIVING_ROOM_SWITCH,
    CONF_LIVING_ROOM_SWITCH_ENTITY,
    SWITCH_DEVICE,
    SWITCH_ENTITY,
    SWITCH_SELF,
)

_LOGGER = logging.getLogger(__name__)
_WATTS_PER: dict[str, float] = {
    UnitOfPower.WATT: 1.0,
    UnitOfPower.KILO_WATT: 1000.0,
}


class LivingRoomSetup:
    """One flat's living-room changeover and measurement, from the entry's options."""

    def __init__(self, hass: HomeAssistant, options: Mapping[str, Any]) -> None:
        """Read the choice; nothing is touched until used."""
        self._hass = hass
        self.mode = str(options.get(CONF_LIVING_ROOM_SWITCH) or SWITCH_DEVICE)
        self.switch_entity: str | None = options.get(CONF_LIVING_ROOM_SWITCH_ENTITY)
        self.power_entity: str | None = options.get(CONF_LIVING_ROOM_POWER_ENTITY)
        if self.mode == SWITCH_ENTITY and not self.switch_entity:
            _LOGGER.warning("No living-room switch chosen; the device switches it")
            self.mode = SWITCH_DEVICE

    @property
    def changeover(self) -> Callable[[bool], Awaitable[None]] | None:
        """The changeover to use instead of the device's; ``None`` for the device's."""
        if self.mode == SWITCH_ENTITY:
            return self._switch_entity
        if self.mode == SWITCH_SELF:
            return self._leave_to_inverter
        return None

    async def _switch_entity(self, on_battery: bool) -> None:
        assert self.switch_entity is not None
        # homeassistant.turn_on/off serves switches and input booleans alike.
        await self._hass.services.async_call(
            "homeassistant",
            SERVICE_TURN_ON if on_battery else SERVICE_TURN_OFF,
            {"entity_id": self.switch_entity},
            blocking=True,
        )

    async def _leave_to_inverter(self, on_battery: bool) -> None:
        _LOGGER.debug(
            "Living room to %s: the inverter's backup output switches by itself",
            "battery" if on_battery else "grid",
        )

    def adjust(self, reading: FlatReading) -> FlatReading:
        """``reading`` with the living room as the chosen entities say."""
        if self.mode != SWITCH_ENTITY and self.power_entity is None:
            return reading
        room = reading.living_room or LivingRoomReading(None, None, None, None)
        if self.mode == SWITCH_ENTITY:
            room = replace(room, on_battery=self._switch_state())
        if self.power_entity is not None:
            room = replace(room, power_w=self._power_w())
        return replace(reading, living_room=room)

    def _switch_state(self) -> bool | None:
        assert self.switch_entity is not None
        state = self._hass.states.get(self.switch_entity)
        if state is None or state.state not in (STATE_ON, STATE_OFF):
            return None
        return state.state == STATE_ON

    def _power_w(self) -> float | None:
        assert self.power_entity is not None
        state = self._hass.states.get(self.power_entity)
        if state is None:
            return None
        factor = _WATTS_PER.get(state.attributes.get("unit_of_measurement", "W"))
        try:
            value = float(state.state)
        except ValueError:
            return None  # unavailable or unknown: not 0
        return None if factor is None else value * factor
