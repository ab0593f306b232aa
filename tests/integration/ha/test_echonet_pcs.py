"""An ECHONET Lite flat whose node has a multi-input PCS (0x02A5), in Home Assistant.

Against the simulator's node over real UDP on 127.0.0.1. The PCS's AC-side power
and energy show on the battery's device, its self-sustained state as a binary
sensor; a power cut is seen through the PCS even where the battery object does not
say; a silent node leaves them unavailable, never 0; a node without a PCS gets none
of these entities.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.device.echonet import properties as p
from simulator.simulator import Simulator
from tests.integration.ha.echonet_flat import (
    EchonetFlat,
    echonet_entry_data,
    echonet_flat_in_thread,
)
from tests.integration.ha.outage_harness import (
    FakeClock,
    Harness,
    setup_backup_entry,
    setup_loads,
    use_fake_clock,
)
from tests.integration.ha.support import (
    BATTERY_SERIAL,
    entity_id,
    new_flat_entry,
    numeric_state,
)

PCS_SENSORS = (
    "conditioner_power",
    "conditioner_output_energy",
    "conditioner_input_energy",
)


@pytest.fixture
def pcs_flat(socket_enabled: None) -> Iterator[EchonetFlat]:
    """Flat 101 at midday, its node with a multi-input PCS."""
    with echonet_flat_in_thread(echonet_pcs=True) as flat:
        yield flat


@pytest.fixture
def pcs_entry(pcs_flat: EchonetFlat) -> MockConfigEntry:
    return new_flat_entry(echonet_entry_data(pcs_flat[1]))


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _drop_battery_grid_state(flat: EchonetFlat) -> None:
    """The battery object leaves 0xD0 to its PCS, as some hybrid systems do."""
    handle, nodes = flat

    def drop(_: Simulator) -> None:
        battery = nodes.node().object(0x027D)
        battery.getters.pop(p.INTERCONNECTION)
        battery.finish()

    handle.call(drop)


async def test_the_pcs_shows_its_ac_side_and_goes_unavailable_when_silent(
    hass: HomeAssistant, pcs_flat: EchonetFlat, pcs_entry: MockConfigEntry
) -> None:
    handle, nodes = pcs_flat
    await _set_up(hass, pcs_entry)
    flat = handle.call(lambda sim: sim.model.flats["101"])
    power = numeric_state(hass, Platform.SENSOR, "conditioner_power")
    assert power == round(flat.conditioner_w)
    assert power > 0  # midday: PV out through the converter
    out_wh = numeric_state(hass, Platform.SENSOR, "conditioner_output_energy")
    assert out_wh == flat.conditioner_out.register_wh
    assert out_wh > 0
    assert numeric_state(hass, Platform.SENSOR, "conditioner_input_energy") >= 0
    sustained = entity_id(hass, Platform.BINARY_SENSOR, "conditioner_self_sustained")
    state = hass.states.get(sustained)
    assert state is not None
    assert state.state == STATE_OFF

    handle.call(lambda _: setattr(nodes.node(), "silent", True))
    await pcs_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    for key in PCS_SENSORS:
        state = hass.states.get(entity_id(hass, Platform.SENSOR, key))
        assert state is not None
        assert state.state == STATE_UNAVAILABLE, key
    state = hass.states.get(sustained)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_a_power_cut_is_seen_through_the_pcs(
    hass: HomeAssistant,
    pcs_flat: EchonetFlat,
    pcs_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the PCS says whether the grid is there: the outage is still confirmed."""
    handle, _ = pcs_flat
    _drop_battery_grid_state(pcs_flat)
    clock: FakeClock = use_fake_clock(monkeypatch)
    loads = await setup_loads(hass)
    entry = await setup_backup_entry(hass, pcs_entry, loads)
    harness = Harness(hass, entry, handle, clock)
    assert harness.state(Platform.BINARY_SENSOR, "grid_connected") == STATE_ON
    await harness.outage_confirmed()
    assert harness.state(Platform.SENSOR, "outage_state") == "outage"
    assert harness.state(Platform.BINARY_SENSOR, "grid_connected") == STATE_OFF
    assert harness.state(Platform.BINARY_SENSOR, "conditioner_self_sustained") == (
        STATE_ON
    )
    assert harness.state(Platform.SWITCH, "living_room_on_battery") == STATE_ON
    await harness.grid_back_for(60)
    await harness.until_grid_ok(limit_s=600)


async def test_a_node_without_a_pcs_gets_none_of_its_entities(
    hass: HomeAssistant, echonet_flat: EchonetFlat, echonet_entry: MockConfigEntry
) -> None:
    await _set_up(hass, echonet_entry)
    registry = er.async_get(hass)
    for platform, key in (
        *((Platform.SENSOR, key) for key in PCS_SENSORS),
        (Platform.BINARY_SENSOR, "conditioner_self_sustained"),
    ):
        unique_id = f"{BATTERY_SERIAL}_{key}"
        assert registry.async_get_entity_id(platform, DOMAIN, unique_id) is None
    # The flat itself reads as ever.
    assert numeric_state(hass, Platform.SENSOR, "battery_soc") > 0
    grid = hass.states.get(entity_id(hass, Platform.BINARY_SENSOR, "grid_connected"))
    assert grid is not None
    assert grid.state == STATE_ON
