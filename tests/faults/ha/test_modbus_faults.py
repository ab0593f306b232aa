"""A flat's Modbus device answering garbage, answering too late, dropping mid-read.

Injected: a relay between Home Assistant and the simulated flat
(:mod:`tests.faults.ha.modbus_faults`) that, for a few polls each, replaces every
response with random bytes behind a valid header, holds every response longer than
the integration's request timeout, or sends half a response and closes the
connection; then passes everything again.
"""

from __future__ import annotations

import logging
import time

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from simulator.threaded import FlatThread
from tests.faults.ha.modbus_faults import ModbusFaults, Mode
from tests.integration.ha.support import (
    BATTERY_SERIAL,
    entity_id,
    entry_data,
    numeric_state,
)

ENERGY_KEYS = (
    "pv_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
    "grid_import_energy",
    "grid_export_energy",
    "living_room_energy",
)
# Home Assistant's own knowledge, not device readings: they stay available.
NOT_READINGS = (
    "backup_mode",
    "backup_active",
    "outage_state",
    "outage_duration",
    "backup_energy_used",
    "backup_runtime_left",
)
FAULTY_POLLS = 3


def readings(hass: HomeAssistant) -> dict[str, str]:
    """The state of every entity that shows a device reading."""
    found: dict[str, str] = {}
    for entry in er.async_get(hass).entities.values():
        if entry.platform != DOMAIN or entry.unique_id.endswith(
            tuple(f"_{key}" for key in NOT_READINGS)
        ):
            continue
        state = hass.states.get(entry.entity_id)
        if state is not None:
            found[entry.entity_id] = state.state
    return found


def energy(hass: HomeAssistant) -> dict[str, str]:
    """The energy totals' states (what the Energy dashboard adds up)."""
    return {
        key: hass.states.get(entity_id(hass, Platform.SENSOR, key)).state  # type: ignore[union-attr]
        for key in ENERGY_KEYS
    }


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("mode", [Mode.GARBAGE, Mode.SLOW, Mode.DROP])
async def test_a_misbehaving_device_is_unavailable_then_recovers_quietly(
    hass: HomeAssistant,
    flat: FlatThread,
    caplog: pytest.LogCaptureFixture,
    mode: Mode,
) -> None:
    relay = ModbusFaults(flat.port)
    await relay.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Flat {BATTERY_SERIAL}",
            unique_id=BATTERY_SERIAL,
            data=entry_data(flat) | {CONF_PORT: relay.port},
            options={"poll_interval": 1.0},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        coordinator = entry.runtime_data.coordinator
        before = readings(hass)
        assert STATE_UNAVAILABLE not in before.values()
        totals = {key: numeric_state(hass, Platform.SENSOR, key) for key in ENERGY_KEYS}
        shown: list[dict[str, str]] = []

        caplog.clear()
        with caplog.at_level(logging.INFO):
            relay.mode = mode
            for _ in range(FAULTY_POLLS):
                await coordinator.async_refresh()
                await hass.async_block_till_done()
                shown.append(energy(hass))
            during = readings(hass)
            relay.mode = Mode.PASS
            failed_at = time.monotonic()
            for _ in range(50):
                await coordinator.async_refresh()
                if coordinator.last_update_success:
                    break
            recovered = time.monotonic() - failed_at
            await hass.async_block_till_done()
            shown.append(energy(hass))
        after = readings(hass)

        # Unavailable, never a made-up 0, while the device misbehaves.
        assert set(during.values()) == {STATE_UNAVAILABLE}, during
        assert coordinator.last_update_success, "no recovery after 50 polls"
        assert STATE_UNAVAILABLE not in after.values()
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.coordinator is coordinator  # no reload
        # The device's clock did not move: every total shows what it showed
        # before, or nothing; the Energy dashboard sees no jump and no dip.
        for states in shown:
            for key, state in states.items():
                assert state == STATE_UNAVAILABLE or float(state) * 1000 == (
                    pytest.approx(totals[key])
                ), (key, state, totals[key])
        for key in ENERGY_KEYS:
            assert numeric_state(hass, Platform.SENSOR, key) == pytest.approx(
                totals[key]
            )
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
        print(
            f"modbus {mode}: {relay.stats[mode]} bad responses, recovered in "
            f"{recovered:.1f} s, {len(loud)} warnings/errors "
            f"{[(r.name, r.levelname, r.getMessage()[:80]) for r in loud]}, "
            f"{len(recoveries)} recovery lines"
        )
        assert len(loud) == 1, [(r.name, r.getMessage()) for r in loud]
        assert len(recoveries) == 1
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await relay.stop()
