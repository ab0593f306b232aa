"""Lost links, glitching counters and restarts never fake a value or energy."""

from __future__ import annotations

import logging
import time

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.local_vpp import coordinator as coordinator_module
from custom_components.local_vpp.const import DOMAIN
from simulator.threaded import FlatThread
from tests.integration.ha.support import BATTERY_SERIAL, entity_id, numeric_state

ENERGY_KEYS = (
    "pv_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
    "grid_import_energy",
    "grid_export_energy",
    "living_room_energy",
)


# The backup's own entities are Home Assistant's knowledge, not device readings.
BACKUP_KEYS = (
    "backup_mode",
    "backup_active",
    "outage_state",
    "outage_duration",
    "backup_energy_used",
    "backup_runtime_left",
)


def _all_states(hass: HomeAssistant) -> dict[str, str]:
    """States of every entity that shows a device reading."""
    registry = er.async_get(hass)
    return {
        entry.entity_id: hass.states.get(entry.entity_id).state  # type: ignore[union-attr]
        for entry in registry.entities.values()
        if entry.platform == DOMAIN
        and not entry.unique_id.endswith(tuple(f"_{key}" for key in BACKUP_KEYS))
    }


async def _wait_until_listening(flat: FlatThread, hass: HomeAssistant) -> None:
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.coordinator
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await coordinator.async_refresh()
        if coordinator.last_update_success:
            return
        await hass.async_add_executor_job(time.sleep, 0.1)
    pytest.fail("the flat did not come back")


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_disconnect_makes_everything_unavailable_then_recovers(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    flat: FlatThread,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = loaded_entry.runtime_data.coordinator
    before = _all_states(hass)
    assert STATE_UNAVAILABLE not in before.values()

    flat.disconnect(4.0)
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            await coordinator.async_refresh()
        await hass.async_block_till_done()
        during = _all_states(hass)
        assert set(during.values()) == {STATE_UNAVAILABLE}
        # Never a made-up 0 for any energy total while the link is down.
        await _wait_until_listening(flat, hass)
        await hass.async_block_till_done()

    after = _all_states(hass)
    assert STATE_UNAVAILABLE not in after.values()
    # Same entry, same coordinator: recovered without a reload.
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert loaded_entry.runtime_data.coordinator is coordinator
    failures = [r for r in caplog.records if "Error fetching" in r.getMessage()]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failures) == 1
    assert len(recoveries) == 1
    # The totals carry on from where they were: no dip, no restart from 0.
    for key in ENERGY_KEYS:
        was = float(before[entity_id(hass, Platform.SENSOR, key)])
        assert numeric_state(hass, Platform.SENSOR, key) >= was, key


