"""The base entity: one of the flat's devices, fed by the shared coordinator."""

from __future__ import annotations

from collections.abc import Awaitable

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import LocalVppCoordinator
from .device import ROLE_BATTERY, CannotConnectError, DeviceRejectedError


def device_info(coordinator: LocalVppCoordinator, role: str) -> DeviceInfo:
    """Describe one unit as a device; PV and meter hang off the hybrid inverter."""
    flat = coordinator.device
    identity = flat.identities[role]
    info = DeviceInfo(
        identifiers={(DOMAIN, identity.serial)},
        translation_key=role,
        manufacturer=identity.manufacturer or None,
        model=identity.model or None,
        sw_version=identity.version or None,
        serial_number=identity.serial,
    )
    if role != ROLE_BATTERY:
        info["via_device"] = (DOMAIN, flat.serial)
    return info


class LocalVppEntity(CoordinatorEntity[LocalVppCoordinator]):
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
