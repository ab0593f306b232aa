"""The living room goes to battery by itself on a real (simulated) power cut."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.local_vpp import backup as backup_module
from custom_components.local_vpp.const import (
    CONF_RESTORE_STAGGER,
    CONF_SHED_ENTITIES,
    EVENT_BACKUP_ENGAGED,
    EVENT_BACKUP_RELEASED,
    EVENT_OUTAGE_ENDED,
    EVENT_OUTAGE_STARTED,
)
from simulator.threaded import FlatThread

from .conftest import entity_id

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


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(backup_module, "_monotonic", fake)
    return fake


@pytest.fixture
async def loads(hass: HomeAssistant) -> list[str]:
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


@pytest.fixture
async def backup_entry(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    clock: FakeClock,
    loads: list[str],
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


@pytest.fixture
def harness(
    hass: HomeAssistant, backup_entry: MockConfigEntry, flat: FlatThread, clock: Any
) -> Harness:
    return Harness(hass, backup_entry, flat, clock)


async def _notifications(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> list[dict[str, Any]]:
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    response = await client.receive_json()
    assert response["success"]
    return list(response["result"])


async def test_outage_engages_backup_and_restore_waits_for_the_delay(
    harness: Harness, hass_ws_client: WebSocketGenerator
) -> None:
    assert harness.state(Platform.SENSOR, "outage_state") == "grid_ok"
    await harness.outage_confirmed()

    sim = harness.flat.state
    assert sim.living_room.source == 1
    assert sim.living_room.powered
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert harness.state(Platform.SWITCH, "living_room_on_battery") == STATE_ON
    assert harness.count(EVENT_OUTAGE_STARTED) == 1
    engaged = harness.events[EVENT_BACKUP_ENGAGED]
    assert len(engaged) == 1
    assert engaged[0].data["shed_entities"] == LOADS[:2]
    assert engaged[0].data["flat"] == harness.entry.title
    assert engaged[0].data["entry_id"] == harness.entry.entry_id
    assert harness.load(LOADS[0]) == STATE_OFF
    assert harness.load(LOADS[1]) == STATE_OFF
    assert harness.load(LOADS[2]) == STATE_OFF
    notifications = await _notifications(harness.hass, hass_ws_client)
    assert len(notifications) == 1
    assert notifications[0]["title"] == "Power cut: living room on battery"
    assert harness.entry.title in notifications[0]["message"]

    # The battery carries the living room; energy used and duration grow.
    await harness.wait(600)
    await harness.poll()
    assert float(harness.state(Platform.SENSOR, "backup_energy_used")) > 0
    assert float(harness.state(Platform.SENSOR, "outage_duration")) >= 10.0

    # Grid back, but not yet for the reconnection delay (300 s): still on battery.
    await harness.grid_back_for(240)
    assert harness.state(Platform.SENSOR, "outage_state") == "restoring"
    assert harness.flat.state.living_room.source == 1
    assert harness.count(EVENT_OUTAGE_ENDED) == 0

    await harness.until_grid_ok()
    assert harness.flat.state.living_room.source == 0
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_OFF
    ended = harness.events[EVENT_OUTAGE_ENDED]
    assert len(ended) == 1
    assert ended[0].data["duration_s"] > 600
    assert ended[0].data["battery_energy_used_wh"] > 0
    released = harness.events[EVENT_BACKUP_RELEASED]
    assert released[0].data["restored_entities"] == LOADS[:2]
    # Staggered: the first at once, the second a second later.
    assert harness.load(LOADS[0]) == STATE_ON
    assert harness.load(LOADS[1]) == STATE_OFF
    await harness.wait(1)
    assert harness.load(LOADS[1]) == STATE_ON
    assert harness.load(LOADS[2]) == STATE_OFF
    assert await _notifications(harness.hass, hass_ws_client) == []


async def test_short_sag_is_ignored(harness: Harness) -> None:
    harness.flat.inject_sag(0.6, 0.2)
    await harness.poll()
    assert harness.state(Platform.SENSOR, "outage_state") == "suspect"
    await harness.wait(harness.entry.runtime_data.backup.watch.settings.confirm_s)
    assert harness.state(Platform.SENSOR, "outage_state") == "grid_ok"
    assert harness.flat.state.living_room.source == 0
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)


async def test_flapping_grid_does_not_flap_the_relay(harness: Harness) -> None:
    await harness.outage_confirmed()
    for _ in range(3):
        await harness.grid_back_for(60)
        assert harness.flat.state.living_room.source == 1
        await harness.outage_confirmed()
        assert harness.flat.state.living_room.source == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 1
    assert harness.count(EVENT_BACKUP_RELEASED) == 0


async def test_communication_loss_does_nothing(harness: Harness) -> None:
    harness.flat.disconnect(3)
    await harness.poll()
    assert harness.state(Platform.SENSOR, "outage_state") == STATE_UNKNOWN_SENSOR
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)
    assert harness.flat.state.living_room.source == 0


STATE_UNKNOWN_SENSOR = "unknown"


async def test_communication_loss_during_outage_keeps_backup(
    harness: Harness,
) -> None:
    await harness.outage_confirmed()
    harness.flat.disconnect(3)
    await harness.poll()
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.count(EVENT_BACKUP_RELEASED) == 0
    assert harness.count(EVENT_OUTAGE_ENDED) == 0


async def test_mode_off_does_nothing(harness: Harness) -> None:
    await harness.set_mode("off")
    await harness.outage_confirmed()
    assert harness.flat.state.living_room.source == 0
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)
    assert harness.load(LOADS[0]) == STATE_ON


async def test_manual_mode_only_notifies(harness: Harness) -> None:
    await harness.set_mode("manual")
    await harness.outage_confirmed()
    assert harness.flat.state.living_room.source == 0
    assert harness.count(EVENT_OUTAGE_STARTED) == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 0
    assert harness.load(LOADS[0]) == STATE_ON
    # Switching to auto during the outage takes over at once.
    await harness.set_mode("auto")
    assert harness.flat.state.living_room.source == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 1


async def test_shedding_respects_what_the_resident_did(harness: Harness) -> None:
    await harness.outage_confirmed()
    # The resident needs the heater during the outage and switches it back on.
    await harness.hass.services.async_call(
        "input_boolean", SERVICE_TURN_ON, {ATTR_ENTITY_ID: LOADS[1]}, blocking=True
    )
    await harness.grid_back_for(240)
    await harness.until_grid_ok()
    released = harness.events[EVENT_BACKUP_RELEASED]
    assert released[0].data["restored_entities"] == [LOADS[0]]
    assert harness.load(LOADS[0]) == STATE_ON
    assert harness.load(LOADS[1]) == STATE_ON
    assert harness.load(LOADS[2]) == STATE_OFF


async def test_restart_during_outage_does_not_flap(
    hass: HomeAssistant, harness: Harness
) -> None:
    await harness.outage_confirmed()
    entry = harness.entry
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert harness.flat.state.living_room.source == 1

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.flat.state.living_room.source == 1
    assert harness.count(EVENT_OUTAGE_STARTED) == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 1

    await harness.grid_back_for(240)
    assert harness.flat.state.living_room.source == 1
    await harness.until_grid_ok()
    assert harness.flat.state.living_room.source == 0
    assert harness.count(EVENT_BACKUP_RELEASED) == 1


async def test_backup_mode_select(hass: HomeAssistant, harness: Harness) -> None:
    select = entity_id(hass, Platform.SELECT, "backup_mode")
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: select, "option": "manual"},
        blocking=True,
    )
    state = hass.states.get(select)
    assert state is not None
    assert state.state == "manual"
    assert harness.entry.runtime_data.backup.mode == "manual"


async def test_runtime_left_estimate(harness: Harness) -> None:
    runtime = float(harness.state(Platform.SENSOR, "backup_runtime_left"))
    sim = harness.flat.state
    usable_wh = (
        (sim.battery.soc_pct - sim.battery.soc_min_pct) / 100 * (sim.battery.rated_wh)
    )
    expected_min = usable_wh * 0.9 / sim.living_room.w * 60
    assert runtime == pytest.approx(expected_min, rel=0.25)
