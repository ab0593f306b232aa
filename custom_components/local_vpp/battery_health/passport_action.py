"""The ``local_vpp.battery_passport`` action: the flat's signed battery passport."""

from __future__ import annotations

from typing import Final

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv

from ..const import DOMAIN
from ..ledger.sidecar_link import SidecarNotConnectedError, SidecarRequestError
from ..services import ATTR_CONFIG_ENTRY_ID, ATTR_DEVICE, entry_of, link_of
from .health import PASSPORT_PATH

SERVICE_BATTERY_PASSPORT: Final = "battery_passport"
ATTR_FROM: Final = "from"
ATTR_TO: Final = "to"
# A passport of a long period reads many records and proves each: allow for it.
PASSPORT_TIMEOUT_S: Final = 120.0

PASSPORT_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_DEVICE): cv.string,
        vol.Optional(ATTR_FROM): cv.date,
        vol.Optional(ATTR_TO): cv.date,
    }
)


async def _async_passport(call: ServiceCall) -> ServiceResponse:
    entry = entry_of(call.hass, call)
    link = link_of(entry)
    params = {
        key: call.data[key].isoformat()
        for key in (ATTR_FROM, ATTR_TO)
        if key in call.data
    }
    try:
        document = await link.async_get_json(PASSPORT_PATH, params, PASSPORT_TIMEOUT_S)
    except (SidecarNotConnectedError, SidecarRequestError, TimeoutError) as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="battery_passport_failed",
            translation_placeholders={"flat": entry.title, "error": str(err)},
        ) from err
    return document


@callback
def async_setup_passport_action(hass: HomeAssistant) -> None:
    """Register the battery passport action."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_BATTERY_PASSPORT,
        _async_passport,
        schema=PASSPORT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
