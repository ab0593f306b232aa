"""Adding the origin sensors to a flat that has a ledger sidecar."""

from __future__ import annotations

from homeassistant.components.sensor import SensorEntity
from homeassistant.core import HomeAssistant

from ..runtime import LocalVppConfigEntry
from .coordinator import OriginCoordinator
from .entities import ORIGIN_SENSORS, OriginSensor


async def async_origin_sensors(
    hass: HomeAssistant, entry: LocalVppConfigEntry
) -> list[SensorEntity]:
    """The origin sensors, polling the flat's sidecar (none without one)."""
    link = entry.runtime_data.sidecar
    if link is None:
        return []
    coordinator = OriginCoordinator(hass, entry, link)
    # Not the first-refresh variant: a sidecar that is not up yet must not hold up
    # the flat's setup; the sensors are unavailable until it answers.
    await coordinator.async_refresh()
    flat = entry.runtime_data.coordinator
    return [OriginSensor(coordinator, flat, d) for d in ORIGIN_SENSORS]
