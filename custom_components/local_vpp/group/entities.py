"""The flat's part in group discharges: settings, and what the group asks of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.number import (
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import PERCENTAGE, STATE_OFF, EntityCategory, UnitOfPower
from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.restore_state import RestoreEntity

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY
from ..entity import LocalVppEntity
from ..ledger.messages import GroupSetpoint
from ..signals import GROUP_CHANGED
from .discharge import GroupDischarge

GROUP_PARTICIPATION = SwitchEntityDescription(
    key="group_participation",
    translation_key="group_participation",
    entity_category=EntityCategory.CONFIG,
)
GROUP_MAX_SHARE = NumberEntityDescription(
    key="group_max_share",
    translation_key="group_max_share",
    native_min_value=0,
    native_max_value=100,
    native_step=1,
    native_unit_of_measurement=PERCENTAGE,
    mode=NumberMode.SLIDER,
    entity_category=EntityCategory.CONFIG,
)
GROUP_ACTIVE = BinarySensorEntityDescription(
    key="group_discharge_active", translation_key="group_discharge_active"
)


@dataclass(frozen=True, kw_only=True)
class GroupSensorDescription(SensorEntityDescription):
    """A number from the current group event; ``idle`` is shown between events."""

    value_fn: Callable[[GroupDischarge, GroupSetpoint], float | None]
    idle: float | None


def _power(
    key: str,
    value_fn: Callable[[GroupDischarge, GroupSetpoint], float | None],
    idle: float | None,
    category: EntityCategory | None = None,
) -> GroupSensorDescription:
    return GroupSensorDescription(
        key=key,
        entity_category=category,
        translation_key=key,
        value_fn=value_fn,
        idle=idle,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    )


GROUP_SENSORS: tuple[GroupSensorDescription, ...] = (
    # What this battery holds for the group: 0 when it does not take part.
    _power("group_setpoint", lambda group, _: group.wanted_w() or 0.0, 0.0),
    GroupSensorDescription(
        key="group_share",
        translation_key="group_share",
        value_fn=lambda _, s: s.share_pct,
        idle=0.0,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
    ),
    # No event, no building target: unknown rather than a made-up 0.
    # The building's figures are for whoever runs the building, not each resident.
    _power(
        "group_building_target",
        lambda _, s: s.target_w,
        None,
        EntityCategory.DIAGNOSTIC,
    ),
    _power(
        "group_building_achieved",
        lambda _, s: s.achieved_w,
        None,
        EntityCategory.DIAGNOSTIC,
    ),
)


class GroupEntity(LocalVppEntity):
    """Follows the group controller as well as the polls."""

    def __init__(
        self,
        coordinator: LocalVppCoordinator,
        group: GroupDischarge,
        description: EntityDescription,
    ) -> None:
        """Attach to the battery, which does the discharging."""
        super().__init__(coordinator, description, ROLE_BATTERY)
        self._group = group

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the group state changes."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                GROUP_CHANGED.format(self.coordinator.config_entry.entry_id),
                self._handle_group,
            )
        )

    @callback
    def _handle_group(self) -> None:
        self.async_write_ha_state()


class GroupSettingEntity(GroupEntity):
    """A household's setting: always available, kept across restarts."""

    @property
    def available(self) -> bool:
        """Settings do not depend on the devices or the link."""
        return True


class GroupParticipationSwitch(GroupSettingEntity, SwitchEntity, RestoreEntity):
    """Whether this flat's battery takes part in group discharges (on by default)."""

    async def async_added_to_hass(self) -> None:
        """Restore the household's choice."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_OFF:
            self._group.async_set_participation(False)

    @property
    def is_on(self) -> bool:
        """Whether the flat takes part."""
        return self._group.participate

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Take part from the next coordination round."""
        self._group.async_set_participation(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop taking part; a group setpoint in force is dropped at once."""
        self._group.async_set_participation(False)


class GroupMaxShareNumber(GroupSettingEntity, RestoreNumber):
    """The largest share of a building target this flat takes on."""

    async def async_added_to_hass(self) -> None:
        """Restore the household's choice."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            self._group.async_set_max_share(float(last.native_value))

    @property
    def native_value(self) -> float:
        """The limit in percent."""
        return self._group.max_share_pct

    async def async_set_native_value(self, value: float) -> None:
        """Offer at most ``value`` percent from the next availability on."""
        self._group.async_set_max_share(value)


class GroupActiveSensor(GroupEntity, BinarySensorEntity):
    """On while a group event concerns this flat."""

    @property
    def available(self) -> bool:
        """Known only while the sidecar link is up."""
        return self._group.link.connected

    @property
    def is_on(self) -> bool:
        """Whether the sidecar is directing this flat now."""
        return self._group.active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The event, why, and whether this flat's battery follows it."""
        current = self._group.current
        return {
            "event": None if current is None else current.event,
            "mode": None if current is None else current.mode,
            "reason": None if current is None else current.reason,
            "participants": None if current is None else current.participants,
            "until": None
            if current is None or current.until is None
            else current.until.isoformat(),
            "holding": self._group.holding,
        }


class GroupSensor(GroupEntity, SensorEntity):
    """A number of the current group event."""

    entity_description: GroupSensorDescription

    @property
    def available(self) -> bool:
        """Known only while the sidecar link is up."""
        return self._group.link.connected

    @property
    def native_value(self) -> float | None:
        """The event's value, or the description's idle value between events."""
        current = self._group.current
        if current is None:
            return self.entity_description.idle
        return self.entity_description.value_fn(self._group, current)
