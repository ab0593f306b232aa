"""The backup mode: what happens by itself when the grid fails."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .backup import BackupController
from .const import BACKUP_MODES
from .coordinator import LocalVppConfigEntry, LocalVppCoordinator
from .device import ROLE_BATTERY
from .entity import LocalVppEntity

PARALLEL_UPDATES = 1

BACKUP_MODE = SelectEntityDescription(
    key="backup_mode",
    translation_key="backup_mode",
    options=BACKUP_MODES,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the backup mode select."""
    data = entry.runtime_data
    async_add_entities([BackupModeSelect(data.coordinator, data.backup)])


class BackupModeSelect(LocalVppEntity, SelectEntity):
    """Auto: switch and shed by itself. Manual: only tell. Off: do nothing."""

    def __init__(
        self, coordinator: LocalVppCoordinator, backup: BackupController
    ) -> None:
        """Attach to the battery, which owns the living-room circuit."""
        super().__init__(coordinator, BACKUP_MODE, ROLE_BATTERY)
        self._backup = backup

    async def async_added_to_hass(self) -> None:
        """Follow mode changes made elsewhere (e.g. by another entity or restart)."""
        await super().async_added_to_hass()
        self.async_on_remove(self._backup.async_add_listener(self.async_write_ha_state))

    @property
    def available(self) -> bool:
        """The mode is Home Assistant's own setting: always available."""
        return True

    @property
    def current_option(self) -> str:
        """The mode in force."""
        return self._backup.mode

    async def async_select_option(self, option: str) -> None:
        """Change the mode."""
        await self._backup.async_set_mode(option)
        self.async_write_ha_state()
