"""The sidecar's view of the ledger mesh becomes entities and a repair issue."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.ledger import entities as ledger_entities
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar, mesh_message
from tests.integration.ha.support import (
    assert_starts_disabled,
    entity_id,
    set_up_linked,
)


def _state(hass: HomeAssistant, platform: Platform, key: str) -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state.state


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_mesh_counts_and_integrity(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    # The mesh, setpoint and bus setpoint messages are asked for in the hello.
    assert scripted_sidecar.of_type("hello")[0]["subscribe"] == [
        "mesh",
        "setpoint",
        "bus_setpoint",
    ]
    assert _state(hass, Platform.SENSOR, "ledger_peers_online") == "4"
    assert _state(hass, Platform.SENSOR, "ledger_roster_size") == "5"
    assert _state(hass, Platform.BINARY_SENSOR, "ledger_integrity") == STATE_OFF
    # No checkpoint witnessed yet: unknown, not 0 s.
    assert _state(hass, Platform.SENSOR, "ledger_witnessed_age") == STATE_UNAVAILABLE

    await scripted_sidecar.push(mesh_message(peers_online=2, roster_size=6))
    await until(lambda: link.mesh is not None and link.mesh["peers_online"] == 2)
    await hass.async_block_till_done()
    assert _state(hass, Platform.SENSOR, "ledger_peers_online") == "2"
    assert _state(hass, Platform.SENSOR, "ledger_roster_size") == "6"


async def test_rarely_wanted_ledger_sensors_start_disabled(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    await set_up_linked(hass, config_entry, scripted_sidecar)
    for key in ("ledger_entries", "ledger_roster_size"):
        assert_starts_disabled(hass, Platform.SENSOR, key)
    # What residents look at stays on.
    assert _state(hass, Platform.SENSOR, "ledger_peers_online") == "4"


async def test_checkpoint_age_keeps_growing_between_messages(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    now = time.time()
    witnessed_ts = int((now - 30) * 1000)
    await scripted_sidecar.push(
        mesh_message(witnessed={"size": 120, "ts": witnessed_ts, "age_ms": 30_000})
    )
    await until(lambda: link.mesh is not None and link.mesh["witnessed"] is not None)
    await hass.async_block_till_done()
    age = float(_state(hass, Platform.SENSOR, "ledger_witnessed_age"))
    assert 29 <= age <= 40

    # No new message; the clock moves on and the sensor follows within seconds.
    monkeypatch.setattr(ledger_entities, "_wall_clock", lambda: now + 100)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3))
    await hass.async_block_till_done()
    assert float(_state(hass, Platform.SENSOR, "ledger_witnessed_age")) == 130


async def test_equivocation_raises_a_repair_until_integrity_is_back(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    issue_id = f"ledger_integrity_{config_entry.entry_id}"
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, issue_id) is None

    await scripted_sidecar.push(
        mesh_message(
            integrity="equivocation",
            problems=[
                {"kind": "equivocation", "author": "cd" * 32, "flat": "303", "seq": 12}
            ],
        )
    )
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "ledger_integrity_equivocation"
    assert issue.translation_placeholders == {
        "flats": "303",
        "seq": "12",
        "detail": "-",
    }
    await hass.async_block_till_done()
    assert _state(hass, Platform.BINARY_SENSOR, "ledger_integrity") == STATE_ON
    attributes = hass.states.get(
        entity_id(hass, Platform.BINARY_SENSOR, "ledger_integrity")
    )
    assert attributes is not None
    assert attributes.attributes["problems"] == [
        {"kind": "equivocation", "flat": "303", "seq": 12}
    ]

    await scripted_sidecar.push(
        mesh_message(
            integrity="verification_failed",
            problems=[
                {
                    "kind": "verification_failed",
                    "author": "ef" * 32,
                    "flat": "304",
                    "detail": "bad signature",
                }
            ],
        )
    )
    await until(
        lambda: (
            (found := registry.async_get_issue(DOMAIN, issue_id)) is not None
            and found.translation_key == "ledger_integrity_verification_failed"
        )
    )
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["flats"] == "304"
    assert issue.translation_placeholders["detail"] == "bad signature"

    await scripted_sidecar.push(mesh_message())
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is None)
    await hass.async_block_till_done()
    assert _state(hass, Platform.BINARY_SENSOR, "ledger_integrity") == STATE_OFF
    assert link.connected


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_mesh_entities_are_unavailable_while_the_link_is_down(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    await scripted_sidecar.stop()
    await until(lambda: not link.connected)
    await hass.async_block_till_done()
    for platform, key in (
        (Platform.SENSOR, "ledger_peers_online"),
        (Platform.SENSOR, "ledger_roster_size"),
        (Platform.SENSOR, "ledger_witnessed_age"),
        (Platform.BINARY_SENSOR, "ledger_integrity"),
    ):
        assert _state(hass, platform, key) == STATE_UNAVAILABLE, key
    assert _state(hass, Platform.BINARY_SENSOR, "sidecar_connected") == STATE_OFF
    # The entries count is Home Assistant's own knowledge and stays.
    assert _state(hass, Platform.SENSOR, "ledger_entries") != STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_entities_come_back_with_the_link(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    port = scripted_sidecar.port
    await scripted_sidecar.stop()
    await until(lambda: not link.connected)
    await hass.async_block_till_done()
    assert (
        _state(hass, Platform.BINARY_SENSOR, "group_discharge_active")
        == STATE_UNAVAILABLE
    )

    await scripted_sidecar.start(port)
    await until(lambda: link.connected and link.mesh is not None, 20)
    await hass.async_block_till_done()
    assert _state(hass, Platform.SENSOR, "ledger_peers_online") == "4"
    assert _state(hass, Platform.BINARY_SENSOR, "group_discharge_active") == STATE_OFF
    assert _state(hass, Platform.SENSOR, "group_setpoint") == "0.0"
    assert await hass.config_entries.async_unload(config_entry.entry_id)
