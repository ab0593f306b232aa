"""Tell residents about a group discharge: a notification in their language.

It says why the building asked, until when (in the home's time zone) and what this
flat's battery gives; it goes away when the event ends for the flat.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..ledger.messages import GroupSetpoint


def notification_id(entry: ConfigEntry) -> str:
    """One group-discharge notification per flat."""
    return f"{DOMAIN}_{entry.entry_id}_group_discharge"


def _power(watts: float) -> str:
    if abs(watts) >= 1000:
        return f"{watts / 1000:.1f} kW"
    return f"{watts:.0f} W"


async def async_notify_started(
    hass: HomeAssistant,
    entry: ConfigEntry,
    setpoint: GroupSetpoint,
    giving_w: float | None,
    still_current: Callable[[], bool],
) -> None:
    """Show the event: ``giving_w`` is what the battery holds, ``None`` if left out.

    ``still_current`` is asked once the texts are loaded: an event that ended
    meanwhile is not shown.
    """
    translations = await async_get_translations(
        hass, hass.config.language, "exceptions", [DOMAIN]
    )
    if not still_current():
        return

    def text(name: str) -> str:
        return translations.get(f"component.{DOMAIN}.exceptions.{name}.message", "")

    until = setpoint.until
    fields = {
        "reason": setpoint.reason or "-",
        "until": "-" if until is None else dt_util.as_local(until).strftime("%H:%M"),
        "flat": entry.title,
        "power": "-" if giving_w is None else _power(giving_w),
    }
    key = "group_discharge_message" if giving_w else "group_discharge_left_out_message"
    message, title = text(key), text("group_discharge_title")
    for name, value in fields.items():
        message = message.replace(f"{{{name}}}", value)
        title = title.replace(f"{{{name}}}", value)
    persistent_notification.async_create(
        hass, message, title=title, notification_id=notification_id(entry)
    )


def dismiss(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The event is over for this flat."""
    persistent_notification.async_dismiss(hass, notification_id(entry))
