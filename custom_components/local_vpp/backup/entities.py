"""Entities that show the living-room backup's state (not the devices' readings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory, UnitOfEnergy, UnitOfTime
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY
from ..entity import LocalVppEntity
from ..signals import BACKUP_CHANGED
from .controller import BackupController
from .grid_watch import GridState


@dataclass(frozen=True, kw_only=True)
class BackupSensorDescription(SensorEntityDescription):
    """A backup sensor and how to read it from the controller."""

    value_fn: Callable[[BackupController, LocalVppCoordinator], float | str | None]


def _outage_state(backup: BackupController, _: LocalVppCoordinator) -> str | None:
    state = backup.watch.state
    # Home Assistant has its own "unknown"; an enum option of that name would clash.
    return None if state is GridState.UNKNOWN else state.value


def _energy_used(backup: BackupController, _: LocalVppCoordinator) -> float | None:
    return None if backup.energy_use is None else backup.energy_use.used_wh


def _runtime_left(
    backup: BackupController, coordinator: LocalVppCoordinator
) -> float | None:
    if not coordinator.last_update_success:
        return None
    return backup.runtime_left_min(coordinator.data)


def _duration(backup: BackupController, _: LocalVppCoordinator) -> float | None:
    return backup.outage_duration_s()


BACKUP_SENSORS: tuple[BackupSensorDescription, ...] = (
    BackupSensorDescription(
        key="outage_state",
        translation_key="outage_state",
        device_class=SensorDeviceClass.ENUM,
        options=[s.value for s in GridState if s is not GridState.UNKNOWN],
        value_fn=_outage_state,
    ),
    BackupSensorDescription(
        key="outage_duration",
        translation_key="outage_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=1,
        value_fn=_duration,
    ),
    BackupSensorDescription(
        key="backup_energy_used",
        translation_key="backup_energy_used",
        # No state class: a per-outage figure, not a total for the Energy dashboard.
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_energy_used,
    ),
    BackupSensorDescription(
        key="backup_runtime_left",
        translation_key="backup_runtime_left",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=1,
        value_fn=_runtime_left,
    ),
)

BACKUP_ACTIVE = BinarySensorEntityDescription(
    key="backup_active", translation_key="backup_active"
)


class BackupEntity(LocalVppEntity):
    """Updated on every poll and whenever the backup changes state."""

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        backup: BackupController,
        description: EntityDescription,
    ) -> None:
        """Attach to the battery, which owns the living-room circuit."""
        super().__init__(coordinator, description, ROLE_BATTERY)
        self._backup = backup

    async def async_added_to_hass(self) -> None:
        """Also follow the backup's own changes between polls."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                BACKUP_CHANGED.format(self.coordinator.config_entry.entry_id),
                self.async_write_ha_state,
            )
        )

    @property
    def available(self) -> bool:
        """The backup's state is Home Assistant's own knowledge: always available."""
        return True


class BackupSensor(BackupEntity, SensorEntity):
    """Outage state, duration, energy used and runtime left."""

    entity_description: BackupSensorDescription

    @property
    def native_value(self) -> float | str | None:
        """The value from the controller."""
        return self.entity_description.value_fn(self._backup, self.coordinator)


class BackupActiveSensor(BackupEntity, BinarySensorEntity):
    """On while the living room is on the battery because of an outage."""

    @property
    def is_on(self) -> bool:
        """Whether the backup is engaged."""
        return self._backup.engaged
