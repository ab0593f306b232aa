"""Entities for the flat's link to its ledger sidecar and the building's ledger mesh."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.event import async_track_time_interval

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY
from ..entity import LocalVppEntity
from ..signals import LINK_CHANGED
from .mesh import mesh_of
from .messages import MeshStatus
from .sidecar_link import SidecarLink

# The checkpoint age grows between mesh messages; it is shown afresh this often.
AGE_REFRESH = timedelta(seconds=2)


def _wall_clock() -> float:
    """Unix time in seconds (a function so tests can move it)."""
    return time.time()


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
    # Changes with every record (every 10 s): history for few who look at it.
    entity_registry_enabled_default=False,
)
LEDGER_ESTIMATED = SensorEntityDescription(
    key="ledger_estimated_today",
    translation_key="ledger_estimated_today",
    state_class=SensorStateClass.MEASUREMENT,
    entity_category=EntityCategory.DIAGNOSTIC,
)
LEDGER_INTEGRITY = BinarySensorEntityDescription(
    key="ledger_integrity",
    translation_key="ledger_integrity",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


@dataclass(frozen=True, kw_only=True)
class MeshSensorDescription(SensorEntityDescription):
    """A number from the newest mesh message."""

    value_fn: Callable[[MeshStatus], int | None]


MESH_SENSORS: tuple[MeshSensorDescription, ...] = (
    MeshSensorDescription(
        key="ledger_peers_online",
        translation_key="ledger_peers_online",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda mesh: mesh.peers_online,
    ),
    MeshSensorDescription(
        key="ledger_roster_size",
        translation_key="ledger_roster_size",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda mesh: mesh.roster_size,
    ),
)
WITNESSED_AGE = SensorEntityDescription(
    key="ledger_witnessed_age",
    translation_key="ledger_witnessed_age",
    device_class=SensorDeviceClass.DURATION,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfTime.SECONDS,
    suggested_display_precision=0,
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

    async def async_added_to_hass(self) -> None:
        """Follow the link as well as the polls."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                LINK_CHANGED.format(self.coordinator.config_entry.entry_id),
                self._handle_link_change,
            )
        )

    @callback
    def _handle_link_change(self) -> None:
        self.async_write_ha_state()

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


class LedgerEstimatedSensor(LedgerEntity, SensorEntity):
    """Today's intervals the flat's ledger could only estimate (the sidecar's tally).

    Unavailable until the sidecar has acknowledged a flow with its tally.
    """

    @property
    def available(self) -> bool:
        """Only once a flow's acknowledgement carried the tally."""
        entry = self._link.last_entry
        return entry is not None and entry.estimated_today is not None

    @property
    def native_value(self) -> int | None:
        """Estimated intervals today."""
        entry = self._link.last_entry
        return None if entry is None else entry.estimated_today

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Reconciled intervals today, the newest flow's quality, estimating since."""
        entry = self._link.last_entry
        if entry is None:
            return None
        since = entry.estimating_since
        return {
            "reconciled_today": entry.reconciled_today,
            "latest_quality": entry.quality,
            "estimating_since": None
            if since is None
            else datetime.fromtimestamp(since / 1000, UTC).isoformat(),
        }


class MeshEntity(LedgerEntity):
    """Shows what the sidecar says about the mesh; unavailable while it cannot say."""

    @property
    def _mesh(self) -> MeshStatus | None:
        return mesh_of(self._link)

    @property
    def available(self) -> bool:
        """Only while the link is up and the sidecar has reported the mesh."""
        return self._mesh is not None


class MeshSensor(MeshEntity, SensorEntity):
    """A count from the newest mesh message."""

    entity_description: MeshSensorDescription

    @property
    def native_value(self) -> int | None:
        """The count, ``None`` when the sidecar left it out."""
        mesh = self._mesh
        return None if mesh is None else self.entity_description.value_fn(mesh)


class WitnessedAgeSensor(MeshEntity, SensorEntity):
    """Seconds since the newest checkpoint of this flat's log a majority cosigned."""

    async def async_added_to_hass(self) -> None:
        """Tick between mesh messages, so the age keeps growing."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_track_time_interval(self.hass, self._tick, AGE_REFRESH)
        )

    @callback
    def _tick(self, _now: Any) -> None:
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Unavailable while no checkpoint has been witnessed (or it is not known)."""
        mesh = self._mesh
        return mesh is not None and mesh.witnessed_ts_ms is not None

    @property
    def native_value(self) -> float | None:
        """Age from the checkpoint's own timestamp, never negative."""
        mesh = self._mesh
        if mesh is None or mesh.witnessed_ts_ms is None:
            return None
        return round(max(0.0, _wall_clock() - mesh.witnessed_ts_ms / 1000), 1)


class LedgerIntegritySensor(MeshEntity, BinarySensorEntity):
    """On (a problem) when the sidecar holds evidence against a member."""

    @property
    def available(self) -> bool:
        """Unavailable until the sidecar has given a verdict."""
        mesh = self._mesh
        return mesh is not None and mesh.integrity is not None

    @property
    def is_on(self) -> bool | None:
        """Whether the ledger's integrity is broken."""
        mesh = self._mesh
        if mesh is None or mesh.integrity_ok is None:
            return None
        return not mesh.integrity_ok

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The verdict and whom it concerns."""
        mesh = self._mesh
        if mesh is None:
            return None
        return {
            "integrity": mesh.integrity,
            "problems": [
                {"kind": p.kind, "flat": p.flat, "seq": p.seq} for p in mesh.problems
            ],
        }
