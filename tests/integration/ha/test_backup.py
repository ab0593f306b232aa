"""The living room goes to battery by itself on a real (simulated) power cut.

Every test runs on a flat of each device family (``families``): the vendor
register of a SunSpec 7xx flat, the relay an installer picked for a SunSpec 1xx
flat, and the backup output of an ECHONET Lite power conditioner, which switches by
itself and is only watched. Where a family behaves differently, the test says how.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.local_vpp.const import (
    EVENT_BACKUP_ENGAGED,
    EVENT_BACKUP_RELEASED,
    EVENT_OUTAGE_ENDED,
    EVENT_OUTAGE_STARTED,
)
from tests.integration.ha.families import ECHONET, FamilyFlat
from tests.integration.ha.outage_harness import (
    ALL_EVENTS,
    LOADS,
    FakeClock,
    Harness,
    setup_backup_entry,
    setup_loads,
    use_fake_clock,
)
from tests.integration.ha.support import entity_id


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return use_fake_clock(monkeypatch)


@pytest.fixture
async def loads(hass: HomeAssistant) -> list[str]:
    return await setup_loads(hass)


@pytest.fixture
async def backup_entry(
    hass: HomeAssistant, family: FamilyFlat, clock: FakeClock, loads: list[str]
) -> MockConfigEntry:
    return await setup_backup_entry(hass, family.new_entry(), loads)


@pytest.fixture
def harness(
    hass: HomeAssistant, backup_entry: MockConfigEntry, family: FamilyFlat, clock: Any
) -> Harness:
    return Harness(hass, backup_entry, family.handle, clock)


async def _notifications(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> list[dict[str, Any]]:
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    response = await client.receive_json()
    assert response["success"]
    return list(response["result"])


async def test_outage_engages_backup_and_restore_waits_for_the_delay(
    harness: Harness, family: FamilyFlat, hass_ws_client: WebSocketGenerator
) -> None:
    hass = harness.hass
    assert harness.state(Platform.SENSOR, "outage_state") == "grid_ok"
    assert not family.room_on_battery(hass)
    await harness.outage_confirmed()

    sim = harness.flat.state
    assert family.room_on_battery(hass)
    assert sim.living_room.powered
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    # A 1xx meter serves no connection state: the loss is seen on its voltage.
    connected = STATE_OFF if family.reports_connection else STATE_UNAVAILABLE
    assert harness.state(Platform.BINARY_SENSOR, "grid_connected") == connected
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
    lasted_min = float(harness.state(Platform.SENSOR, "outage_duration"))
    await harness.grid_back_for(240)
    # The power cut ended when the grid came back, not when the backup is released.
    assert float(harness.state(Platform.SENSOR, "outage_duration")) == pytest.approx(
        lasted_min, abs=0.1
    )
    assert harness.state(Platform.SENSOR, "outage_state") == "restoring"
    # The register and the relay hold the living room on the battery until the
    # reconnection delay; an ECHONET backup output went back to the grid by itself.
    assert family.room_on_battery(hass) is not family.switches_itself
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.count(EVENT_OUTAGE_ENDED) == 0

    await harness.until_grid_ok()
    assert not family.room_on_battery(hass)
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
    notifications = await _notifications(harness.hass, hass_ws_client)
    assert [n["title"] for n in notifications] == ["Power is back"]


async def test_short_sag_is_ignored(harness: Harness, family: FamilyFlat) -> None:
    harness.flat.inject_sag(0.6, 0.2)
    await harness.poll()
    # An ECHONET Lite smart meter measures no voltage: the sag is not even suspect.
    suspect = "suspect" if family.sees_voltage else "grid_ok"
    assert harness.state(Platform.SENSOR, "outage_state") == suspect
    await harness.wait(harness.entry.runtime_data.backup.watch.settings.confirm_s)
    assert harness.state(Platform.SENSOR, "outage_state") == "grid_ok"
    assert not family.room_on_battery(harness.hass)
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)


async def test_flapping_grid_does_not_flap_the_relay(
    harness: Harness, family: FamilyFlat
) -> None:
    await harness.outage_confirmed()
    for _ in range(3):
        await harness.grid_back_for(60)
        # Held on the battery; a backup output that switches itself follows the grid.
        assert family.room_on_battery(harness.hass) is not family.switches_itself
        await harness.outage_confirmed()
        assert family.room_on_battery(harness.hass)
    assert harness.count(EVENT_BACKUP_ENGAGED) == 1
    assert harness.count(EVENT_BACKUP_RELEASED) == 0


async def test_communication_loss_does_nothing(
    harness: Harness, family: FamilyFlat
) -> None:
    family.lose_comms(3)
    await harness.poll()
    assert harness.state(Platform.SENSOR, "outage_state") == STATE_UNKNOWN_SENSOR
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)
    assert not family.room_on_battery(harness.hass)


STATE_UNKNOWN_SENSOR = "unknown"


async def test_communication_loss_during_outage_keeps_backup(
    harness: Harness, family: FamilyFlat
) -> None:
    await harness.outage_confirmed()
    family.lose_comms(3)
    await harness.poll()
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert harness.count(EVENT_BACKUP_RELEASED) == 0
    assert harness.count(EVENT_OUTAGE_ENDED) == 0


async def test_mode_off_does_nothing(harness: Harness, family: FamilyFlat) -> None:
    await harness.set_mode("off")
    await harness.outage_confirmed()
    # Nothing is switched; a backup output that switches itself does so anyway.
    assert family.room_on_battery(harness.hass) is family.switches_itself
    if family.name == ECHONET:
        assert family.mode_writes() == 0  # and the battery was not written either
    assert all(harness.count(name) == 0 for name in ALL_EVENTS)
    assert harness.load(LOADS[0]) == STATE_ON


async def test_manual_mode_only_notifies(harness: Harness, family: FamilyFlat) -> None:
    await harness.set_mode("manual")
    await harness.outage_confirmed()
    assert family.room_on_battery(harness.hass) is family.switches_itself
    assert harness.count(EVENT_OUTAGE_STARTED) == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 0
    assert harness.load(LOADS[0]) == STATE_ON
    # Switching to auto during the outage takes over at once.
    await harness.set_mode("auto")
    assert family.room_on_battery(harness.hass)
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
    hass: HomeAssistant, harness: Harness, family: FamilyFlat
) -> None:
    await harness.outage_confirmed()
    entry = harness.entry
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert family.room_on_battery(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert harness.state(Platform.BINARY_SENSOR, "backup_active") == STATE_ON
    assert family.room_on_battery(hass)
    assert harness.count(EVENT_OUTAGE_STARTED) == 1
    assert harness.count(EVENT_BACKUP_ENGAGED) == 1

    await harness.grid_back_for(240)
    assert family.room_on_battery(hass) is not family.switches_itself
    await harness.until_grid_ok()
    assert not family.room_on_battery(hass)
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


async def test_runtime_left_estimate(harness: Harness, family: FamilyFlat) -> None:
    state = harness.hass.states.get(
        entity_id(harness.hass, Platform.SENSOR, "backup_runtime_left")
    )
    assert state is not None
    # Shown in hours, for people.
    assert state.attributes["unit_of_measurement"] == "h"
    if not family.measures_room:
        # Nothing measures a 1xx flat's living room unless the installer names a
        # power sensor: the time left is unknown, never a made-up figure.
        assert state.state == STATE_UNKNOWN
        return
    runtime = float(state.state) * 60
    sim = harness.flat.state
    usable_wh = (
        (sim.battery.soc_pct - sim.battery.soc_min_pct) / 100 * (sim.battery.rated_wh)
    )
    expected_min = usable_wh * 0.9 / sim.living_room.w * 60
    assert runtime == pytest.approx(expected_min, rel=0.25)
