"""What the installer says about a battery that does not report it (options).

A neighbour can only be offered the energy above a battery's backup reserve, and
that needs the battery's usable capacity and its reserve. An ECHONET Lite storage
battery has no standard reserve property, and SunSpec 1xx storage (model 124)
reports no energy capacity. Without these the flat's offer is unknown, so the
installer may state them; what the device reports always wins.

An ECHONET Lite battery with no reserve from the installer keeps
:data:`DEFAULT_RESERVE_PCT`: a group discharge never takes it below that, as the
reserve Japanese home batteries keep for a power cut by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import selector

from .const import DOMAIN
from .device.reading import FlatReading

CONF_BATTERY_CAPACITY_WH: Final = "battery_capacity_wh"
CONF_BATTERY_RESERVE_PCT: Final = "battery_reserve_pct"
DEFAULT_RESERVE_PCT: Final = 30.0
ISSUE_CAPACITY_UNKNOWN: Final = "battery_capacity_unknown"
MAX_CAPACITY_WH: Final = 100_000


def _box(
    minimum: float, maximum: float, step: float, unit: str
) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def battery_facts_schema(options: Mapping[str, Any]) -> dict[Any, Any]:
    """Form fields to add to the options form; left out, the device's figures."""
    return {
        vol.Optional(key, description={"suggested_value": options.get(key)}): _box(
            minimum, maximum, step, unit
        )
        for key, minimum, maximum, step, unit in (
            (CONF_BATTERY_CAPACITY_WH, 100, MAX_CAPACITY_WH, 100, "Wh"),
            (CONF_BATTERY_RESERVE_PCT, 0, 100, 1, "%"),
        )
    }


class BatteryFacts:
    """Completes each reading's battery with the installer's capacity and reserve."""

    def __init__(self, options: Mapping[str, Any], *, default_reserve: bool) -> None:
        """``default_reserve``: the device has no reserve of its own (ECHONET Lite)."""
        capacity = options.get(CONF_BATTERY_CAPACITY_WH)
        reserve = options.get(CONF_BATTERY_RESERVE_PCT)
        if reserve is None and default_reserve:
            reserve = DEFAULT_RESERVE_PCT
        self.capacity_wh: float | None = None if capacity is None else float(capacity)
        self.reserve_pct: float | None = None if reserve is None else float(reserve)

    def complete(self, reading: FlatReading) -> FlatReading:
        """``reading`` with the battery's unknown capacity and reserve filled in."""
        battery = reading.battery
        if battery is None:
            return reading
        rated = battery.rated_wh
        reserve = battery.reserve_soc_pct
        if rated is not None and reserve is not None:
            return reading
        completed = replace(
            battery,
            rated_wh=self.capacity_wh if rated is None else rated,
            reserve_soc_pct=self.reserve_pct if reserve is None else reserve,
        )
        return replace(reading, battery=completed)


def report_unknown_energy(
    hass: HomeAssistant, entry: ConfigEntry, *, unknown: bool
) -> None:
    """Raise (or clear) the repair asking the installer for the capacity."""
    issue_id = f"{ISSUE_CAPACITY_UNKNOWN}_{entry.entry_id}"
    if not unknown:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_CAPACITY_UNKNOWN,
        translation_placeholders={"flat": entry.title},
    )
