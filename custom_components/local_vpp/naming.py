"""What a flat's devices and entities are called, whatever the server's language.

Device names come from translations with the entry's title as ``{flat}`` ("Flat 301
battery", "301号室 蓄電池"), so renaming the entry renames its devices. Entity ids are
made here from the flat's number and the English names, so they stay ASCII, readable
and distinct between flats (``sensor.flat_301_battery_state_of_charge``) even when
the server speaks Japanese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import slugify

from .const import CONF_FLAT, DOMAIN

# The devices' English names, for entity ids (the device registry keeps the name in
# the server's language, which must not leak into ids).
ROLE_SLUGS: Final = {"pv": "pv", "battery": "battery", "meter": "meter"}

# A flat given as a number or a short code ("301", "A-12") gets the "Flat 301" /
# "301号室" title; anything else ("Sato") is the title as written.
_FLAT_NUMBER = re.compile(r"^[A-Za-z]?[0-9][0-9A-Za-z-]*$")

MAX_FLAT_LENGTH: Final = 24


def flat_of(entry: ConfigEntry) -> str:
    """The flat's number or name, as given in the config flow."""
    return str(entry.data.get(CONF_FLAT) or entry.title)


def flat_slug(flat: str, fallback: str) -> str:
    """The flat's part of entity ids: ``flat_301``; ``fallback`` if nothing is left."""
    slug = slugify(flat)
    if not slug:
        slug = slugify(fallback)
    return slug if slug.startswith("flat") else f"flat_{slug}"


def object_id(flat: str, fallback: str, role: str, name: str | None) -> str:
    """An entity's object id from the flat, the device's role and its English name."""
    parts = [flat_slug(flat, fallback), ROLE_SLUGS.get(role, role)]
    if name:
        parts.append(name)
    return slugify(" ".join(parts))


async def async_default_title(hass: HomeAssistant, flat: str) -> str:
    """The entry's first title in the server's language: "Flat 301" / "301号室"."""
    if not _FLAT_NUMBER.match(flat):
        return flat
    translations = await async_get_translations(
        hass, hass.config.language, "exceptions", [DOMAIN]
    )
    template = translations.get(
        f"component.{DOMAIN}.exceptions.flat_title.message", "Flat {flat}"
    )
    return template.replace("{flat}", flat)


def migrated_data(title: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data of version 1.1 with the flat's name (version 1.2).

    Entries made before the flat was asked for are titled "Flat <something>"; that
    something names the flat from now on. Their unique id, entity ids and hence
    statistics stay as they were.
    """
    flat = title.removeprefix("Flat ").strip() or title
    return dict(data) | {CONF_FLAT: flat[:MAX_FLAT_LENGTH]}
