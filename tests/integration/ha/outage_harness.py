"""Drive a simulated power cut through the integration with the clock in hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.local_vpp.backup import controller as backup_module
from custom_components.local_vpp.const import (
    CONF_RESTORE_STAGGER,
    CONF_SHED_ENTITIES,
    EVENT_BACKUP_ENGAGED,
    EVENT_BACKUP_RELEASED,
    EVENT_OUTAGE_ENDED,
    EVENT_OUTAGE_STARTED,
)
from simulator.threaded import FlatThread
from tests.integration.ha.support import entity_id

LOADS = ["input_boolean.washer", "input_boolean.heater", "input_boolean.dryer"]
ALL_EVENTS = (
    EVENT_OUTAGE_STARTED,
    EVENT_BACKUP_ENGAGED,
    EVENT_OUTAGE_ENDED,
    EVENT_BACKUP_RELEASED,
)


class FakeClock:
    """The monotonic clock the backup uses, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def setup_loads(hass: HomeAssistant) -> list[str]:
    """Three loads: washer and heater on, dryer off."""
    # Shedding uses homeassistant.turn_off/turn_on, as in a real installation.
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "washer": {"initial": True},
                "heater": {"initial": True},
                "dryer": {"initial": False},
            }
        },
    )
    return LOADS


async def setup_backup_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry, loads: list[str]
) -> MockConfigEntry:
    """The flat set up with loads to shed, a second between restores."""
    config_entry.add_to_hass(hass)
    # The test polls by itself, with the clock in its hand: no polls behind its back.
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SHED_ENTITIES: loads, CONF_RESTORE_STAGGER: 1},
        pref_disable_polling=True,
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


class Harness:
    """Poll the flat as Home Assistant would, with the clock under the test's hand."""

    def __init__(
        self, hass: HomeAssistant, entry: MockConfigEntry, flat: FlatThread, clock: Any
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.flat = flat
        self.clock = clock
        self.events: dict[str, list[Event]] = {
            name: async_capture_events(hass, name) for name in ALL_EVENTS
        }

    async def poll(self) -> None:
        await self.entry.runtime_data.coordinator.async_refresh()
        await self.hass.async_block_till_done()

    async def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass for the flat, the clock and Home Assistant's timers."""
        self.flat.advance(seconds)
        self.clock.now += seconds
        async_fire_time_changed(
            self.hass, dt_util.utcnow() + timedelta(seconds=seconds)
        )
        await self.hass.async_block_till_done()

    def state(self, platform: Platform, key: str) -> str:
        state = self.hass.states.get(entity_id(self.hass, platform, key))
        assert state is not None
        return state.state

    def count(self, name: str) -> int:
        return len(self.events[name])

    def load(self, entity: str) -> str:
        state = self.hass.states.get(entity)
        assert state is not None
        return state.state

    async def set_mode(self, mode: str) -> None:
        await self.entry.runtime_data.backup.async_set_mode(mode)
        await self.hass.async_block_till_done()

    async def outage_confirmed(self) -> None:
        """Grid fails; one poll sees it, the confirmation read confirms it."""
        self.flat.set_outage(True)
        await self.poll()
        confirm_s = self.entry.runtime_data.backup.watch.settings.confirm_s
        await self.wait(confirm_s)

    async def until_grid_ok(self, limit_s: float = 180, step_s: float = 30) -> None:
        """Keep polling while the grid stays up, until the backup is released.

        A poll lost to load on the test machine only delays the release (its gap does
        not count as stable grid), so the tests wait for it rather than time it.
        """
        waited = 0.0
        while self.state(Platform.SENSOR, "outage_state") != "grid_ok":
            assert waited < limit_s, "the backup was not released"
            await self.wait(step_s)
            await self.poll()
            waited += step_s

    async def grid_back_for(self, seconds: float, step_s: float = 30) -> None:
        self.flat.set_outage(False)
        await self.poll()
        waited = 0.0
        while waited < seconds:
            await self.wait(step_s)
            await self.poll()
            waited += step_s


def use_fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Give the backup a clock the test moves."""
    fake = FakeClock()
    monkeypatch.setattr(backup_module, "_monotonic", fake)
    return fake
