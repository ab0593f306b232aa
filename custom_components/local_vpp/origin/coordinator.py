"""Polling the sidecar for today's origin figures."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ..const import DOMAIN
from ..ledger.sidecar_link import (
    SidecarLink,
    SidecarNotConnectedError,
    SidecarRequestError,
)
from ..runtime import LocalVppConfigEntry

_LOGGER = logging.getLogger(__name__)
TODAY_PATH: Final = "/api/v1/origin/today"
# The figures move by the hour; a minute keeps "today" current without load.
UPDATE_INTERVAL: Final = timedelta(seconds=60)


class OriginCoordinator(DataUpdateCoordinator[dict[str, Any]]):
    """Today's figures for the flat and the building, from the sidecar."""

    config_entry: LocalVppConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: LocalVppConfigEntry, link: SidecarLink
    ) -> None:
        """Poll ``link``'s sidecar every minute."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} origin",
            update_interval=UPDATE_INTERVAL,
        )
        self.link = link

    async def _async_update_data(self) -> dict[str, Any]:
        try:
            figures = await self.link.async_get_json(TODAY_PATH)
        except (SidecarNotConnectedError, TimeoutError, SidecarRequestError) as err:
            raise UpdateFailed(f"origin figures unavailable: {err}") from err
        if not isinstance(figures.get("flat"), dict) or not isinstance(
            figures.get("building"), dict
        ):
            raise UpdateFailed("the sidecar's origin figures are malformed")
        return figures
