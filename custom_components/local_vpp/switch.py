"""The living-room circuit's changeover: grid or battery."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery_control import BatteryControl, Party
from .coordinator import LocalVppCoordinator
from .device import ROLE_BATTERY
from .entity import LocalVppEntity
from .group.entities import GROUP_PARTICIPATION, GroupParticipationSwitch
from .runtime import LocalVppConfigEntry

PARALLEL_UPDATES = 1

LIVING_ROOM_ON_BATTERY = SwitchEntityDescription(
    key="living_room_on_battery", translation_key="living_room_on_battery"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the living-room circuit switch (and group participation with a sidecar)."""
    coordinator = entry.runtime_data.coordinator
    entities: list[SwitchEntity] = [
        LivingRoomSwitch(coordinator, entry.runtime_data.control)
    ]
    if (group := entry.runtime_data.group) is not None:
        entities.append(
            GroupParticipationSwitch(coordinator, group, GROUP_PARTICIPATION)
        )
    async_add_entities(entities)


class LivingRoomSwitch(LocalVppEntity, SwitchEntity):
    """On: the living room runs from the battery. Off: from the grid."""

    def __init__(
        self, coordinator: LocalVppCoordinator, control: BatteryControl
    ) -> None:
        """Attach to the hybrid inverter, which owns the circuit."""
        super().__init__(coordinator, LIVING_ROOM_ON_BATTERY, ROLE_BATTERY)
        self._control = control

    @property
    def available(self) -> bool:
        """Unavailable when the circuit's source is unknown."""
        return super().available and self.is_on is not None

    @property
    def is_on(self) -> bool | None:
        """Whether the living room is fed from the battery."""
        room = self.coordinator.data.living_room
        return room.on_battery if room else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Move the living room to the battery."""
        await self._async_command(
            self._control.async_move_living_room(Party.RESIDENT, True)
        )

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Move the living room back to the grid."""
        await self._async_command(
            self._control.async_move_living_room(Party.RESIDENT, False)
        )
