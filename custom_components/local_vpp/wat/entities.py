"""The WAT sensors: balance and its value now, today's trades, the local price.

Amounts come from the sidecar in base units and are shown in WAT with the currency's
decimals; energy in mWh is shown in kWh. Balance is a ``total`` (it goes up and down
as the flat sells and buys), today's figures ``total_increasing`` (they start again at
zero each day), the value now and the price are measurements.
"""

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
from homeassistant.const import UnitOfEnergy

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY
from ..entity import LocalVppEntity
from .poller import WatPoller

UNIT = "WAT"


def _wat(key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(state: dict[str, Any]) -> float | None:
        value, decimals = state.get(key), state.get("decimals")
        if not isinstance(value, int) or not isinstance(decimals, int):
            return None
        return value / int(10**decimals)

    return read


def _kwh(key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(state: dict[str, Any]) -> float | None:
        value = state.get(key)
        return value / 1_000_000 if isinstance(value, int) else None

    return read


@dataclass(frozen=True, kw_only=True)
class WatSensorDescription(SensorEntityDescription):
    """A figure of ``/api/v1/wat``."""

    value_fn: Callable[[dict[str, Any]], float | None]


WAT_SENSORS: tuple[WatSensorDescription, ...] = (
    WatSensorDescription(
        key="wat_balance",
        translation_key="wat_balance",
        native_unit_of_measurement=UNIT,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=3,
        value_fn=_wat("balance"),
    ),
    WatSensorDescription(
        key="wat_value_now",
        translation_key="wat_value_now",
        native_unit_of_measurement=UNIT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        value_fn=_wat("value_now"),
    ),
    WatSensorDescription(
        key="wat_earned_today",
        translation_key="wat_earned_today",
        native_unit_of_measurement=UNIT,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_wat("earned_today"),
    ),
    WatSensorDescription(
        key="wat_spent_today",
        translation_key="wat_spent_today",
        native_unit_of_measurement=UNIT,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_wat("spent_today"),
    ),
    WatSensorDescription(
        key="wat_local_price",
        translation_key="wat_local_price",
        native_unit_of_measurement=f"{UNIT}/{UnitOfEnergy.KILO_WATT_HOUR}",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        value_fn=_wat("price_now"),
    ),
    WatSensorDescription(
        key="wat_sold_to_neighbours_today",
        translation_key="wat_sold_to_neighbours_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_kwh("sold_today_mwh"),
    ),
    WatSensorDescription(
        key="wat_bought_from_neighbours_today",
        translation_key="wat_bought_from_neighbours_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_kwh("bought_today_mwh"),
    ),
)


class WatSensor(LocalVppEntity, SensorEntity):
    """One WAT figure; unavailable while the sidecar cannot say it."""

    entity_description: WatSensorDescription

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        poller: WatPoller,
        description: WatSensorDescription,
    ) -> None:
        """Attach to the battery device, like the other ledger entities."""
        super().__init__(coordinator, description, ROLE_BATTERY)
        self._poller = poller

    async def async_added_to_hass(self) -> None:
        """Follow the poller as well as the coordinator."""
        await super().async_added_to_hass()
        self._poller.listeners.append(self.async_write_ha_state)
        self.async_on_remove(
            lambda: self._poller.listeners.remove(self.async_write_ha_state)
        )

    @property
    def available(self) -> bool:
        """Only with figures from the sidecar."""
        state = self._poller.state
        return state is not None and self.entity_description.value_fn(state) is not None

    @property
    def native_value(self) -> float | None:
        """The figure in WAT or kWh."""
        state = self._poller.state
        return None if state is None else self.entity_description.value_fn(state)


def wat_sensors(coordinator: LocalVppCoordinator, poller: WatPoller) -> list[WatSensor]:
    """Every WAT sensor of a flat."""
    return [WatSensor(coordinator, poller, d) for d in WAT_SENSORS]
