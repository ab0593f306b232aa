"""Local VPP: a flat's PV, battery, meter and living-room circuit in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .battery_health.passport_action import async_setup_passport_action
from .const import DOMAIN
from .device import ROLE_BATTERY
from .entity import device_info
from .first_roster_services import async_setup_first_roster_services
from .naming import migrated_data
from .origin.services import async_setup_origin_services
from .roster_services import async_setup_roster_services
from .runtime import LocalVppConfigEntry, async_build_runtime, async_stop_runtime
from .services import async_setup_services
from .wat.services import async_setup_wat_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions, once for every flat."""
    async_setup_services(hass)
    async_setup_origin_services(hass)
    async_setup_passport_action(hass)
    async_setup_roster_services(hass)
    async_setup_first_roster_services(hass)
    async_setup_wat_services(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: LocalVppConfigEntry) -> bool:
    """Bring an entry from an older release up to date; refuse a newer one.

    1.1 → 1.2 adds the flat's name; the unique id and the entity ids (which carry
    the statistics) stay as they were.
    """
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        hass.config_entries.async_update_entry(
            entry, data=migrated_data(entry.title, entry.data), minor_version=2
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: LocalVppConfigEntry) -> bool:
    """Connect to the flat, poll once, then set up the platforms."""
    entry.runtime_data = await async_build_runtime(hass, entry)
    coordinator = entry.runtime_data.coordinator
    # The PV inverter and meter hang off the hybrid inverter: it must exist first.
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **device_info(coordinator, ROLE_BATTERY)
    )
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if not entry.pref_disable_polling:
        entry.async_create_background_task(
            hass, coordinator.async_poll_forever(), f"{DOMAIN} polling"
        )
    return True


async def _async_options_updated(
    hass: HomeAssistant, entry: LocalVppConfigEntry
) -> None:
    """Apply a new poll interval by reloading the entry."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: LocalVppConfigEntry) -> bool:
    """Unload the platforms and close the Modbus connection."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await async_stop_runtime(hass, entry)
    return unloaded
