"""Fixtures for the Home Assistant tests: a real simulated flat on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp import families as product_families
from devkit.ports import free_port
from devkit.sidecar_node import SidecarNode, init_node
from simulator.threaded import FlatThread
from tests.integration.ha.echonet_flat import (
    EchonetFlat,
    echonet_entry_data,
    echonet_flat_in_thread,
)
from tests.integration.ha.families import FAMILIES, FamilyFlat, family_flat
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import entry_data, morning_flat, new_flat_entry


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create every entity enabled, also those that start disabled for residents."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def flat(socket_enabled: None) -> Iterator[FlatThread]:
    """A simulated SunSpec 7xx flat at midday, its clock stepped by the test."""
    with morning_flat() as handle:
        yield handle


@pytest.fixture
def config_entry(flat: FlatThread) -> MockConfigEntry:
    """An entry for the simulated flat, not yet set up."""
    return new_flat_entry(entry_data(flat))


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry, set up against the simulator."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
async def scripted_sidecar(socket_enabled: None) -> AsyncIterator[ScriptedSidecar]:
    """A scripted sidecar API on 127.0.0.1, stopped after the test."""
    sidecar = ScriptedSidecar()
    await sidecar.start()
    try:
        yield sidecar
    finally:
        await sidecar.stop()


@pytest.fixture(params=FAMILIES)
async def family(
    request: pytest.FixtureRequest,
    hass: HomeAssistant,
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[FamilyFlat]:
    """Flat 101 of each device family in turn, ready for its entry to be set up.

    An ECHONET Lite request waits 1 s for its answer instead of 2 s: a node made
    silent by the test costs half the time, and one on 127.0.0.1 answers in
    milliseconds.
    """
    monkeypatch.setattr(product_families, "ECHONET_TIMEOUT_S", 1.0)
    with family_flat(request.param) as flat:
        await flat.async_prepare(hass)
        yield flat


@pytest.fixture
def echonet_flat(socket_enabled: None) -> Iterator[EchonetFlat]:
    """A simulated flat served as ECHONET Lite nodes on 127.0.0.1."""
    with echonet_flat_in_thread() as flat:
        yield flat


@pytest.fixture
def echonet_entry(echonet_flat: EchonetFlat) -> MockConfigEntry:
    """A config entry for the ECHONET Lite flat (not yet added to hass)."""
    return new_flat_entry(echonet_entry_data(echonet_flat[1]))


@pytest.fixture
async def sidecar(
    hass: HomeAssistant, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[SidecarNode]:
    """A sidecar initialised for flat 101 and running as its own process."""
    config = tmp_path / "sidecar.toml"
    await hass.async_add_executor_job(
        partial(
            init_node,
            config,
            building="bldg-test",
            floor="1",
            flat="101",
            listen=f"127.0.0.1:{free_port()}",
        )
    )
    node = SidecarNode(config)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
