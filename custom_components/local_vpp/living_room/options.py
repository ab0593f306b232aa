"""The installer's choice of living-room changeover and measurement (options).

- ``device`` (absent): the device does it (model 64900, or an ECHONET Lite power
  conditioner's backup output, which switches by itself).
- ``entity``: any switch (or input boolean) Home Assistant has — a relay or smart
  plug the electrician wired; the living room is on battery while it is on.
- ``self``: the inverter's own backup output switches by itself; the integration
  watches and reports and never asks.

The power may come from any Home Assistant power sensor instead of the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.helpers import selector

CONF_LIVING_ROOM_SWITCH: Final = "living_room_switch"
CONF_LIVING_ROOM_SWITCH_ENTITY: Final = "living_room_switch_entity"
CONF_LIVING_ROOM_POWER_ENTITY: Final = "living_room_power_entity"
SWITCH_DEVICE: Final = "device"
SWITCH_ENTITY: Final = "entity"
SWITCH_SELF: Final = "self"
SWITCH_MODES: Final = (SWITCH_DEVICE, SWITCH_ENTITY, SWITCH_SELF)
SWITCH_DOMAINS: Final = ["switch", "input_boolean"]


def living_room_schema(options: Mapping[str, Any]) -> dict[Any, Any]:
    """Form fields to add to the options form; left out, the device does it."""
    return {
        vol.Optional(
            CONF_LIVING_ROOM_SWITCH,
            description={"suggested_value": options.get(CONF_LIVING_ROOM_SWITCH)},
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=list(SWITCH_MODES),
                translation_key=CONF_LIVING_ROOM_SWITCH,
                mode=selector.SelectSelectorMode.LIST,
            )
        ),
        vol.Optional(
            CONF_LIVING_ROOM_SWITCH_ENTITY,
            description={
                "suggested_value": options.get(CONF_LIVING_ROOM_SWITCH_ENTITY)
            },
        ): selector.EntitySelector(
            selector.EntitySelectorConfig(domain=SWITCH_DOMAINS)
        ),
        vol.Optional(
            CONF_LIVING_ROOM_POWER_ENTITY,
            description={"suggested_value": options.get(CONF_LIVING_ROOM_POWER_ENTITY)},
        ): selector.EntitySelector(
            selector.EntitySelectorConfig(
                domain="sensor", device_class=SensorDeviceClass.POWER
            )
        ),
    }


def living_room_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    """The form's errors for the living-room fields; empty when they fit."""
    mode = user_input.get(CONF_LIVING_ROOM_SWITCH, SWITCH_DEVICE)
    if mode == SWITCH_ENTITY and not user_input.get(CONF_LIVING_ROOM_SWITCH_ENTITY):
        return {CONF_LIVING_ROOM_SWITCH_ENTITY: "living_room_switch_needed"}
    return {}
