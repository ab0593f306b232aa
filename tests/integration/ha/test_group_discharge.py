"""Group discharge: the sidecar's setpoints reach the simulated battery, and back.

Every test runs on a flat of each device family (``families``). A SunSpec battery
holds each round under its revert timer (model 704 or 124); an ECHONET Lite battery
has none: it gets power, amount and mode once, acknowledged, is written again only
when the power really changes (flash wear), and the amount written with the mode
bounds the hold when its controller vanishes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache_with_extra_data,
)

from custom_components.local_vpp.const import (
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    EVENT_GROUP_DISCHARGE_ENDED,
    EVENT_GROUP_DISCHARGE_STARTED,
)
from custom_components.local_vpp.device.echonet import properties as p
from devkit.waiting import until
from tests.integration.ha.families import ECHONET, FamilyFlat
from tests.integration.ha.outage_harness import (
    Harness,
    setup_backup_entry,
    setup_loads,
    use_fake_clock,
)
from tests.integration.ha.scripted_sidecar import (
    EVENT,
    TOKEN,
    ScriptedSidecar,
    setpoint_message,
)
from tests.integration.ha.support import entity_id, numeric_state, set_up_linked


def _last_availability(sidecar: ScriptedSidecar) -> dict[str, Any]:
    sent = sidecar.of_type("availability")
    return sent[-1] if sent else {}


def _state(hass: HomeAssistant, platform: Platform, key: str) -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state.state


async def _settled(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Wait for the group's writes to the battery to finish."""
    group = entry.runtime_data.group
    assert group is not None
    await until(lambda: not group.busy)
    await hass.async_block_till_done()


