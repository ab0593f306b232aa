"""How much of the flat's ledger is estimated: a diagnostic sensor and a repair."""

from __future__ import annotations

import time

from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar, vector
from tests.integration.ha.support import entity_id, set_up_linked

ESTIMATED = "sample:entry: an estimated flow while the counters are refused"
RECONCILED = "sample:entry: a flow that reconciles estimates, with today's tally"


def _state(hass: HomeAssistant) -> str:
    state = hass.states.get(entity_id(hass, Platform.SENSOR, "ledger_estimated_today"))
    assert state is not None
    return state.state


async def test_estimating_for_too_long_raises_a_repair_until_reconciled(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    registry = ir.async_get(hass)
    issue_id = f"ledger_estimating_{config_entry.entry_id}"
    assert _state(hass) == STATE_UNAVAILABLE  # no flow acknowledged yet

    # Estimating for five minutes: counted, no repair yet.
    recent = vector(ESTIMATED)
    recent["seq"] = 1
    recent["today"]["estimating_since"] = time.time_ns() // 1_000_000 - 300_000
    await scripted_sidecar.push(recent)
    await until(lambda: link.last_seq == 1)
    await hass.async_block_till_done()
    assert _state(hass) == "15"
    assert registry.async_get_issue(DOMAIN, issue_id) is None

    # Estimating for twenty minutes: the repair.
    old = vector(ESTIMATED)
    old["seq"] = 2
    old["today"]["estimating_since"] = time.time_ns() // 1_000_000 - 1_200_000
    await scripted_sidecar.push(old)
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "ledger_estimating"
    assert issue.translation_placeholders == {"minutes": "15"}

    # A counter reading is used again: the flow reconciles, the repair goes.
    await scripted_sidecar.push(vector(RECONCILED))
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is None)
    await hass.async_block_till_done()
    assert _state(hass) == "14"
    state = hass.states.get(entity_id(hass, Platform.SENSOR, "ledger_estimated_today"))
    assert state is not None
    assert state.attributes["reconciled_today"] == 2
    assert state.attributes["latest_quality"] == "reconciled"
    assert state.attributes["estimating_since"] is None
