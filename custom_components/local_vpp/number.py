"""Backup reserve and battery power setpoint."""

from __future__ import annotations

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery_control import BatteryControl
from .coordinator import LocalVppCoordinator
from .device import ROLE_BATTERY
from .entity import LocalVppEntity
from .group.entities import GROUP_MAX_SHARE, GroupMaxShareNumber
from .runtime import LocalVppConfigEntry

PARALLEL_UPDATES = 1

BACKUP_RESERVE = NumberEntityDescription(
    key="backup_reserve",
    translation_key="backup_reserve",
    native_min_value=0,
    native_max_value=100,
    native_step=1,
    native_unit_of_measurement=PERCENTAGE,
    mode=NumberMode.SLIDER,
)

BATTERY_SETPOINT = NumberEntityDescription(
    key="battery_setpoint",
    translation_key="battery_setpoint",
    device_class=NumberDeviceClass.POWER,
    native_step=1,
    native_unit_of_measurement=UnitOfPower.WATT,
    mode=NumberMode.BOX,
    # An installer's control, not a resident's: kept off the default dashboards.
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the battery's controls (and the group share limit with a sidecar)."""
    coordinator = entry.runtime_data.coordinator
    control = entry.runtime_data.control
    entities: list[NumberEntity] = [BatterySetpointNumber(coordinator, control)]
    # Without a reserve on the device, the installer sets it in the options.
    if coordinator.device.has_reserve_setting:
        entities.append(BackupReserveNumber(coordinator, control))
    if (group := entry.runtime_data.group) is not None:
        entities.append(GroupMaxShareNumber(coordinator, group, GROUP_MAX_SHARE))
    async_add_entities(entities)


class BackupReserveNumber(LocalVppEntity, NumberEntity):
    """The SoC the battery keeps back for an outage."""

    def __init__(
        self, coordinator: LocalVppCoordinator, control: BatteryControl
    ) -> None:
        """Attach to the battery."""
        super().__init__(coordinator, BACKUP_RESERVE, ROLE_BATTERY)
        self._control = control

    @property
    def available(self) -> bool:
        """Unavailable while the reserve is unknown."""
        return super().available and self.native_value is not None

    @property
    def native_min_value(self) -> float:
        """The battery's own minimum SoC: a lower reserve means nothing."""
        battery = self.coordinator.data.battery
        if battery is None or battery.min_soc_pct is None:
            return 0.0
        return battery.min_soc_pct

    @property
    def native_value(self) -> float | None:
        """The reserve the battery reports."""
        battery = self.coordinator.data.battery
        return battery.reserve_soc_pct if battery else None

    async def async_set_native_value(self, value: float) -> None:
        """Write the new reserve."""
        await self._async_command(self._control.async_set_reserve(value))


class BatterySetpointNumber(LocalVppEntity, NumberEntity):
    """Battery power on request: + discharge, − charge, 0 = the battery decides."""

    def __init__(
        self, coordinator: LocalVppCoordinator, control: BatteryControl
    ) -> None:
        """Attach to the battery."""
        super().__init__(coordinator, BATTERY_SETPOINT, ROLE_BATTERY)
        self._control = control

    @property
    def available(self) -> bool:
        """Unavailable while the battery's limits are unknown."""
        battery = self.coordinator.data.battery
        return (
            super().available
            and battery is not None
            and battery.max_charge_w is not None
            and battery.max_discharge_w is not None
        )

    @property
    def native_min_value(self) -> float:
        """The fastest charge the battery allows."""
        battery = self.coordinator.data.battery
        return -(battery.max_charge_w or 0.0) if battery else 0.0

    @property
    def native_max_value(self) -> float:
        """The fastest discharge the battery allows."""
        battery = self.coordinator.data.battery
        return (battery.max_discharge_w or 0.0) if battery else 0.0

    @property
    def native_value(self) -> float | None:
        """The setpoint in force, 0 when the battery follows its own logic."""
        battery = self.coordinator.data.battery
        if battery is None or battery.setpoint_enabled is None:
            return None
        return (battery.setpoint_w or 0.0) if battery.setpoint_enabled else 0.0

    async def async_set_native_value(self, value: float) -> None:
        """Ask for ``value`` watts and keep asking while Home Assistant runs.

        While the backup or a group discharge holds the battery, the wish waits.
        """
        await self._async_command(self._control.async_set_resident_setpoint(value))
