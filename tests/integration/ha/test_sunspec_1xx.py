"""A flat of SunSpec 1xx devices in Home Assistant, against the simulator.

The SunSpec flow scans the units and uses the 1xx family when the 7xx set is not
there; the entities show the flat; a battery without a capacity asks for it. The
power cut, group discharge (through model 124 and its revert timer) and bus tests
run on a 1xx flat (with a relay as the living-room changeover: a 1xx inverter has no
living-room register) in their own modules, parametrised over the families. A flat
whose meter serves a float model (211–214) is found by the same flow and shows the
same grid power and energy; a point the meter leaves unimplemented (NaN) is
unavailable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from devkit.waiting import until
from sidecar.coordination.intake import availability_content
from simulator.modbus.units_1xx import FlatUnit1xx
from simulator.model.config import UnitRole
from simulator.simulator import Simulator
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import (
    entity_id,
    entry_data,
    morning_flat,
    new_flat_entry,
    numeric_state,
    set_up_linked,
)


@pytest.fixture
def flat_1xx(socket_enabled: None) -> Iterator[FlatThread]:
    with morning_flat(sunspec="1xx") as handle:
        yield handle


@pytest.fixture
def flat_float_meter(socket_enabled: None) -> Iterator[FlatThread]:
    """A 1xx flat whose meter serves 212, the split-phase float meter."""
    with morning_flat(sunspec="1xx", sunspec_meter=212) as handle:
        yield handle


def _entry(flat: FlatThread, **options: str) -> MockConfigEntry:
    return new_flat_entry(entry_data(flat) | {"device_family": "sunspec1xx"}, **options)


async def _add_through_the_flow(hass: HomeAssistant, flat: FlatThread) -> Any:
    """Flat 101 added as an installer does: the SunSpec step, its address and units."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sunspec"}
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"flat": "101"} | entry_data(flat)
    )


async def test_the_flow_scans_and_uses_the_1xx_models(
    hass: HomeAssistant, flat_1xx: FlatThread
) -> None:
    result = await _add_through_the_flow(hass, flat_1xx)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"flat": "101"} | entry_data(flat_1xx) | {
        "device_family": "sunspec1xx"
    }
    await hass.async_block_till_done()
    assert numeric_state(hass, Platform.SENSOR, "battery_soc") == pytest.approx(
        flat_1xx.state.battery.soc_pct, abs=0.2
    )


async def _offer(
    hass: HomeAssistant, entry: MockConfigEntry, sidecar: ScriptedSidecar
) -> dict[str, Any]:
    """The next availability the flat sends, as its own sidecar takes it in."""
    before = len(sidecar.of_type("availability"))
    await entry.runtime_data.coordinator.async_refresh()
    await until(lambda: len(sidecar.of_type("availability")) > before)
    message = sidecar.of_type("availability")[-1]
    return availability_content(message, now_ms=message["ts"], max_power_w=20_000)


async def test_a_1xx_battery_without_a_capacity_offers_nothing_and_asks_for_it(
    hass: HomeAssistant, flat_1xx: FlatThread, scripted_sidecar: ScriptedSidecar
) -> None:
    """Model 124 has no capacity: the offer is 0 Wh (not refused) and a repair asks."""
    entry = _entry(flat_1xx)
    await set_up_linked(hass, entry, scripted_sidecar)
    content = await _offer(hass, entry, scripted_sidecar)
    assert content["energy_wh"] == 0
    assert content["outage"] == 0
    issue_id = f"battery_capacity_unknown_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    hass.config_entries.async_update_entry(
        entry, options=dict(entry.options) | {"battery_capacity_wh": 10_000}
    )
    await hass.async_block_till_done()
    content = await _offer(hass, entry, scripted_sidecar)
    battery = entry.runtime_data.coordinator.data.battery
    assert battery is not None
    assert battery.soc_pct is not None
    assert battery.reserve_soc_pct is not None
    expected = (battery.soc_pct - battery.reserve_soc_pct) / 100 * 10_000
    assert content["energy_wh"] == pytest.approx(expected, abs=150)
    assert content["energy_wh"] > 0
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


def _leave_unimplemented(sim: Simulator, *points: str) -> None:
    unit = sim.units[sim.flat_state().flat][UnitRole.METER]
    assert isinstance(unit, FlatUnit1xx)
    unit.leave_unimplemented(*points)


async def test_a_float_meter_is_found_and_read_like_an_integer_one(
    hass: HomeAssistant, flat_float_meter: FlatThread
) -> None:
    flat = flat_float_meter
    result = await _add_through_the_flow(hass, flat)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["device_family"] == "sunspec1xx"
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert 212 in entry.runtime_data.coordinator.device.models["meter"]

    meter = flat.state.meter
    assert meter.tot_wh_abs > 0
    assert meter.tot_wh_inj > 0
    assert numeric_state(hass, Platform.SENSOR, "grid_import_power") == (
        pytest.approx(max(0.0, -meter.w), abs=0.01)
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_export_power") == (
        pytest.approx(max(0.0, meter.w), abs=0.01)
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_import_energy") == pytest.approx(
        meter.tot_wh_abs, abs=0.5
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_export_energy") == pytest.approx(
        meter.tot_wh_inj, abs=0.5
    )
    assert numeric_state(hass, Platform.SENSOR, "grid_voltage") == pytest.approx(
        flat.state.grid.voltage_v, abs=0.01
    )

    # The meter stops measuring power and import: unknown, never a made-up 0.
    flat.call(lambda sim: _leave_unimplemented(sim, "W", "TotWhImp"))
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    for key in ("grid_import_power", "grid_export_power", "grid_import_energy"):
        state = hass.states.get(entity_id(hass, Platform.SENSOR, key))
        assert state is not None
        assert state.state == STATE_UNAVAILABLE, key
    assert numeric_state(hass, Platform.SENSOR, "grid_export_energy") == pytest.approx(
        flat.state.meter.tot_wh_inj, abs=0.5
    )


async def test_a_float_meter_reset_does_not_make_the_total_jump(
    hass: HomeAssistant, flat_float_meter: FlatThread
) -> None:
    """A float total has no wrap: a restart from 0 is a reset, carried on seamlessly."""
    flat = flat_float_meter
    entry = _entry(flat)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    before = numeric_state(hass, Platform.SENSOR, "grid_export_energy")
    assert before == pytest.approx(flat.state.meter.tot_wh_inj, abs=0.5)
    assert before > 0

    flat.reset_counter("meter", "TotWhInj")
    shown = [before]
    for _ in range(6):
        flat.advance(2)
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        shown.append(numeric_state(hass, Platform.SENSOR, "grid_export_energy"))
    assert shown == sorted(shown)  # never lower
    since_reset = flat.state.meter.tot_wh_inj  # the register restarted from 0
    # It carries on counting from the shown total, and counts nothing twice.
    assert before < shown[-1] <= before + since_reset + 0.5
