"""Diagnostics: what an installer needs to see, with serial numbers removed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_FLAT, CONF_SIDECAR_TOKEN
from .device import DeviceError, FlatDevice
from .device.interface import AnyFlatDevice
from .device.models import MODEL_COMMON
from .device.sunspec1xx.flat import Sunspec1xxFlatDevice
from .runtime import LocalVppConfigEntry

REDACTED = "**REDACTED**"
# Model 1's serial number: 16 registers from offset 50 (docs/REGISTERS.md).
_SERIAL_OFFSET = 50
_SERIAL_LENGTH = 16
# ECHONET Lite identification number (0x83): it holds the serial.
_ECHONET_IDENTIFICATION = 0x83
TO_REDACT = {"serial", "serial_number", "unique_id", "title", CONF_SIDECAR_TOKEN}
# The entry's flat (its number or name) says who lives there, like its title.
ENTRY_TO_REDACT = TO_REDACT | {CONF_FLAT}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: LocalVppConfigEntry
) -> dict[str, Any]:
    """Return the entry, the discovered models, the last reading and raw registers."""
    data = entry.runtime_data
    device = data.device
    coordinator = data.coordinator
    units, registers = (
        await _sunspec_units(device)
        if isinstance(device, FlatDevice | Sunspec1xxFlatDevice)
        else await _echonet_units(device)
    )
    return {
        "entry": async_redact_data(entry.as_dict(), ENTRY_TO_REDACT),
        "units": units,
        "capabilities": asdict(device.capabilities),
        "last_update_success": coordinator.last_update_success,
        "requests_per_poll": device.last_poll_requests,
        "building_bus": device.has_bus,
        "reading": asdict(coordinator.data) if coordinator.data else None,
        "registers": registers,
        "sidecar": _sidecar(entry),
    }


async def _sunspec_units(
    device: FlatDevice | Sunspec1xxFlatDevice,
) -> tuple[dict[str, Any], Any]:
    """Each unit's id, identity and SunSpec models; every register as read."""
    try:
        registers: dict[str, Any] = await device.async_read_registers()
    except DeviceError as err:
        registers = {"error": str(err)}
    else:
        registers = _redact_serial_registers(device.models, registers)
    units = {
        role: {
            "unit_id": device.unit_ids.by_role()[role],
            "identity": async_redact_data(asdict(identity), TO_REDACT),
            "models": [
                {"id": m.model_id, "address": m.address, "length": m.length}
                for m in device.models[role].chain
            ],
        }
        for role, identity in device.identities.items()
    }
    return units, registers


async def _echonet_units(device: AnyFlatDevice) -> tuple[dict[str, Any], Any]:
    """Each object's identity; every readable property, identification hidden."""
    try:
        raw: dict[str, Any] = await device.async_read_registers()
    except DeviceError as err:
        raw = {"error": str(err)}
    else:
        raw = {
            eoj: {
                f"0x{epc:02X}": REDACTED if epc == _ECHONET_IDENTIFICATION else value
                for epc, value in values.items()
            }
            for eoj, values in raw.items()
        }
    units = {
        role: {"identity": async_redact_data(asdict(identity), TO_REDACT)}
        for role, identity in device.identities.items()
    }
    return units, raw


def _sidecar(entry: LocalVppConfigEntry) -> dict[str, Any] | None:
    """The link, the mesh as last reported and the group state; never the token."""
    data = entry.runtime_data
    link = data.sidecar
    if link is None:
        return None
    return {
        "connected": link.connected,
        "last_error": link.last_error,
        "welcome": async_redact_data(link.welcome or {}, TO_REDACT),
        "entries_acknowledged": link.entries_acknowledged,
        "last_seq": link.last_seq,
        "rejections": link.rejections,
        "pending": link.pending,
        "samples_dropped": link.samples_dropped,
        "mesh": link.mesh,
        "subscriptions": list(link.subscriptions),
        "group": None if data.group is None else data.group.as_dict(),
        "bus_support": None if data.bus is None else data.bus.as_dict(),
    }


def _redact_serial_registers(
    models: dict[str, Any], registers: dict[str, dict[int, int]]
) -> dict[str, Any]:
    """Blank model 1's serial number registers; leave every other word as read."""
    redacted: dict[str, Any] = {}
    for role, words in registers.items():
        hidden: set[int] = set()
        for common in models[role].get(MODEL_COMMON, []):
            start = common.address + _SERIAL_OFFSET
            hidden.update(range(start, start + _SERIAL_LENGTH))
        redacted[role] = {
            str(address): REDACTED if address in hidden else word
            for address, word in words.items()
        }
    return redacted
