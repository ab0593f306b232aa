"""The sensor kinds read from each poll: a measurement, a lifetime total, a yes/no.

Shared by the sensor platform and the areas that add sensors of their own, so
that those need not import the platform.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.core import callback

from .coordinator import LocalVppCoordinator
from .device import FlatReading
from .energy_total import EnergyTotal, EnergyTotalState
from .entity import LocalVppEntity

type ValueFn = Callable[[FlatReading], float | int | str | None]


@dataclass(frozen=True, kw_only=True)
class LocalVppSensorDescription(SensorEntityDescription):
    """A sensor: which unit it belongs to and how to read it from a poll."""

    role: str
    value_fn: ValueFn


def power_sensor(key: str, role: str, value_fn: ValueFn) -> LocalVppSensorDescription:
    """A power measurement in W, read from each poll."""
    return LocalVppSensorDescription(
        key=key,
        translation_key=key,
        role=role,
        value_fn=value_fn,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    )


def energy_sensor(key: str, role: str, value_fn: ValueFn) -> LocalVppSensorDescription:
    """A lifetime energy total in Wh, shown in kWh, for the Energy dashboard."""
    return LocalVppSensorDescription(
        key=key,
        translation_key=key,
        role=role,
        value_fn=value_fn,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
    )


class LocalVppSensor(LocalVppEntity, SensorEntity):
    """A measurement read straight from the latest poll."""

    entity_description: LocalVppSensorDescription

    def __init__(
        self, coordinator: LocalVppCoordinator, description: LocalVppSensorDescription
    ) -> None:
        """Attach the description to its unit's device."""
        super().__init__(coordinator, description, description.role)

    @property
    def available(self) -> bool:
        """Unavailable whenever the value is unknown: never a made-up 0."""
        return super().available and self.native_value is not None

    @property
    def native_value(self) -> float | int | str | None:
        """The value from the latest poll."""
        return self.entity_description.value_fn(self.coordinator.data)


class LocalVppEnergySensor(LocalVppEntity, RestoreSensor):
    """A lifetime energy total that survives restarts and glitches without jumps."""

    entity_description: LocalVppSensorDescription

    def __init__(
        self, coordinator: LocalVppCoordinator, description: LocalVppSensorDescription
    ) -> None:
        """Attach the description and start an empty total."""
        super().__init__(coordinator, description, description.role)
        self._total = EnergyTotal()
        self._counter_known = False

    async def async_added_to_hass(self) -> None:
        """Continue from the total stored before the last restart."""
        await super().async_added_to_hass()
        extra = await self.async_get_last_extra_data()
        state = None if extra is None else EnergyTotalState.from_dict(extra.as_dict())
        if state is not None:
            self._total.restore(state)
        self._follow_counter()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._follow_counter()
        super()._handle_coordinator_update()

    def _follow_counter(self) -> None:
        counter = self.entity_description.value_fn(self.coordinator.data)
        self._counter_known = counter is not None
        if counter is not None and self.coordinator.last_update_success:
            self._total.update(float(counter), time.time())

    @property
    def available(self) -> bool:
        """Unavailable while the counter cannot be read."""
        return (
            super().available and self._counter_known and self.native_value is not None
        )

    @property
    def native_value(self) -> float | None:
        """The total to show."""
        return self._total.total_wh

    @property
    def extra_restore_state_data(self) -> _EnergyTotalExtraData:
        """Store the total and the counter offset for the next start."""
        return _EnergyTotalExtraData(self._total.state)


class _EnergyTotalExtraData(SensorExtraStoredData):
    """Restore data: the sensor's own fields plus the total's state."""

    def __init__(self, state: EnergyTotalState | None) -> None:
        total = None if state is None else state.total_wh
        super().__init__(total, UnitOfEnergy.WATT_HOUR)
        self._state = state

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        if self._state is not None:
            data.update(self._state.as_dict())
        return data


@dataclass(frozen=True, kw_only=True)
class LocalVppBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor: its unit and how to read it from a poll."""

    role: str
    value_fn: Callable[[FlatReading], bool | None]


class LocalVppBinarySensor(LocalVppEntity, BinarySensorEntity):
    """A yes/no state from the latest poll; lost communication is unavailable."""

    entity_description: LocalVppBinarySensorDescription

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        description: LocalVppBinarySensorDescription,
    ) -> None:
        """Attach the description to its unit's device."""
        super().__init__(coordinator, description, description.role)

    @property
    def available(self) -> bool:
        """Unknown is unavailable, never a made-up 'off'."""
        return super().available and self.is_on is not None

    @property
    def is_on(self) -> bool | None:
        """The state from the latest poll."""
        return self.entity_description.value_fn(self.coordinator.data)
