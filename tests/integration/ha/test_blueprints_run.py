"""Automations made from the blueprints act on a real (simulated) power cut."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.outage_harness import (
    LOADS,
    FakeClock,
    Harness,
    setup_backup_entry,
    setup_loads,
    use_fake_clock,
)
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import entity_id, set_up_linked

BLUEPRINTS = Path(__file__).resolve().parents[3] / "blueprints"


async def _prepare(
    hass: HomeAssistant, tmp_path: Path
) -> tuple[str, list[ServiceCall]]:
    """Blueprints in the config folder, the building blocks, and a phone."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")
    for component in ("scene", "light"):
        assert await async_setup_component(hass, component, {})
    phone_entry = MockConfigEntry(domain="mobile_app")
    phone_entry.add_to_hass(hass)
    phone = dr.async_get(hass).async_get_or_create(
        config_entry_id=phone_entry.entry_id,
        identifiers={("mobile_app", "phone-1")},
        name="Test Phone",
    )
    # A real phone cannot be had here; its notify service is the boundary.
    notifications = async_mock_service(hass, "notify", "mobile_app_test_phone")
    return phone.id, notifications


async def _flat_with_phone(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[MockConfigEntry, str, list[ServiceCall], FakeClock]:
    """The flat (shedding nothing itself: the automations do), loads and a phone."""
    clock = use_fake_clock(monkeypatch)
    phone, notifications = await _prepare(hass, tmp_path)
    assert await setup_loads(hass) == LOADS
    entry = await setup_backup_entry(hass, config_entry, [])
    return entry, phone, notifications, clock


async def _automation(
    hass: HomeAssistant, path: str, inputs: dict[str, object]
) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": [{"use_blueprint": {"path": path, "input": inputs}}]},
    )
    await hass.async_block_till_done()
    states = hass.states.async_all("automation")
    assert len(states) == 1
    assert states[0].state == STATE_ON, "the blueprint's automation did not load"


async def test_outage_blueprint_sheds_notifies_and_restores(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry, phone, notifications, clock = await _flat_with_phone(
        hass, config_entry, tmp_path, monkeypatch
    )
    await _automation(
        hass,
        "local_vpp/outage_backup.yaml",
        {
            "flat": entry.entry_id,
            "outage_state": entity_id(hass, Platform.SENSOR, "outage_state"),
            "notify_devices": [phone],
            "shed_loads": LOADS,
            "restore_delay": 0,
            "startup_grace": 0,
            "confirm_for": 0,
        },
    )
    harness = Harness(hass, entry, flat, clock)

    await harness.outage_confirmed()
    await hass.async_block_till_done()
    assert harness.load(LOADS[0]) == STATE_OFF
    assert harness.load(LOADS[1]) == STATE_OFF
    assert harness.load(LOADS[2]) == STATE_OFF
    titles = [call.data["title"] for call in notifications]
    assert f"Power cut in {entry.title}" in titles
    assert f"Living room on battery in {entry.title}" in titles
    started = next(c for c in notifications if c.data["title"].startswith("Power cut"))
    assert "Switched off: heater, washer." in started.data["message"]

    await harness.grid_back_for(240)
    await harness.until_grid_ok()
    await hass.async_block_till_done()
    assert f"Power is back in {entry.title}" in [c.data["title"] for c in notifications]
    # Exactly what was on comes back; the dryer was off and stays off.
    assert harness.load(LOADS[0]) == STATE_ON
    assert harness.load(LOADS[1]) == STATE_ON
    assert harness.load(LOADS[2]) == STATE_OFF


async def test_low_battery_blueprint_warns_and_sheds_more(  # noqa: PLR0917
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry, phone, notifications, clock = await _flat_with_phone(
        hass, config_entry, tmp_path, monkeypatch
    )
    await _automation(
        hass,
        "local_vpp/low_battery_during_outage.yaml",
        {
            "runtime_left": entity_id(hass, Platform.SENSOR, "backup_runtime_left"),
            "backup_active": entity_id(hass, Platform.BINARY_SENSOR, "backup_active"),
            # Far above any real runtime: the warning is due as soon as backup starts.
            "threshold_min": 100_000,
            "notify_devices": [phone],
            "notify_here": True,
            "extra_loads": LOADS[:1],
            "restore_when_released": True,
            "restore_delay": 0,
        },
    )
    harness = Harness(hass, entry, flat, clock)
    assert notifications == []

    await harness.outage_confirmed()
    await hass.async_block_till_done()
    assert notifications, "no low-battery warning"
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    shown = (await client.receive_json())["result"]
    assert "Battery running low" in [item["title"] for item in shown]
    assert harness.load(LOADS[0]) == STATE_OFF
    assert harness.load(LOADS[1]) == STATE_ON

    await harness.grid_back_for(240)
    await harness.until_grid_ok()
    await hass.async_block_till_done()
    assert harness.load(LOADS[0]) == STATE_ON


async def test_peak_shaving_blueprint_requests_and_cancels(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    tmp_path: Path,
) -> None:
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")
    demand = "sensor.building_demand"
    watts = {"unit_of_measurement": "W", "device_class": "power"}
    hass.states.async_set(demand, "18000", watts)
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await _automation(
        hass,
        "local_vpp/peak_shaving.yaml",
        {
            "demand_sensor": demand,
            "limit_kw": 20,
            "flat": config_entry.entry_id,
            "duration_min": 30,
            "clear_after": {"seconds": 30},
            "reason": "Evening peak",
        },
    )

    hass.states.async_set(demand, "23500", watts)
    await hass.async_block_till_done()
    await until(lambda: bool(scripted_sidecar.of_type("dispatch_request")))
    (request,) = scripted_sidecar.of_type("dispatch_request")
    assert request["mode"] == "meter_limit"
    assert request["limit_w"] == 20000
    assert request["meter_w"] == 23500
    assert request["duration_s"] == 1800
    assert request["reason"] == "Evening peak"
    assert request["direction"] == "discharge"

    # Under the limit, but not yet for long enough: nothing is cancelled.
    hass.states.async_set(demand, "19000", watts)
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert scripted_sidecar.of_type("dispatch_cancel") == []

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    await until(lambda: bool(scripted_sidecar.of_type("dispatch_cancel")))
    assert scripted_sidecar.of_type("dispatch_cancel")[0]["event"] is None
    assert len(scripted_sidecar.of_type("dispatch_request")) == 1
    assert await hass.config_entries.async_unload(config_entry.entry_id)
