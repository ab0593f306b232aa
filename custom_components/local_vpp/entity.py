"""The base entity: one of the flat's devices, fed by the shared coordinator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import LocalVppCoordinator
from .device import ROLE_BATTERY, CannotConnectError, DeviceRejectedError
from .naming import flat_of, object_id

if TYPE_CHECKING:
    from homeassistant.helpers.entity_platform import EntityPlatform


def device_info(coordinator: LocalVppCoordinator, role: str) -> DeviceInfo:
    """Describe one unit as a device; PV and meter hang off the hybrid inverter.

    The name is translated with the entry's title in it ("Flat 301 battery"), so
    renaming the entry (which reloads it) renames the devices.
    """
    flat = coordinator.device
    identity = flat.identities[role]
    info = DeviceInfo(
        identifiers={(DOMAIN, identity.serial)},
        translation_key=role,
        translation_placeholders={"flat": coordinator.config_entry.title},
        manufacturer=identity.manufacturer or None,
        model=identity.model or None,
        sw_version=identity.version or None,
        serial_number=identity.serial,
    )
    if role != ROLE_BATTERY:
        info["via_device"] = (DOMAIN, flat.serial)
    return info


class FlatEntity(Entity):
    """Any entity of one of the flat's devices: its id is ASCII and names the flat.

    Subclasses set ``_flat`` (the flat's coordinator) and ``_role`` (its device).
    """

    _flat: LocalVppCoordinator
    _role: str

    def add_to_platform_start(
        self,
        hass: HomeAssistant,
        platform: EntityPlatform,
        parallel_updates: asyncio.Semaphore | None,
    ) -> None:
        """Suggest an ASCII entity id with the flat in it, whatever the language.

        Home Assistant would build the id from the device name, which is in the
        server's language; the registry keeps an id once given, so this only names
        new entities.
        """
        super().add_to_platform_start(hass, platform, parallel_updates)
        if not self.entity_id:
            self.entity_id = f"{platform.domain}." + object_id(
                flat_of(self._flat.config_entry),
                self._flat.device.serial,
                self._role,
                self.suggested_object_id,
            )


class LocalVppEntity(FlatEntity, CoordinatorEntity[LocalVppCoordinator]):
    """An entity of one of the flat's units."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        description: EntityDescription,
        role: str,
    ) -> None:
        """Attach ``description`` to the device of ``role``."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.device.serial}_{description.key}"
        self._attr_device_info = device_info(coordinator, role)
        self._flat = coordinator
        self._role = role

    async def _async_command(self, write: Awaitable[None]) -> None:
        """Await a resident's write, then poll; device errors become HA errors."""
        try:
            await write
        except DeviceRejectedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="write_rejected",
                translation_placeholders={"error": str(err)},
            ) from err
        except CannotConnectError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="write_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        await self.coordinator.async_refresh()