async def test_availability_is_sent_every_poll(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    before = len(scripted_sidecar.of_type("availability"))
    await config_entry.runtime_data.coordinator.async_refresh()
    await until(lambda: len(scripted_sidecar.of_type("availability")) > before)
    message = scripted_sidecar.of_type("availability")[-1]
    battery = flat.state.battery
    assert message["participate"] is True
    assert message["max_share_pct"] == 100.0
    assert message["soc_pct"] == pytest.approx(battery.soc_pct, abs=family.soc_abs_pct)
    assert message["max_discharge_w"] == pytest.approx(battery.max_discharge_w)
    assert message["max_charge_w"] == pytest.approx(battery.max_charge_w)
    assert "battery_w" in message
    assert isinstance(message["ts"], int)
    # Energy above the reserve: what the cells hold above max(reserve, SoCMin), as
    # far as the family reports them.
    floor = family.offer_floor_pct(battery)
    expected = (
        (battery.soc_pct - floor) / 100 * battery.rated_wh * battery.soh_pct / 100
    )
    assert message["energy_wh"] == pytest.approx(expected, rel=0.05)
    assert link.connected


async def test_setpoint_drives_the_battery_until_the_event_ends(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    started = async_capture_events(hass, EVENT_GROUP_DISCHARGE_STARTED)
    ended = async_capture_events(hass, EVENT_GROUP_DISCHARGE_ENDED)
    assert _state(hass, Platform.BINARY_SENSOR, "group_discharge_active") == STATE_OFF
    assert numeric_state(hass, Platform.SENSOR, "group_setpoint") == 0

    await scripted_sidecar.push(setpoint_message(w=700))
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    setpoint = flat.state.setpoint
    assert setpoint.setpoint_w == 700
    # The revert timer; on ECHONET Lite, how long the amount written lasts.
    assert setpoint.revert_s == family.held_for_s(700, 5)
    assert not setpoint.revert_enabled
    assert 0 < setpoint.revert_remaining_s <= family.held_for_s(700, 5)
    assert _state(hass, Platform.BINARY_SENSOR, "group_discharge_active") == STATE_ON
    assert numeric_state(hass, Platform.SENSOR, "group_setpoint") == 700
    assert numeric_state(hass, Platform.SENSOR, "group_share") == 25
    assert numeric_state(hass, Platform.SENSOR, "group_building_target") == 5000
    assert numeric_state(hass, Platform.SENSOR, "group_building_achieved") == 4800
    assert len(started) == 1
    assert started[0].data["event"] == EVENT
    assert started[0].data["target_w"] == 5000
    assert started[0].data["reason"] == "evening peak"
    assert started[0].data["mode"] == "group"
    assert started[0].data["share_pct"] == 25
    assert started[0].data["entry_id"] == config_entry.entry_id
    assert started[0].data["participating"] is True
    if family.name == ECHONET:
        # Written once, acknowledged; rounds that change nothing are not written.
        assert family.mode_writes() == 1
        group = config_entry.runtime_data.group
        for w in (710, 690, 720, 700):
            flat.advance(1)
            await scripted_sidecar.push(setpoint_message(w=w))
            await until(lambda w=w: group.current is not None and group.current.w == w)
            await _settled(hass, config_entry)
        assert family.mode_writes() == 1

    # The next round asks for more; the battery follows and the timer is re-armed.
    flat.advance(3)
    await scripted_sidecar.push(setpoint_message(w=900, achieved_w=5000))
    await until(lambda: flat.state.setpoint.setpoint_w == 900)
    assert flat.state.setpoint.revert_remaining_s > 3
    if family.name == ECHONET:
        await _settled(hass, config_entry)
        assert family.mode_writes() == 2  # a real change is written at once
    # More than the battery can give is held at its limit.
    await scripted_sidecar.push(setpoint_message(w=50_000))
    await until(
        lambda: flat.state.setpoint.setpoint_w == flat.state.battery.max_discharge_w
    )
    await _settled(hass, config_entry)
    assert len(started) == 1

    await scripted_sidecar.push(
        {"type": "setpoint", "active": False, "event": EVENT, "w": 0, "reason": "done"}
    )
    await until(lambda: not flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    if family.name == ECHONET:
        assert family.operation_mode() == p.MODE_AUTO
    assert _state(hass, Platform.BINARY_SENSOR, "group_discharge_active") == STATE_OFF
    assert numeric_state(hass, Platform.SENSOR, "group_setpoint") == 0
    assert _state(hass, Platform.SENSOR, "group_building_target") == "unknown"
    assert len(ended) == 1
    assert ended[0].data["event"] == EVENT
    assert ended[0].data["cause"] == "ended"
    # Why the sidecar ended it; the event's own reason stays as it was.
    assert ended[0].data["end_reason"] == "done"
    assert ended[0].data["reason"] == "evening peak"


async def test_the_revert_timer_is_the_safety_net(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await scripted_sidecar.push(setpoint_message(w=-800, revert_s=4))
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    assert flat.state.setpoint.setpoint_w == -800
    # Home Assistant stops: it hands the battery back on its way out.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert not flat.state.setpoint.enabled


async def test_a_vanished_home_assistant_leaves_the_battery_to_its_safety_net(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await scripted_sidecar.push(setpoint_message(w=-800, revert_s=4))
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    # Home Assistant goes away without a word: its release never reaches the battery.
    family.lose_comms(5)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert flat.state.setpoint.enabled
    # The revert timer ends the hold; on ECHONET Lite, the amount written with the
    # mode runs out (the integration hands back what is left at its next start).
    held_s = family.held_for_s(-800, 4)
    flat.advance(held_s - 1)
    assert flat.state.setpoint.enabled
    flat.advance(2)
    assert not flat.state.setpoint.enabled


async def test_silent_sidecar_leaves_the_battery_to_revert(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await scripted_sidecar.push(setpoint_message(revert_s=4))
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    # No more rounds and no poll re-arms a group setpoint: 4 s later it is gone (on
    # ECHONET Lite, once the amount written with the mode has moved).
    await config_entry.runtime_data.coordinator.async_refresh()
    held_s = family.held_for_s(1200, 4)
    flat.advance(held_s - 1)
    assert flat.state.setpoint.enabled
    flat.advance(2)
    assert not flat.state.setpoint.enabled


async def test_link_loss_clears_the_setpoint(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    ended = async_capture_events(hass, EVENT_GROUP_DISCHARGE_ENDED)
    await scripted_sidecar.push(setpoint_message())
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)

    await scripted_sidecar.stop()
    await until(lambda: not link.connected)
    await until(lambda: not flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    assert [event.data["cause"] for event in ended] == ["link_lost"]
    for key in ("group_setpoint", "group_share", "group_building_target"):
        assert _state(hass, Platform.SENSOR, key) == STATE_UNAVAILABLE
    assert (
        _state(hass, Platform.BINARY_SENSOR, "group_discharge_active")
        == STATE_UNAVAILABLE
    )
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_a_new_event_replaces_the_old_one(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    started = async_capture_events(hass, EVENT_GROUP_DISCHARGE_STARTED)
    ended = async_capture_events(hass, EVENT_GROUP_DISCHARGE_ENDED)
    await scripted_sidecar.push(setpoint_message())
    await until(lambda: len(started) == 1)
    await scripted_sidecar.push(
        setpoint_message(event="f0" * 32, mode="local_fallback", w=600)
    )
    await until(lambda: flat.state.setpoint.setpoint_w == 600)
    await _settled(hass, config_entry)
    assert [e.data["event"] for e in started] == [EVENT, "f0" * 32]
    assert [(e.data["event"], e.data["cause"]) for e in ended] == [(EVENT, "replaced")]
    assert started[1].data["mode"] == "local_fallback"


async def test_participation_off_refuses_and_drops_the_setpoint(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    switch = entity_id(hass, Platform.SWITCH, "group_participation")
    assert _state(hass, Platform.SWITCH, "group_participation") == STATE_ON
    await scripted_sidecar.push(setpoint_message())
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, config_entry)

    await hass.services.async_call(
        Platform.SWITCH, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await until(lambda: not flat.state.setpoint.enabled)
    await _settled(hass, config_entry)
    assert _state(hass, Platform.SWITCH, "group_participation") == STATE_OFF
    assert numeric_state(hass, Platform.SENSOR, "group_setpoint") == 0

    # Further rounds are refused while it is off.
    await scripted_sidecar.push(setpoint_message(w=650))
    await _settled(hass, config_entry)
    flat.advance(1)
    await config_entry.runtime_data.coordinator.async_refresh()
    await _settled(hass, config_entry)
    assert not flat.state.setpoint.enabled
    await until(
        lambda: _last_availability(scripted_sidecar).get("participate") is False
    )

    await hass.services.async_call(
        Platform.SWITCH, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await until(lambda: flat.state.setpoint.setpoint_w == 650)
    assert flat.state.setpoint.enabled


async def test_max_share_is_offered_and_restored(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry = family.new_entry()
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(
                    "switch.flat_lvpp_101_bat_battery_join_group_discharges", STATE_OFF
                ),
                {},
            ),
            (
                State("number.flat_lvpp_101_bat_battery_maximum_share", "40"),
                {
                    "native_value": 40.0,
                    "native_min_value": 0,
                    "native_max_value": 100,
                    "native_step": 1,
                    "native_unit_of_measurement": "%",
                },
            ),
        ],
    )
    await set_up_linked(hass, config_entry, scripted_sidecar)
    assert _state(hass, Platform.SWITCH, "group_participation") == STATE_OFF
    assert numeric_state(hass, Platform.NUMBER, "group_max_share") == 40
    await hass.services.async_call(
        Platform.NUMBER,
        SERVICE_SET_VALUE,
        {
            ATTR_ENTITY_ID: entity_id(hass, Platform.NUMBER, "group_max_share"),
            ATTR_VALUE: 25,
        },
        blocking=True,
    )
    await config_entry.runtime_data.coordinator.async_refresh()
    await until(lambda: _last_availability(scripted_sidecar).get("max_share_pct") == 25)
    assert _last_availability(scripted_sidecar)["participate"] is False


async def test_backup_engaged_blocks_group_setpoints(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    clock = use_fake_clock(monkeypatch)
    await setup_loads(hass)
    with_sidecar = MockConfigEntry(
        domain=config_entry.domain,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=config_entry.data,
        options=config_entry.options
        | {CONF_SIDECAR_URL: scripted_sidecar.url, CONF_SIDECAR_TOKEN: TOKEN},
    )
    entry = await setup_backup_entry(hass, with_sidecar, [])
    link = entry.runtime_data.sidecar
    assert link is not None
    await until(lambda: link.connected)
    harness = Harness(hass, entry, flat, clock)

    await scripted_sidecar.push(setpoint_message())
    await until(lambda: flat.state.setpoint.enabled)
    await _settled(hass, entry)

    await harness.outage_confirmed()
    assert entry.runtime_data.backup.engaged
    await _settled(hass, entry)
    assert not flat.state.setpoint.enabled

    # The group keeps asking; the living room's reserve is not spent on it.
    await scripted_sidecar.push(setpoint_message(w=1400))
    await _settled(hass, entry)
    await harness.poll()
    await _settled(hass, entry)
    assert not flat.state.setpoint.enabled
    # The sidecars leave a flat in a power cut out of group events by its outage flag.
    await until(lambda: _last_availability(scripted_sidecar).get("outage") is True)
    assert numeric_state(hass, Platform.SENSOR, "group_setpoint") == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_manual_setpoint_waits_for_the_group_and_comes_back(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await hass.services.async_call(
        Platform.NUMBER,
        SERVICE_SET_VALUE,
        {
            ATTR_ENTITY_ID: entity_id(hass, Platform.NUMBER, "battery_setpoint"),
            ATTR_VALUE: -400,
        },
        blocking=True,
    )
    assert flat.state.setpoint.setpoint_w == -400
    await scripted_sidecar.push(setpoint_message(w=-600))
    await until(lambda: flat.state.setpoint.setpoint_w == -600)
    await _settled(hass, config_entry)
    # A poll does not put the manual setpoint back while the group holds its own.
    await config_entry.runtime_data.coordinator.async_refresh()
    assert flat.state.setpoint.setpoint_w == -600
    assert flat.state.setpoint.revert_s == family.held_for_s(-600, 5)

    await scripted_sidecar.push({"type": "setpoint", "active": False, "event": None})
    await until(lambda: flat.state.setpoint.setpoint_w == -400)
    await _settled(hass, config_entry)
    assert flat.state.setpoint.enabled
    assert flat.state.setpoint.revert_s == family.held_for_s(-400, 60)


async def test_a_failed_write_is_retried_on_the_next_round(
    hass: HomeAssistant,
    family: FamilyFlat,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    group = config_entry.runtime_data.group
    assert group is not None
    family.lose_comms(3)
    await scripted_sidecar.push(setpoint_message(w=500))
    await until(lambda: group.last_write_error is not None)
    await _settled(hass, config_entry)
    assert not flat.state.setpoint.enabled
    assert group.as_dict()["last_write_error"]

    # The sidecar keeps sending rounds; once the device answers, one gets through.
    for _ in range(40):
        await asyncio.sleep(0.25)
        await scripted_sidecar.push(setpoint_message(w=500))
        await _settled(hass, config_entry)
        if flat.state.setpoint.setpoint_w == 500:
            break
    assert group.last_write_error is None
    diagnostics = group.as_dict()
    assert diagnostics["holding_w"] == 500
    assert diagnostics["current"]["event"] == EVENT
