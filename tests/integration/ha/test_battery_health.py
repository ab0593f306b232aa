"""Battery health in Home Assistant, from a real sidecar's ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    DOMAIN,
)
from devkit.battery_life import Injection
from devkit.sidecar_node import SidecarNode, start_sidecar
from devkit.waiting import until
from sidecar.apps.battery.passport_check import check
from simulator.physics.battery import Degradation
from simulator.threaded import FlatThread
from tests.integration.ha.support import entity_id, set_up_with_sidecar
from tests.sidecar.battery_support import fill_site
from tests.sidecar.support import init_site


@pytest.fixture
async def ledger_node(tmp_path: Path, flat: FlatThread) -> AsyncIterator[SidecarNode]:
    """Flat 301's sidecar after 32 simulated days; a weak cell from day 25."""
    config_path = init_site(tmp_path)
    fill_site(
        config_path, 32, Injection(25, Degradation(weak_cell_pct=90.0)), checkpoint=True
    )
    node = await start_sidecar(config_path)
    try:
        yield node
    finally:
        if node.process is not None and node.process.returncode is None:
            await node.stop()


def _state(hass: HomeAssistant, platform: Platform, key: str) -> Any:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state


async def test_battery_health_sensors_repair_and_passport(
    hass: HomeAssistant, config_entry: MockConfigEntry, ledger_node: SidecarNode
) -> None:
    await set_up_with_sidecar(hass, config_entry, ledger_node.ws_url, ledger_node.token)
    health = config_entry.runtime_data.battery_health
    assert health is not None
    await until(lambda: health.data is not None)
    await hass.async_block_till_done()

    capacity = _state(hass, Platform.SENSOR, "battery_estimated_capacity")
    assert 1_700 < float(capacity.state) < 1_850  # a weak cell at 90 % of 2 kWh
    assert capacity.attributes["state_class"] == "measurement"
    assert capacity.attributes["unit_of_measurement"] == "Wh"
    assert capacity.attributes["uncertainty_wh"] > 0
    efficiency = _state(hass, Platform.SENSOR, "battery_round_trip_efficiency")
    assert 89 < float(efficiency.state) < 91
    soh = _state(hass, Platform.SENSOR, "battery_estimated_soh")
    assert 85 < float(soh.state) < 95
    anomaly = _state(hass, Platform.BINARY_SENSOR, "battery_anomaly")
    assert anomaly.state == STATE_ON
    kinds = {a["kind"] for a in anomaly.attributes["anomalies"]}
    assert kinds == {"capacity_fading", "cell_voltage"}

    registry = ir.async_get(hass)
    cells = registry.async_get_issue(DOMAIN, health.issue_id("cell_voltage"))
    assert cells is not None
    assert cells.translation_placeholders is not None
    assert cells.translation_placeholders["measured"].endswith(" V")
    assert registry.async_get_issue(DOMAIN, health.issue_id("soh_jump")) is None
    issue = registry.async_get_issue(DOMAIN, health.issue_id("capacity_fading"))
    assert issue is not None
    assert issue.translation_key == "battery_capacity_fading"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["serial"] == "LVPP-101-BAT"
    assert issue.translation_placeholders["measured"].endswith(" Wh")

    # The node summarised the fill's last closed day at start, after the last
    # checkpoint: the passport waits until the next one is cosigned.
    response = None
    for _ in range(200):
        try:
            response = await hass.services.async_call(
                DOMAIN,
                "battery_passport",
                {"to": "2025-02-02"},
                blocking=True,
                return_response=True,
            )
            break
        except HomeAssistantError as err:
            if "unavailable" not in str(err):
                raise
            await asyncio.sleep(0.05)
    assert response is not None
    passport: dict[str, Any] = dict(response)
    assert check(passport) == []
    battery = passport["passport"]["battery"]
    assert battery["days_counted"] == 31
    assert "capacity_fading" in {a["kind"] for a in battery["anomalies"]}
    entity = entity_id(hass, Platform.BINARY_SENSOR, "battery_anomaly")
    assert entity == "binary_sensor.flat_lvpp_101_bat_battery_anomaly"

    # The sidecar goes away: the figures are unknown, not zero.
    await ledger_node.stop()
    await health.async_refresh()
    await hass.async_block_till_done()
    state = _state(hass, Platform.SENSOR, "battery_estimated_capacity").state
    assert state == STATE_UNAVAILABLE
    anomaly_state = _state(hass, Platform.BINARY_SENSOR, "battery_anomaly").state
    assert anomaly_state == STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    for kind in kinds:
        assert registry.async_get_issue(DOMAIN, health.issue_id(kind)) is None
