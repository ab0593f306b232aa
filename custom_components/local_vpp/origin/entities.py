"""Sensors: renewable share today (own and building), renewable and neighbour energy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from .coordinator import OriginCoordinator

type OriginValue = Callable[[dict[str, Any]], float | int | None]


def _share(scope: str) -> OriginValue:
    def value(figures: dict[str, Any]) -> float | None:
        part = figures[scope]
        if not part.get("consumed_wh"):
            return None  # nothing consumed yet today: no share to state
        return round(int(part["renewable_ppm"]) / 10_000, 1)

    return value


def _energy(key: str) -> OriginValue:
    def value(figures: dict[str, Any]) -> int:
        return int(figures["flat"][key])

    return value


@dataclass(frozen=True, kw_only=True)
class OriginSensorDescription(SensorEntityDescription):
    """An origin sensor and how to read it from today's figures."""

    value_fn: OriginValue


def _share_sensor(key: str, scope: str) -> OriginSensorDescription:
    return OriginSensorDescription(
        key=key,
        translation_key=key,
        value_fn=_share(scope),
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
    )


def _energy_sensor(key: str, figure: str) -> OriginSensorDescription:
    return OriginSensorDescription(
        key=key,
        translation_key=key,
        value_fn=_energy(figure),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        # Resets at local midnight: a drop starts a new cycle for the statistics.
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
    )


ORIGIN_SENSORS: tuple[OriginSensorDescription, ...] = (
    _share_sensor("renewable_share_today", "flat"),
    _share_sensor("building_renewable_share_today", "building"),
    _energy_sensor("renewable_energy_today", "renewable_wh"),
    _energy_sensor("neighbour_energy_today", "neighbours_wh"),
)


class OriginSensor(FlatEntity, CoordinatorEntity[OriginCoordinator], SensorEntity):
    """One of today's origin figures, on the flat's battery device."""

    _attr_has_entity_name = True
    entity_description: OriginSensorDescription

    def __init__(
        self,
        coordinator: OriginCoordinator,
        flat: LocalVppCoordinator,
        description: OriginSensorDescription,
    ) -> None:
        """Attach to the battery device, whose serial names the flat's feed."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{flat.device.serial}_{description.key}"
        self._attr_device_info = device_info(flat, ROLE_BATTERY)
        self._flat = flat
        self._role = ROLE_BATTERY

    @property
    def available(self) -> bool:
        """Unavailable when the sidecar could not be read (never 0)."""
        data: dict[str, Any] | None = self.coordinator.data
        return super().available and data is not None

    @property
    def native_value(self) -> float | int | None:
        """Today's figure."""
        data: dict[str, Any] | None = self.coordinator.data
        return None if data is None else self.entity_description.value_fn(data)
