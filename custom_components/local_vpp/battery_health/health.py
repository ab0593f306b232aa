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
# One repair per kind of anomaly; each says what was seen and what to do.
ANOMALY_KINDS: Final = (
    "efficiency_falling",
    "self_discharge",
    "capacity_fading",
    "counter_regression",
    "soh_jump",
    "cell_voltage",
)


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
        self.entry_id = entry.entry_id

    def issue_id(self, kind: str) -> str:
        """The repair of one kind of anomaly."""
        return f"battery_{kind}_{self.entry_id}"

    async def _async_update_data(self) -> BatteryHealthData | None:
        try:
            body = await self.link.async_get_json(REPORT_PATH)
        except (SidecarNotConnectedError, SidecarRequestError, TimeoutError) as err:
            raise UpdateFailed(f"battery figures unavailable: {err}") from err
        data = parse_summary(body)
        self._repair(data)
        return data

    def _repair(self, data: BatteryHealthData | None) -> None:
        """Raise a repair per kind of active anomaly; drop those no longer active."""
        active: dict[str, dict[str, Any]] = {}
        for anomaly in () if data is None else data.active:
            kind = str(anomaly.get("kind"))
            if kind in ANOMALY_KINDS:
                active.setdefault(kind, anomaly)
        for kind in ANOMALY_KINDS:
            seen = active.get(kind)
            if seen is None or data is None:
                ir.async_delete_issue(self.hass, DOMAIN, self.issue_id(kind))
                continue
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id(kind),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=f"battery_{kind}",
                translation_placeholders={
                    "serial": data.serial or "?",
                    "measured": _measure(kind, seen.get("measured")),
                    "expected": _measure(kind, seen.get("expected")),
                    "entries": str(len(seen.get("entries", []))),
                },
            )

    def async_clear(self) -> None:
        """Drop the repairs (the entry is unloading)."""
        for kind in ANOMALY_KINDS:
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id(kind))


def _measure(kind: str, value: object) -> str:
    """A figure of an anomaly as the repair shows it."""
    if not isinstance(value, int):
        return "?"
    if kind == "capacity_fading":
        return f"{value / 1000:.0f} Wh"
    if kind == "cell_voltage":
        return f"{value / 1000:.3f} V"
    if kind == "counter_regression":
        return f"{value} Wh"
    return f"{value / 10_000:.1f} %"
