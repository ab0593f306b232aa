"""The device library's setpoint writes: few requests, and the revert timer first.

A group follower re-writes its battery's setpoint every round, so a repeated setpoint
must be one Modbus request; the revert timer is written again only when it changes or
when the link has failed since (the device may have restarted meanwhile).
"""

from __future__ import annotations

import asyncio

import pytest
from modbus_connection import ModbusTcpParams
from modbus_connection.pymodbus import ModbusConnection

from custom_components.local_vpp.device import (
    FlatDevice,
    UnitIds,
    errors,
    field_block,
    models,
)
from custom_components.local_vpp.device import counting_unit as counting
from tests.simulator.building_probe import building_config, bus_of, running_building

FLAT_ID = "101"


async def test_a_repeated_setpoint_is_one_request_and_re_arms_the_timer() -> None:
    async with running_building(building_config(flats=1)) as (sim, _, __):
        flat = FlatDevice.tcp("127.0.0.1", sim.ports[FLAT_ID], UnitIds(), timeout=2)
        try:
            await flat.async_discover()
            with counting.counting_requests() as first:
                await flat.async_set_power_setpoint(700, 5)
            setpoint = sim.flat_state(FLAT_ID).setpoint
            assert (setpoint.enabled, setpoint.mode, setpoint.setpoint_w) == (
                True,
                1,
                700,
            )
            assert (setpoint.revert_s, setpoint.revert_enabled) == (5, False)
            assert setpoint.revert_w == 0
            # The timer, the scale factor (read once per discovery), then the setpoint.
            assert first.requests == 3

            sim.advance(3)
            assert sim.flat_state(FLAT_ID).setpoint.revert_remaining_s <= 2
            with counting.counting_requests() as repeat:
                await flat.async_set_power_setpoint(650, 5)
            setpoint = sim.flat_state(FLAT_ID).setpoint
            assert repeat.requests == 1
            assert setpoint.setpoint_w == 650
            assert setpoint.revert_remaining_s == 5  # re-armed by the write

            with counting.counting_requests() as longer:
                await flat.async_set_power_setpoint(650, 8)
            assert longer.requests == 2
            assert sim.flat_state(FLAT_ID).setpoint.revert_s == 8

            with counting.counting_requests() as cleared:
                await flat.async_clear_power_setpoint()
            setpoint = sim.flat_state(FLAT_ID).setpoint
            assert cleared.requests == 1
            assert (setpoint.enabled, setpoint.setpoint_w) == (False, 0)
        finally:
            await flat.async_close()


async def test_after_a_lost_link_the_timer_is_written_again() -> None:
    async with running_building(building_config(flats=1)) as (sim, _, __):
        flat = FlatDevice.tcp("127.0.0.1", sim.ports[FLAT_ID], UnitIds(), timeout=1)
        try:
            await flat.async_discover()
            await flat.async_set_power_setpoint(500, 5)
            await sim.disconnect(0.5, flat_id=FLAT_ID)
            with pytest.raises(errors.CannotConnectError):
                await flat.async_set_power_setpoint(500, 5)
            await asyncio.sleep(0.7)
            with counting.counting_requests() as again:
                await flat.async_set_power_setpoint(480, 5)
            assert again.requests == 2
            assert sim.flat_state(FLAT_ID).setpoint.setpoint_w == 480
        finally:
            await flat.async_close()


async def test_a_repeated_bus_setpoint_is_one_request() -> None:
    async with running_building(building_config(flats=1)) as (sim, _, __):
        flat = FlatDevice.tcp("127.0.0.1", sim.ports[FLAT_ID], UnitIds(), timeout=2)
        try:
            await flat.async_discover()
            with counting.counting_requests() as first:
                await flat.async_set_bus_setpoint(-400, 5)
            with counting.counting_requests() as repeat:
                await flat.async_set_bus_setpoint(-300, 5)
            bus = bus_of(sim.flat_state(FLAT_ID))
            assert (first.requests, repeat.requests) == (3, 1)
            assert (bus.setpoint_w, bus.revert_s, bus.revert_remaining_s) == (
                -300,
                5,
                5,
            )
            with pytest.raises(ValueError, match="within"):
                await flat.async_set_bus_setpoint(20_000, 5)
            await flat.async_clear_bus_setpoint()
            assert bus_of(sim.flat_state(FLAT_ID)).setpoint_w == 0
        finally:
            await flat.async_close()


async def test_fields_that_leave_a_gap_or_are_read_only_are_refused() -> None:
    async with running_building(building_config(flats=1)) as (sim, _, __):
        flat = FlatDevice.tcp("127.0.0.1", sim.ports[FLAT_ID], UnitIds(), timeout=2)
        connection = ModbusConnection(
            ModbusTcpParams(host="127.0.0.1", port=sim.ports[FLAT_ID]), timeout=2
        )
        try:
            await flat.async_discover()
            unit = connection.for_unit(flat.unit_ids.battery)
            model = flat.models["battery"].first(models.MODEL_DER_CONTROLS)
            assert model is not None
            controls = models.DerControlsModel(unit, model)
            scales = field_block.ScaleCache()
            with pytest.raises(ValueError, match="adjacent"):
                await field_block.write_fields(
                    controls,
                    [("setpoint_w", 100), ("setpoint_enabled_revert", 0)],
                    scales,
                )
            with pytest.raises(AttributeError, match="read-only"):
                await field_block.write_fields(
                    controls, [("setpoint_revert_remaining_s", 3)], scales
                )
            with pytest.raises(AttributeError, match="not a register field"):
                await field_block.write_fields(controls, [("no_such_field", 3)], scales)
            with pytest.raises(ValueError, match="nothing"):
                await field_block.write_fields(controls, [], scales)
            # Nothing of the refused writes reached the battery.
            assert sim.flat_state(FLAT_ID).setpoint.setpoint_w == 0
        finally:
            await connection.close()
            await flat.async_close()