async def test_totals_do_not_move_across_a_reconnect(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    totals = {key: numeric_state(hass, Platform.SENSOR, key) for key in ENERGY_KEYS}
    flat.disconnect(1.0)
    await loaded_entry.runtime_data.coordinator.async_refresh()
    await _wait_until_listening(flat, hass)
    await hass.async_block_till_done()
    sim = flat.state
    truth = {
        "pv_energy": sim.pv.tot_wh_inj,
        "battery_charge_energy": sim.battery.tot_wh_abs,
        "battery_discharge_energy": sim.battery.tot_wh_inj,
        "grid_import_energy": sim.meter.tot_wh_abs,
        "grid_export_energy": sim.meter.tot_wh_inj,
        "living_room_energy": sim.living_room.tot_wh,
    }
    for key in ENERGY_KEYS:
        # The manual clock did not move: the device counted nothing meanwhile.
        assert numeric_state(hass, Platform.SENSOR, key) == pytest.approx(totals[key])
        assert numeric_state(hass, Platform.SENSOR, key) == pytest.approx(truth[key])


async def test_repair_issue_after_repeated_failures(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    flat: FlatThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(coordinator_module, "REPAIR_AFTER_S", 0.0)
    coordinator = loaded_entry.runtime_data.coordinator
    registry = ir.async_get(hass)
    flat.disconnect(5.0)
    await coordinator.async_refresh()
    assert registry.async_get_issue(DOMAIN, coordinator.issue_id) is None
    for _ in range(2 * coordinator_module.REPAIR_AFTER_FAILURES):
        await coordinator.async_refresh()
        if registry.async_get_issue(DOMAIN, coordinator.issue_id) is not None:
            break
    issue = registry.async_get_issue(DOMAIN, coordinator.issue_id)
    assert issue is not None
    assert issue.translation_key == "connection_failing"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    failures = int(issue.translation_placeholders["failures"])
    assert failures >= coordinator_module.REPAIR_AFTER_FAILURES

    await _wait_until_listening(flat, hass)
    assert registry.async_get_issue(DOMAIN, coordinator.issue_id) is None


@pytest.mark.parametrize("kind", ["zero", "dip"])
async def test_counter_glitch_creates_no_energy(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread, kind: str
) -> None:
    coordinator = loaded_entry.runtime_data.coordinator
    before = numeric_state(hass, Platform.SENSOR, "grid_export_energy")
    flat.glitch_counter("meter", "TotWhInj", kind)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert numeric_state(hass, Platform.SENSOR, "grid_export_energy") == before
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert numeric_state(hass, Platform.SENSOR, "grid_export_energy") == before
    assert flat.state.meter.tot_wh_inj == before


async def test_unit_failure_makes_only_its_entities_unavailable(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, flat: FlatThread
) -> None:
    flat.set_fault("device_failure", True, "meter")
    await loaded_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    meter_state = hass.states.get(entity_id(hass, Platform.SENSOR, "grid_voltage"))
    pv_state = hass.states.get(entity_id(hass, Platform.SENSOR, "pv_power"))
    grid = hass.states.get(entity_id(hass, Platform.BINARY_SENSOR, "grid_connected"))
    assert meter_state is not None
    assert meter_state.state == STATE_UNAVAILABLE
    assert grid is not None
    assert grid.state == STATE_UNAVAILABLE
    assert pv_state is not None
    assert pv_state.state != STATE_UNAVAILABLE


def _restored(
    entity: str, total_wh: float, at: float
) -> tuple[State, dict[str, object]]:
    return (
        State(entity, str(total_wh)),
        {
            "native_value": total_wh,
            "native_unit_of_measurement": "Wh",
            "total_wh": total_wh,
            "offset_wh": 0.0,
            "at": at,
        },
    )


@pytest.mark.parametrize(
    ("restored_offset_wh", "expected"),
    [
        # HA stopped; the device went on counting (plausibly): count that energy once.
        (-50.0, "device"),
        # The device reads a little lower than what was shown: hold, no dip.
        (+10.0, "restored"),
        # The device lost its counter (replaced): continue from the restored total.
        (+500_000.0, "restored"),
    ],
)
async def test_restart_restores_totals_without_a_jump(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    restored_offset_wh: float,
    expected: str,
) -> None:
    device_wh = float(flat.state.meter.tot_wh_abs)
    restored_wh = device_wh + restored_offset_wh
    config_entry.add_to_hass(hass)
    registry = er.async_get(hass)
    registry.async_get_or_create(
        Platform.SENSOR,
        DOMAIN,
        f"{BATTERY_SERIAL}_grid_import_energy",
        suggested_object_id="flat_import",
        config_entry=config_entry,
    )
    mock_restore_cache_with_extra_data(
        hass, [_restored("sensor.flat_import", restored_wh, time.time() - 3600)]
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    shown = numeric_state(hass, Platform.SENSOR, "grid_import_energy")
    assert shown == pytest.approx(device_wh if expected == "device" else restored_wh)
    # Many more polls: still no jump in either direction.
    coordinator = config_entry.runtime_data.coordinator
    for _ in range(5):
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    again = numeric_state(hass, Platform.SENSOR, "grid_import_energy")
    assert again == pytest.approx(shown)
