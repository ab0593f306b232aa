"""Reads the sidecar's battery figures and keeps the anomaly repair in step."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ..const import DOMAIN
from ..ledger.sidecar_link import (
    SidecarLink,
    SidecarNotConnectedError,
    SidecarRequestError,
)

_LOGGER = logging.getLogger(__name__)
REPORT_PATH: Final = "/api/v1/battery"
PASSPORT_PATH: Final = "/api/v1/battery/passport"
# The figures change once a day and slowly: a few reads an hour are plenty.
HEALTH_INTERVAL: Final = timedelta(minutes=10)
# What a resident should do, per anomaly (the repair says it in their language).
ANOMALY_KINDS: Final = ("efficiency_falling", "self_discharge", "capacity_fading")


@dataclass(frozen=True, slots=True)
class BatteryHealthData:
    """The current battery's figures as the sidecar reports them (None: unknown)."""

    serial: str
    round_trip_pct: float | None
    capacity_wh: float | None
    capacity_uncertainty_wh: float | None
    soh_pct: float | None
    days: int
    active: tuple[dict[str, Any], ...]


def _percent(ppm: object) -> float | None:
    return round(ppm / 10_000, 2) if isinstance(ppm, int) else None


def _wh(mwh: object) -> float | None:
    return round(mwh / 1000, 1) if isinstance(mwh, int) else None


def parse_summary(body: dict[str, Any]) -> BatteryHealthData | None:
    """The battery with the newest records in a ``/api/v1/battery`` answer."""
    batteries = [b for b in body.get("batteries", []) if isinstance(b, dict)]
    if not batteries:
        return None
    battery = max(batteries, key=lambda b: int(b.get("last_seq", 0)))
    recent = battery.get("recent", {})
    return BatteryHealthData(
        serial=str(battery.get("serial", "")),
        round_trip_pct=_percent(recent.get("round_trip_ppm")),
        capacity_wh=_wh(recent.get("capacity_mwh")),
        capacity_uncertainty_wh=_wh(recent.get("capacity_uncertainty_mwh")),
        soh_pct=_percent(battery.get("estimated_soh_ppm")),
        days=int(battery.get("days_counted", 0)),
        active=tuple(a for a in battery.get("active", []) if isinstance(a, dict)),
    )


class BatteryHealth(DataUpdateCoordinator[BatteryHealthData | None]):
    """The flat's battery figures, read from its sidecar every few minutes."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, link: SidecarLink
    ) -> None:
        """Read through ``link``; the repair is the entry's own."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} battery health",
            update_interval=HEALTH_INTERVAL,
        )
        self.link = link
        self.issue_id = f"battery_anomaly_{entry.entry_id}"

    async def _async_update_data(self) -> BatteryHealthData | None:
        try:
            body = await self.link.async_get_json(REPORT_PATH)
        except (SidecarNotConnectedError, SidecarRequestError, TimeoutError) as err:
            raise UpdateFailed(f"battery figures unavailable: {err}") from err
        data = parse_summary(body)
        self._repair(data)
        return data

    def _repair(self, data: BatteryHealthData | None) -> None:
        """Raise the repair while an anomaly is active, drop it once none is."""
        if data is None or not data.active:
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
            return
        kinds = [str(a.get("kind")) for a in data.active]
        kind = kinds[0] if kinds[0] in ANOMALY_KINDS else ANOMALY_KINDS[0]
        first = data.active[0]
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=f"battery_{kind}",
            translation_placeholders={
                "serial": data.serial,
                "measured": _measure(kind, first.get("measured")),
                "expected": _measure(kind, first.get("expected")),
                "entries": str(len(first.get("entries", []))),
            },
        )

    def async_clear(self) -> None:
        """Drop the repair (the entry is unloading)."""
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)


def _measure(kind: str, value: object) -> str:
    if not isinstance(value, int):
        return "?"
    if kind == "capacity_fading":
        return f"{value / 1000:.0f} Wh"
    return f"{value / 10_000:.1f} %"
