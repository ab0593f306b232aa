"""The ``get_certificates`` action: a flat's granular certificates for a period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..ledger.sidecar_link import SidecarNotConnectedError, SidecarRequestError
from ..services import _failed, _invalid, entry_of, link_of

SERVICE_GET_CERTIFICATES: Final = "get_certificates"
CERTIFICATES_PATH: Final = "/api/v1/origin/certificates"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
MAX_PERIOD: Final = timedelta(days=31)
# Issuing a month reads the whole ledger on the sidecar: give it time.
WAIT_S: Final = 120.0

SCHEMA: Final = vol.Schema(
    {
        vol.Optional("config_entry_id"): cv.string,
        vol.Optional("device"): cv.string,
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_END): cv.datetime,
    }
)


def _ms(moment: datetime) -> int:
    """A moment as ms; a naive one is in Home Assistant's time zone."""
    return int(dt_util.as_utc(dt_util.as_local(moment)).timestamp() * 1000)


async def _async_get_certificates(call: ServiceCall) -> ServiceResponse:
    entry = entry_of(call.hass, call)
    start, end = call.data[ATTR_START], call.data[ATTR_END]
    if not timedelta(0) < end - start <= MAX_PERIOD:
        raise _invalid("certificate_period")
    link = link_of(entry)
    try:
        reply: dict[str, Any] = await link.async_get_json(
            CERTIFICATES_PATH,
            {"from": str(_ms(start)), "to": str(_ms(end))},
            wait_s=WAIT_S,
        )
    except (SidecarNotConnectedError, TimeoutError, SidecarRequestError) as err:
        raise _failed("certificates_unavailable", error=str(err)) from err
    lines = reply.get("lines", [])
    return {
        "tz": reply.get("tz"),
        "header": lines[0] if lines else None,
        "anchors": [line for line in lines if line.get("type") == "anchor"],
        "bundles": [line for line in lines if line.get("type") == "bundle"],
    }


def async_setup_origin_services(hass: HomeAssistant) -> None:
    """Register the certificate action."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CERTIFICATES,
        _async_get_certificates,
        schema=SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
