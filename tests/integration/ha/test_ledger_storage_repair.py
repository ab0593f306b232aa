"""A sidecar that cannot write its store raises a repair until it writes again."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar, mesh_message
from tests.integration.ha.support import set_up_linked


@pytest.mark.parametrize("fault", ["storage_full", "storage_readonly"])
async def test_a_storage_fault_raises_a_repair_until_the_sidecar_writes_again(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    scripted_sidecar: ScriptedSidecar,
    fault: str,
) -> None:
    link = await set_up_linked(hass, config_entry, scripted_sidecar)
    issue_id = f"ledger_storage_{config_entry.entry_id}"
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, issue_id) is None

    await scripted_sidecar.push(mesh_message(storage=fault))
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == f"ledger_{fault}"
    # The ledger's integrity is a separate matter: no integrity issue comes with it.
    assert (
        registry.async_get_issue(DOMAIN, f"ledger_integrity_{config_entry.entry_id}")
        is None
    )

    await scripted_sidecar.push(mesh_message())
    await until(lambda: registry.async_get_issue(DOMAIN, issue_id) is None)
    assert link.connected
