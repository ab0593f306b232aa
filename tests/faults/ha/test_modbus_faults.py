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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

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
    loop_debug_noise,
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


@dataclass
class Run:
    """What Home Assistant showed and logged across one fault and its recovery."""

    totals: dict[str, float]  # the energy totals before the fault (Wh)
    during: dict[str, str] = field(default_factory=dict)  # readings, last faulty poll
    after: dict[str, str] = field(default_factory=dict)  # readings once recovered
    shown: list[dict[str, str]] = field(default_factory=list)  # energy, every poll
    recovered_s: float = 0.0
    recovered: bool = False
    loud: list[logging.LogRecord] = field(default_factory=list)  # WARNING and up
    recoveries: int = 0  # "recovered" lines


@pytest.fixture
async def relayed(
    hass: HomeAssistant, flat: FlatThread
) -> AsyncIterator[tuple[MockConfigEntry, ModbusFaults]]:
    """The flat's entry set up through a fault relay; unloaded afterwards."""
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
        yield entry, relay
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await relay.stop()


async def inject(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    relay: ModbusFaults,
    mode: Mode,
    caplog: pytest.LogCaptureFixture,
) -> Run:
    """A few polls under ``mode``, then polls until one succeeds (at most 50)."""
    coordinator = entry.runtime_data.coordinator
    assert STATE_UNAVAILABLE not in readings(hass).values()
    run = Run({key: numeric_state(hass, Platform.SENSOR, key) for key in ENERGY_KEYS})
    caplog.clear()
    with caplog.at_level(logging.INFO):
        relay.mode = mode
        for _ in range(FAULTY_POLLS):
            await coordinator.async_refresh()
            await hass.async_block_till_done()
            run.shown.append(energy(hass))
        run.during = readings(hass)
        relay.mode = Mode.PASS
        started = time.monotonic()
        for _ in range(50):
            await coordinator.async_refresh()
            if coordinator.last_update_success:
                break
        run.recovered_s = time.monotonic() - started
        run.recovered = coordinator.last_update_success
        await hass.async_block_till_done()
        run.shown.append(energy(hass))
    run.after = readings(hass)
    run.loud = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and not loop_debug_noise(r)
    ]
    run.recoveries = sum(1 for r in caplog.records if "recovered" in r.getMessage())
    print(
        f"modbus {mode}: {relay.stats[mode]} bad responses, recovered in "
        f"{run.recovered_s:.1f} s, {len(run.loud)} warnings/errors "
        f"{[(r.name, r.getMessage()[:60]) for r in run.loud]}, "
        f"{run.recoveries} recovery lines"
    )
    # Recovered in place: the same entry and coordinator, no reload.
    assert run.recovered, "no recovery after 50 polls"
    assert STATE_UNAVAILABLE not in run.after.values()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is coordinator
    # The device's clock did not move: every total shows what it showed before, or
    # nothing; the Energy dashboard sees no jump and no dip.
    for states in run.shown:
        for key, state in states.items():
            assert state == STATE_UNAVAILABLE or float(state) * 1000 == (
                pytest.approx(run.totals[key])
            ), (key, state, run.totals[key])
    return run


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("mode", [Mode.GARBAGE, Mode.NOISE, Mode.SLOW, Mode.DROP])
async def test_a_failing_device_is_unavailable_then_recovers_quietly(
    hass: HomeAssistant,
    relayed: tuple[MockConfigEntry, ModbusFaults],
    caplog: pytest.LogCaptureFixture,
    mode: Mode,
) -> None:
    """Garbage, answers after the timeout, half answers: every reading unavailable
    (never 0), the totals unmoved, one log line when it fails, one when it is back.
    """
    run = await inject(hass, *relayed, mode, caplog)
    assert set(run.during.values()) == {STATE_UNAVAILABLE}, run.during
    assert len(run.loud) == 1, [(r.name, r.getMessage()) for r in run.loud]
    assert run.recoveries == 1


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_wrong_values_in_well_formed_answers_make_no_phantom_energy(
    hass: HomeAssistant,
    relayed: tuple[MockConfigEntry, ModbusFaults],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Random register values in well-formed answers cannot be told from readings
    one by one, but the energy totals hold: an impossible rise or a fall of a
    counter is not taken, so the Energy dashboard counts nothing that was not
    measured.
    """
    run = await inject(hass, *relayed, Mode.WRONG_VALUES, caplog)
    assert run.shown  # checked in inject: unmoved or unavailable on every poll
