"""Battery health entities: efficiency, capacity and SoH from the ledger; anomalies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY
from ..entity import FlatEntity, device_info
from .health import BatteryHealth, BatteryHealthData


@dataclass(frozen=True, kw_only=True)
class HealthSensorDescription(SensorEntityDescription):
    """A figure of the battery health report."""

    value_fn: Callable[[BatteryHealthData], float | None]


HEALTH_SENSORS: tuple[HealthSensorDescription, ...] = (
    HealthSensorDescription(
        key="battery_round_trip_efficiency",
        translation_key="battery_round_trip_efficiency",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda data: data.round_trip_pct,
    ),
    HealthSensorDescription(
        key="battery_estimated_capacity",
        translation_key="battery_estimated_capacity",
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda data: data.capacity_wh,
    ),
    HealthSensorDescription(
        key="battery_estimated_soh",
        translation_key="battery_estimated_soh",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda data: data.soh_pct,
    ),
)
BATTERY_ANOMALY = BinarySensorEntityDescription(
    key="battery_anomaly",
    translation_key="battery_anomaly",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


class _HealthEntity(FlatEntity, CoordinatorEntity[BatteryHealth]):
    """An entity of the battery device fed by the health reader."""

    _attr_has_entity_name = True

    def __init__(
        self,
        health: BatteryHealth,
        flat: LocalVppCoordinator,
        key: str,
    ) -> None:
        super().__init__(health)
        self._attr_unique_id = f"{flat.device.serial}_{key}"
        self._attr_device_info = device_info(flat, ROLE_BATTERY)
        self._flat = flat
        self._role = ROLE_BATTERY

    @property
    def available(self) -> bool:
        """Unavailable when the read failed or the sidecar has no battery figures."""
        return super().available and self.coordinator.data is not None


class HealthSensor(_HealthEntity, SensorEntity):
    """A battery figure; unknown until the ledger holds enough to say."""

    entity_description: HealthSensorDescription

    def __init__(
        self,
        health: BatteryHealth,
        flat: LocalVppCoordinator,
        description: HealthSensorDescription,
    ) -> None:
        """Show ``description``'s figure."""
        super().__init__(health, flat, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> float | None:
        """The figure, or None while the ledger holds too few days."""
        data = self.coordinator.data
        return None if data is None else self.entity_description.value_fn(data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The capacity's uncertainty and how many days the figures rest on."""
        data = self.coordinator.data
        if data is None:
            return None
        attributes: dict[str, Any] = {"days": data.days}
        if self.entity_description.key == "battery_estimated_capacity":
            attributes["uncertainty_wh"] = data.capacity_uncertainty_wh
        return attributes


class BatteryAnomalySensor(_HealthEntity, BinarySensorEntity):
    """On while the ledger shows the battery ageing abnormally."""

    def __init__(self, health: BatteryHealth, flat: LocalVppCoordinator) -> None:
        """The anomaly sensor of the flat's battery."""
        super().__init__(health, flat, BATTERY_ANOMALY.key)
        self.entity_description = BATTERY_ANOMALY

    @property
    def is_on(self) -> bool | None:
        """Whether any anomaly is active on the latest day."""
        data = self.coordinator.data
        return None if data is None else bool(data.active)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The active anomalies: kind, what was measured and expected, evidence."""
        data = self.coordinator.data
        if data is None:
            return None
        return {
            "anomalies": [
                {
                    "kind": a.get("kind"),
                    "measured": a.get("measured"),
                    "expected": a.get("expected"),
                    "entries": len(a.get("entries", [])),
                }
                for a in data.active
            ]
        }


def health_sensors(
    health: BatteryHealth, flat: LocalVppCoordinator
) -> list[SensorEntity]:
    """The battery health sensors of a flat."""
    return [HealthSensor(health, flat, d) for d in HEALTH_SENSORS]


def health_binary_sensors(
    health: BatteryHealth, flat: LocalVppCoordinator
) -> list[BinarySensorEntity]:
    """The battery anomaly sensor of a flat."""
    return [BatteryAnomalySensor(health, flat)]
