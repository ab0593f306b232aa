"""Grid presence, living-room power and battery alarm."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .backup.entities import BACKUP_ACTIVE, BackupActiveSensor
from .battery_health.entities import health_binary_sensors
from .device import ROLE_BATTERY, ROLE_METER, FlatReading
from .group.entities import GROUP_ACTIVE, GroupActiveSensor
from .inverter.entities import inverter_binary_sensors
from .ledger.entities import (
    LEDGER_INTEGRITY,
    SIDECAR_CONNECTED,
    LedgerIntegritySensor,
    SidecarConnectedSensor,
)
from .runtime import LocalVppConfigEntry
from .sensor_kinds import LocalVppBinarySensor, LocalVppBinarySensorDescription

PARALLEL_UPDATES = 0


def _grid_connected(reading: FlatReading) -> bool | None:
    return reading.meter.connected if reading.meter else None


def _living_room_powered(reading: FlatReading) -> bool | None:
    return reading.living_room.powered if reading.living_room else None


def _battery_problem(reading: FlatReading) -> bool | None:
    battery = reading.battery
    if battery is None or battery.alarms is None:
        return None
    return bool(battery.alarms) or bool(battery.inverter_faulted)


BINARY_SENSORS: tuple[LocalVppBinarySensorDescription, ...] = (
    LocalVppBinarySensorDescription(
        key="grid_connected",
        translation_key="grid_connected",
        role=ROLE_METER,
        device_class=BinarySensorDeviceClass.POWER,
        value_fn=_grid_connected,
    ),
    LocalVppBinarySensorDescription(
        key="living_room_powered",
        translation_key="living_room_powered",
        role=ROLE_BATTERY,
        device_class=BinarySensorDeviceClass.POWER,
        value_fn=_living_room_powered,
    ),
    LocalVppBinarySensorDescription(
        key="battery_problem",
        translation_key="battery_problem",
        role=ROLE_BATTERY,
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_battery_problem,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the flat's binary sensors."""
    coordinator = entry.runtime_data.coordinator
    entities: list[BinarySensorEntity] = [
        LocalVppBinarySensor(coordinator, description) for description in BINARY_SENSORS
    ]
    entities.append(
        BackupActiveSensor(coordinator, entry.runtime_data.backup, BACKUP_ACTIVE)
    )
    entities += inverter_binary_sensors(coordinator)
    if (link := entry.runtime_data.sidecar) is not None:
        entities.append(SidecarConnectedSensor(coordinator, link, SIDECAR_CONNECTED))
        entities.append(LedgerIntegritySensor(coordinator, link, LEDGER_INTEGRITY))
    if (group := entry.runtime_data.group) is not None:
        entities.append(GroupActiveSensor(coordinator, group, GROUP_ACTIVE))
    if (health := entry.runtime_data.battery_health) is not None:
        entities.extend(health_binary_sensors(health, coordinator))
    async_add_entities(entities)
