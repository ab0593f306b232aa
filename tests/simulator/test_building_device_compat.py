"""The integration's device library takes a building flat (with model 64901) as is.

The extra model after 64900 must change nothing for it: discovery succeeds, a poll
still needs five requests, and the living-room switch and setpoints still work.
"""

from __future__ import annotations

import pytest

from tests.simulator.building_probe import building_config, running_building

device = pytest.importorskip("custom_components.local_vpp.device")
FlatDevice, UnitIds = device.FlatDevice, device.UnitIds


async def test_device_library_discovers_and_polls_a_building_flat() -> None:
    async with running_building(building_config(flats=2)) as (sim, _, __):
        flat_id = "102"
        flat = FlatDevice.tcp("127.0.0.1", sim.ports[flat_id], UnitIds(), timeout=2)
        try:
            identities = await flat.async_discover()
            assert identities["battery"].serial == f"LVPP-{flat_id}-BAT"
            assert 64901 in flat.models["battery"]
            reading = await flat.async_poll()
            assert flat.last_poll_requests == 5
            state = sim.flat_state(flat_id)
            assert reading.battery is not None
            assert reading.battery.soc_pct == pytest.approx(
                state.battery.soc_pct, abs=0.1
            )
            assert reading.battery.rated_wh == state.battery.rated_wh
            assert reading.meter is not None
            assert reading.meter.power_w == round(state.meter.w)

            await flat.async_set_living_room_on_battery(True)
            sim.set_outage(True)
            sim.advance(2)
            reading = await flat.async_poll()
            assert flat.last_poll_requests == 5
            assert reading.living_room is not None
            assert reading.living_room.on_battery is True
            assert reading.living_room.powered is True
            registers = await flat.async_read_registers()
            assert registers["battery"]  # diagnostics read the whole chain
        finally:
            await flat.async_close()
