"""Actions: ask the building's batteries for a group discharge, or cancel one.

The request goes to the flat's own ledger sidecar, which publishes it to the mesh as a
signed dispatch entry; every member then works out the same shares from it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    SERVICE_CANCEL_GROUP_DISCHARGE,
    SERVICE_REQUEST_GROUP_DISCHARGE,
)
from .ledger.messages import (
    DispatchCancel,
    DispatchRequest,
    parse_dispatch,
    parse_dispatch_cancelled,
)
from .ledger.sidecar_link import (
    SidecarLink,
    SidecarNotConnectedError,
    SidecarRequestError,
)
from .runtime import LocalVppConfigEntry

ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_DEVICE: Final = "device"
ATTR_POWER_KW: Final = "power_kw"
ATTR_METER_LIMIT_KW: Final = "meter_limit_kw"
ATTR_BUILDING_DEMAND_KW: Final = "building_demand_kw"
ATTR_DURATION: Final = "duration"
ATTR_REASON: Final = "reason"
ATTR_DIRECTION: Final = "direction"
ATTR_EVENT: Final = "event"

DIRECTIONS: Final = ["discharge", "charge"]
DEFAULT_DURATION: Final = timedelta(minutes=15)
DEFAULT_REASON: Final = "Home Assistant"
MIN_DURATION: Final = timedelta(minutes=1)
MAX_DURATION: Final = timedelta(hours=24)
MAX_REASON: Final = 64
# A building's meter in kW: generous bounds that still catch a W/kW mix-up.
MAX_POWER_KW: Final = 10_000.0


def _duration(value: Any) -> timedelta:
    """A time period, or a plain number of minutes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(minutes=value)
    period: timedelta = cv.time_period(value)
    return period


_TARGET = {
    vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    vol.Optional(ATTR_DEVICE): cv.string,
}
_KW = vol.All(vol.Coerce(float), vol.Range(min=0, max=MAX_POWER_KW))

REQUEST_SCHEMA: Final = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_POWER_KW): _KW,
        vol.Optional(ATTR_METER_LIMIT_KW): _KW,
        vol.Optional(ATTR_BUILDING_DEMAND_KW): _KW,
        vol.Optional(ATTR_DURATION, default=DEFAULT_DURATION): _duration,
        vol.Optional(ATTR_REASON, default=DEFAULT_REASON): cv.string,
        vol.Optional(ATTR_DIRECTION, default="discharge"): vol.In(DIRECTIONS),
    }
)
CANCEL_SCHEMA: Final = vol.Schema(
    {**_TARGET, vol.Optional(ATTR_EVENT): vol.Any(None, cv.string)}
)


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _failed(key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def entry_of(hass: HomeAssistant, call: ServiceCall) -> LocalVppConfigEntry:
    """The flat the call is for: by config entry, by device, or the only one."""
    entry_ids: set[str] = set()
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is not None:
        entry_ids.add(entry_id)
    if (device_id := call.data.get(ATTR_DEVICE)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        if device is None:
            raise _invalid("unknown_device", device=device_id)
        ours = {
            e
            for e in device.config_entries
            if (found := hass.config_entries.async_get_entry(e)) is not None
            and found.domain == DOMAIN
        }
        if not ours:
            raise _invalid("unknown_device", device=device_id)
        entry_ids |= ours
    if not entry_ids:
        entries = hass.config_entries.async_loaded_entries(DOMAIN)
        if len(entries) != 1:
            raise _invalid("flat_required")
        entry_ids.add(entries[0].entry_id)
    if len(entry_ids) != 1:
        raise _invalid("flat_ambiguous")
    (chosen,) = entry_ids
    entry = hass.config_entries.async_get_entry(chosen)
    if entry is None or entry.domain != DOMAIN:
        raise _invalid("unknown_flat", flat=chosen)
    if entry.state is not ConfigEntryState.LOADED:
        raise _invalid("flat_not_loaded", flat=entry.title)
    loaded: LocalVppConfigEntry = entry
    return loaded


def link_of(entry: LocalVppConfigEntry) -> SidecarLink:
    """The flat's connected sidecar link; a clear error if there is none."""
    link = entry.runtime_data.sidecar
    if link is None:
        raise _invalid("sidecar_not_configured", flat=entry.title)
    if not link.connected:
        raise _failed("sidecar_not_connected", flat=entry.title)
    return link


async def _ask(
    link: SidecarLink,
    entry: LocalVppConfigEntry,
    request: DispatchRequest | DispatchCancel,
) -> dict[str, Any]:
    try:
        return await link.async_request(request)
    except SidecarNotConnectedError as err:
        raise _failed("sidecar_not_connected", flat=entry.title) from err
    except SidecarRequestError as err:
        raise _failed(
            "dispatch_refused", reason=err.reason, detail=err.detail or "-"
        ) from err
    except TimeoutError as err:
        raise _failed("sidecar_timeout", flat=entry.title) from err


def dispatch_request(call_data: dict[str, Any]) -> DispatchRequest:
    """The ``dispatch_request`` message for validated call data (without ``id``).

    Raises ``ServiceValidationError`` for combinations the schema cannot express.
    """
    power = call_data.get(ATTR_POWER_KW)
    limit = call_data.get(ATTR_METER_LIMIT_KW)
    demand = call_data.get(ATTR_BUILDING_DEMAND_KW)
    if (power is None) == (limit is None):
        raise _invalid("power_or_meter_limit")
    duration: timedelta = call_data[ATTR_DURATION]
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise _invalid("duration_out_of_range")
    reason = str(call_data[ATTR_REASON]).strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise _invalid("reason_length", max=str(MAX_REASON))
    direction: str = call_data[ATTR_DIRECTION]
    duration_s = int(duration.total_seconds())
    if power is not None:
        if demand is not None:
            raise _invalid("demand_only_with_meter_limit")
        if power <= 0:
            raise _invalid("power_positive")
        return DispatchRequest(
            direction, "power", duration_s, reason, target_w=round(power * 1000)
        )
    assert limit is not None
    if demand is None:
        raise _invalid("demand_required")
    return DispatchRequest(
        direction,
        "meter_limit",
        duration_s,
        reason,
        limit_w=round(limit * 1000),
        meter_w=round(demand * 1000),
    )


def _until(until_ms: float | None) -> str | None:
    """The end time in the home's time zone, as residents read their clocks."""
    if until_ms is None:
        return None
    return dt_util.as_local(dt_util.utc_from_timestamp(until_ms / 1000)).isoformat()


async def _async_request(call: ServiceCall) -> ServiceResponse:
    message = dispatch_request(dict(call.data))
    entry = entry_of(call.hass, call)
    link = link_of(entry)
    dispatched = parse_dispatch(await _ask(link, entry, message))
    return {"event": dispatched.event, "until": _until(dispatched.until_ms)}


async def _async_cancel(call: ServiceCall) -> ServiceResponse:
    entry = entry_of(call.hass, call)
    link = link_of(entry)
    reply = await _ask(link, entry, DispatchCancel(call.data.get(ATTR_EVENT)))
    return {"event": parse_dispatch_cancelled(reply).event}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the group discharge actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_REQUEST_GROUP_DISCHARGE,
        _async_request,
        schema=REQUEST_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_CANCEL_GROUP_DISCHARGE,
        _async_cancel,
        schema=CANCEL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
