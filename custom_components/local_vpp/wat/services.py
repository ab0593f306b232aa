"""The action ``local_vpp.wat_statement``: the flat's WAT statement for a period.

The statement comes from the flat's sidecar (``/api/v1/wat/statement``) as it computes
it from the ledger: one line per interval the flat traded in, each naming the ledger
entries it rests on, with the opening and closing balance (docs/WAT.md).
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..ledger.sidecar_link import SidecarNotConnectedError, SidecarRequestError
from ..services import _TARGET, _failed, _invalid, entry_of, link_of

SERVICE_WAT_STATEMENT: Final = "wat_statement"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
_FIELDS: dict[Any, Any] = {
    **_TARGET,
    vol.Required(ATTR_START): cv.datetime,
    vol.Required(ATTR_END): cv.datetime,
}
STATEMENT_SCHEMA: Final = vol.Schema(_FIELDS)


async def _async_statement(call: ServiceCall) -> ServiceResponse:
    entry = entry_of(call.hass, call)
    link = link_of(entry)
    # A time without a zone is Home Assistant's own local time.
    start = dt_util.as_utc(call.data[ATTR_START])
    end = dt_util.as_utc(call.data[ATTR_END])
    if end <= start:
        raise _invalid("wat_period")
    params = {
        "from": str(int(start.timestamp() * 1000)),
        "to": str(int(end.timestamp() * 1000)),
    }
    try:
        statement: ServiceResponse = await link.async_get_json(
            "/api/v1/wat/statement", params
        )
    except (SidecarNotConnectedError, TimeoutError) as err:
        raise _failed("sidecar_not_connected", flat=entry.title) from err
    except SidecarRequestError as err:
        raise _failed(
            "wat_refused", reason=err.reason, detail=err.detail or "-"
        ) from err
    return statement


@callback
def async_setup_wat_services(hass: HomeAssistant) -> None:
    """Register ``local_vpp.wat_statement``."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_WAT_STATEMENT,
        _async_statement,
        schema=STATEMENT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
