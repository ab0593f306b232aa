"""Config-flow steps for a flat whose devices speak ECHONET Lite.

The flow searches the LAN by multicast and offers what answered; the installer may
always type an address instead, since many home networks drop multicast.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.helpers import selector

from .const import CONF_FLAT
from .device import CannotConnectError
from .device.echonet.discovery import async_search
from .device.echonet.flat import NoStorageBatteryError
from .device.echonet.transport import ECHONET_PORT, MULTICAST_GROUP
from .families import (
    CONF_ECHONET_LOCAL_PORT,
    CONF_FAMILY,
    CONF_HOST,
    CONF_LIVING_ROOM_CHANNEL,
    CONF_PORT,
    DEFAULT_LIVING_ROOM_CHANNEL,
    FAMILY_ECHONET,
    device_from_entry_data,
)
from .naming import MAX_FLAT_LENGTH, async_default_title

_LOGGER = logging.getLogger(__name__)

# Where the search goes and where answers come back; real nodes answer to 3610.
SEARCH_TARGET: tuple[str, int] = (MULTICAST_GROUP, ECHONET_PORT)
LOCAL_PORT: int = ECHONET_PORT
SEARCH_WAIT_S: float = 2.0
_CHANNEL: Final = vol.All(vol.Coerce(int), vol.Range(min=1, max=255))


async def _search() -> list[str]:
    """Hosts with a storage battery that answered the search; none is normal."""
    try:
        found = await async_search(
            SEARCH_TARGET, local_port=LOCAL_PORT, wait_s=SEARCH_WAIT_S
        )
    except OSError as err:
        _LOGGER.warning("ECHONET Lite search could not start: %s", err)
        return []
    return sorted(host for host, has_battery in found.items() if has_battery)


def _schema(
    found: list[str], defaults: dict[str, Any], *, ask_flat: bool = False
) -> vol.Schema:
    host_default = defaults.get(CONF_HOST) or (found[0] if found else "")
    flat: dict[Any, Any] = {}
    if ask_flat:
        flat = {
            vol.Required(
                CONF_FLAT, default=defaults.get(CONF_FLAT, "")
            ): selector.TextSelector()
        }
    return vol.Schema(
        flat
        | {
            vol.Required(CONF_HOST, default=host_default): selector.SelectSelector(
                selector.SelectSelectorConfig(options=found, custom_value=True)
            ),
            vol.Required(
                CONF_PORT, default=defaults.get(CONF_PORT, ECHONET_PORT)
            ): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
            vol.Required(
                CONF_LIVING_ROOM_CHANNEL,
                default=defaults.get(
                    CONF_LIVING_ROOM_CHANNEL, DEFAULT_LIVING_ROOM_CHANNEL
                ),
            ): _CHANNEL,
        }
    )


async def _validate(data: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """Read the node's objects; its battery serial, or the error to show."""
    device = device_from_entry_data(data)
    try:
        await device.async_discover()
    except CannotConnectError:
        return None, {"base": "echonet_cannot_connect"}
    except NoStorageBatteryError:
        return None, {"base": "echonet_no_battery"}
    except Exception:
        _LOGGER.exception("Unexpected error while checking %s", data[CONF_HOST])
        return None, {"base": "unknown"}
    finally:
        await device.async_close()
    return device.serial, {}


def _entry_data(user_input: dict[str, Any]) -> dict[str, Any]:
    return {
        CONF_FAMILY: FAMILY_ECHONET,
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: user_input[CONF_PORT],
        CONF_ECHONET_LOCAL_PORT: LOCAL_PORT,
        CONF_LIVING_ROOM_CHANNEL: user_input[CONF_LIVING_ROOM_CHANNEL],
    }


class EchonetSteps(ConfigFlow):
    """The ECHONET Lite steps; the integration's flow inherits them."""

    _echonet_found: list[str] | None = None

    async def async_step_echonet_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move an ECHONET Lite flat to a new address; it must be the same battery."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _entry_data(user_input)
            # The running entry holds the port real nodes answer to (3610): the
            # check can only listen there once the entry has let it go.
            unloaded = entry.state is ConfigEntryState.LOADED
            if unloaded:
                await self.hass.config_entries.async_unload(entry.entry_id)
            serial, errors = await _validate(data)
            if serial is not None and serial == entry.unique_id:
                return self.async_update_reload_and_abort(entry, data_updates=data)
            if unloaded:
                await self.hass.config_entries.async_setup(entry.entry_id)
            if serial is not None:
                return self.async_abort(reason="wrong_device")
        return self.async_show_form(
            step_id="echonet_reconfigure",
            data_schema=_schema([], user_input or dict(entry.data)),
            errors=errors,
        )

    async def async_step_echonet(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the nodes the search found, or take a typed address."""
        if self._echonet_found is None:
            self._echonet_found = await _search()
        errors: dict[str, str] = {}
        if user_input is not None:
            flat = str(user_input[CONF_FLAT]).strip()
            data = _entry_data(user_input) | {CONF_FLAT: flat}
            if not flat or len(flat) > MAX_FLAT_LENGTH:
                serial, errors = None, {CONF_FLAT: "flat_length"}
            else:
                serial, errors = await _validate(data)
            if serial is not None:
                await self.async_set_unique_id(serial)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=await async_default_title(self.hass, flat), data=data
                )
        found = self._echonet_found
        return self.async_show_form(
            step_id="echonet",
            data_schema=_schema(found, user_input or {}, ask_flat=True),
            errors=errors,
            description_placeholders={
                "found": ", ".join(found) if found else "—",
            },
        )
