"""Group discharge on an ECHONET Lite flat: what only this family has.

A battery that does not accept control is read and recorded but offered as no
giver; a battery without a reserve property offers what is above the installer's
reserve; a Home Assistant killed in the middle of a group event hands the battery
back to automatic mode at its next start (no revert timer would). The slower,
acknowledged write path (power, amount and mode once, again only when the power
really changes, automatic mode at the end) and the amount as the safety net are
tested with every family in test_group_discharge.py.
"""

from __future__ import annotations

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp import families
from custom_components.local_vpp.battery_facts import DEFAULT_RESERVE_PCT
from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.device.echonet import properties as p
from devkit.waiting import until
from sidecar.coordination.intake import availability_content
from simulator.echonet.objects import StorageBattery
from simulator.echonet_nodes import EchonetNodes
from tests.integration.ha.echonet_flat import EchonetFlat
from tests.integration.ha.scripted_sidecar import ScriptedSidecar, setpoint_message
from tests.integration.ha.support import BATTERY_SERIAL, set_up_linked


def _battery(nodes: EchonetNodes) -> StorageBattery:
    """The node's battery object; only touch it in the simulator's thread."""
    battery = nodes.node().objects[p.STORAGE_BATTERY]
    assert isinstance(battery, StorageBattery)
    return battery


async def test_a_battery_that_refuses_control_is_offered_as_no_giver(
    hass: HomeAssistant,
    echonet_flat: EchonetFlat,
    echonet_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    handle, nodes = echonet_flat
    handle.call(lambda _: _battery(nodes).lock_controls())
    await set_up_linked(hass, echonet_entry, scripted_sidecar)
    assert echonet_entry.runtime_data.device.capabilities.control_power is False
    before = len(scripted_sidecar.of_type("availability"))
    await echonet_entry.runtime_data.coordinator.async_refresh()
    await until(lambda: len(scripted_sidecar.of_type("availability")) > before)
    message = scripted_sidecar.of_type("availability")[-1]
    assert message["participate"] is False
    # Still read and recorded.
    assert message["soc_pct"] is not None
    assert scripted_sidecar.of_type("sample")


async def test_a_group_hold_left_by_a_killed_home_assistant_ends_at_its_next_start(
    hass: HomeAssistant,
    echonet_flat: EchonetFlat,
    echonet_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handle, nodes = echonet_flat
    # The lost release waits 1 s for its answer, not 2 s.
    monkeypatch.setattr(families, "ECHONET_TIMEOUT_S", 1.0)
    await set_up_linked(hass, echonet_entry, scripted_sidecar)
    await scripted_sidecar.push(setpoint_message(w=-800, revert_s=4))
    await until(lambda: handle.state.setpoint.enabled)
    group = echonet_entry.runtime_data.group
    assert group is not None
    await until(lambda: not group.busy)
    # Killed mid-event: the release on the way out never reaches the battery.
    handle.call(lambda _: setattr(nodes.node(), "silent", True))
    assert await hass.config_entries.async_unload(echonet_entry.entry_id)
    await hass.async_block_till_done()
    handle.call(lambda _: setattr(nodes.node(), "silent", False))
    mode = handle.call(lambda _: _battery(nodes).get(p.OPERATION_MODE))
    assert mode == bytes((p.MODE_CHARGING,))

    assert await hass.config_entries.async_setup(echonet_entry.entry_id)
    await hass.async_block_till_done()
    mode = handle.call(lambda _: _battery(nodes).get(p.OPERATION_MODE))
    assert mode == bytes((p.MODE_AUTO,))
    assert not handle.state.setpoint.enabled


async def test_an_echonet_battery_offers_what_is_above_the_installers_reserve(
    hass: HomeAssistant,
    echonet_flat: EchonetFlat,
    echonet_entry: MockConfigEntry,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    """No reserve property: 30 % by default, or the installer's; always accepted."""
    await set_up_linked(hass, echonet_entry, scripted_sidecar)
    registry = er.async_get(hass)
    setpoint = f"{BATTERY_SERIAL}_battery_setpoint"
    assert registry.async_get_entity_id(Platform.NUMBER, DOMAIN, setpoint)
    # The device keeps no reserve to set: the installer sets it in the options.
    reserve = f"{BATTERY_SERIAL}_backup_reserve"
    assert registry.async_get_entity_id(Platform.NUMBER, DOMAIN, reserve) is None

    async def offer() -> tuple[int, float, float]:
        before = len(scripted_sidecar.of_type("availability"))
        await echonet_entry.runtime_data.coordinator.async_refresh()
        await until(lambda: len(scripted_sidecar.of_type("availability")) > before)
        message = scripted_sidecar.of_type("availability")[-1]
        content = availability_content(
            message, now_ms=message["ts"], max_power_w=20_000
        )
        battery = echonet_entry.runtime_data.coordinator.data.battery
        assert battery is not None
        assert battery.soc_pct is not None
        assert battery.rated_wh is not None
        return content["energy_wh"], battery.soc_pct, battery.rated_wh

    energy, soc, rated = await offer()
    assert soc > DEFAULT_RESERVE_PCT
    assert energy == pytest.approx((soc - DEFAULT_RESERVE_PCT) / 100 * rated, abs=100)
    assert energy > 0

    hass.config_entries.async_update_entry(
        echonet_entry,
        options=dict(echonet_entry.options) | {"battery_reserve_pct": 100},
    )
    await hass.async_block_till_done()
    energy, _, _ = await offer()
    assert energy == 0
