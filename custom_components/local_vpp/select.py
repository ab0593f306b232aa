"""The backup mode: what happens by itself when the grid fails."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .backup.controller import BackupController
from .backup.entities import BackupEntity
from .const import BACKUP_MODES
from .coordinator import LocalVppCoordinator
from .runtime import LocalVppConfigEntry

PARALLEL_UPDATES = 1

BACKUP_MODE = SelectEntityDescription(
    key="backup_mode",
    translation_key="backup_mode",
    options=BACKUP_MODES,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the backup mode select."""
    data = entry.runtime_data
    async_add_entities([BackupModeSelect(data.coordinator, data.backup)])


class BackupModeSelect(BackupEntity, SelectEntity):
    """Auto: switch and shed by itself. Manual: only tell. Off: do nothing."""

    def __init__(
        self, coordinator: LocalVppCoordinator, backup: BackupController
    ) -> None:
        """Attach to the battery, which owns the living-room circuit."""
        super().__init__(coordinator, backup, BACKUP_MODE)

    @property
    def current_option(self) -> str:
        """The mode in force."""
        return self._backup.mode

    async def async_select_option(self, option: str) -> None:
        """Change the mode."""
        await self._backup.async_set_mode(option)
        self.async_write_ha_state()
