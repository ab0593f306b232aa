"""Entities for the flat's link to its ledger sidecar, refreshed with every poll."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.helpers.entity import EntityDescription

from .coordinator import LocalVppCoordinator
from .device import ROLE_BATTERY
from .entity import LocalVppEntity
from .sidecar_link import SidecarLink

SIDECAR_CONNECTED = BinarySensorEntityDescription(
    key="sidecar_connected",
    translation_key="sidecar_connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
LEDGER_ENTRIES = SensorEntityDescription(
    key="ledger_entries",
    translation_key="ledger_entries",
    state_class=SensorStateClass.TOTAL_INCREASING,
    entity_category=EntityCategory.DIAGNOSTIC,
)


class LedgerEntity(LocalVppEntity):
    """Reads the sidecar link; Home Assistant's own knowledge, always available."""

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        link: SidecarLink,
        description: EntityDescription,
    ) -> None:
        """Attach to the battery device, whose serial names the flat's feed."""
        super().__init__(coordinator, description, ROLE_BATTERY)
        self._link = link

    @property
    def available(self) -> bool:
        """The link's state is known even when the devices are not."""
        return True


class SidecarConnectedSensor(LedgerEntity, BinarySensorEntity):
    """On while the WebSocket to the sidecar is up and welcomed."""

    @property
    def is_on(self) -> bool:
        """Whether the link is up."""
        return self._link.connected


class LedgerEntriesSensor(LedgerEntity, SensorEntity):
    """The flat's feed length: the sequence number of the last acknowledged entry."""

    @property
    def native_value(self) -> int | None:
        """Last acknowledged entry's sequence number (durable on the sidecar)."""
        return self._link.last_seq
