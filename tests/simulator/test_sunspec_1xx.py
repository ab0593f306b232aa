"""A flat of SunSpec 1xx devices: the simulator's variant and the integration's family.

Inverter 103, storage 124 and meter 203 over real Modbus TCP on 127.0.0.1: the
readings match the physics with the integration's signs, model 124's rates drive
the battery and its revert timer ends the hold, and the 7xx family names exactly
which models are missing. A float meter (211–214) serves the same quantities as
float32 registers, and the integration reads it as it reads 203: a point the meter
leaves unimplemented (NaN) is unknown, never 0.
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator

import pytest

from custom_components.local_vpp.device import FlatDevice, MissingModelsError, UnitIds
from custom_components.local_vpp.device.sunspec1xx.flat import Sunspec1xxFlatDevice
from simulator.modbus.units_1xx import FlatUnit1xx
from simulator.model.config import BuildingConfig, FlatConfig, UnitRole
from simulator.simulator import Simulator
from tests.simulator.building_probe import EVENING
from tests.simulator.sim_probe import METER, running

FLOAT_METERS = (211, 212, 213, 214)
NAN_WORDS = [0x7FC0, 0x0000]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = FlatConfig(port=0, manual_clock=True, start=EVENING, sunspec="1xx")
    async with Simulator(BuildingConfig.of_flat(config)) as simulator:
        yield simulator


@pytest.fixture
async def device(sim: Simulator) -> AsyncIterator[Sunspec1xxFlatDevice]:
    flat = Sunspec1xxFlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
    try:
        yield flat
    finally:
        await flat.async_close()


async def test_the_7xx_family_names_what_a_1xx_flat_lacks(sim: Simulator) -> None:
    flat = FlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
    try:
        with pytest.raises(MissingModelsError) as raised:
            await flat.async_discover()
    finally:
        await flat.async_close()
    assert raised.value.missing["battery"] == [701, 713, 802, 704, 64900]


async def test_readings_match_the_physics(
    sim: Simulator, device: Sunspec1xxFlatDevice
) -> None:
    identities = await device.async_discover()
    assert device.serial == "LVPP-101-BAT"
    assert identities["meter"].serial == "LVPP-101-MTR"
    sim.advance(600)
    reading = await device.async_poll()
    state = sim.flat_state()
    assert reading.battery is not None
    assert reading.battery.power_w == pytest.approx(state.battery.w, abs=1)
    assert reading.battery.soc_pct == pytest.approx(state.battery.soc_pct, abs=0.1)
    assert reading.battery.discharged_wh == state.battery.tot_wh_inj
    assert reading.battery.soh_pct is None  # 124 does not say: unknown, not 0
    assert reading.meter is not None
    assert reading.meter.power_w == pytest.approx(state.meter.w, abs=1)
    assert reading.meter.imported_wh == state.meter.tot_wh_abs
    assert reading.meter.voltage_v == pytest.approx(state.grid.voltage_v, abs=0.1)
    assert reading.meter.frequency_hz == pytest.approx(
        state.grid.frequency_hz, abs=0.01
    )
    assert reading.living_room is None
    assert device.capabilities.switch_living_room is False


async def test_model_124_drives_the_battery_and_its_timer_reverts(
    sim: Simulator, device: Sunspec1xxFlatDevice
) -> None:
    await device.async_discover()
    await device.async_set_power_setpoint(600, 10)
    setpoint = sim.flat_state().setpoint
    assert (setpoint.enabled, setpoint.setpoint_w, setpoint.revert_s) == (True, 600, 10)
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is True
    assert reading.battery.setpoint_w == 600
    await device.async_set_power_setpoint(-300, 10)
    assert sim.flat_state().setpoint.setpoint_w == -300
    sim.advance(11)
    assert not sim.flat_state().setpoint.enabled
    reading = await device.async_poll()
    assert reading.battery is not None
    assert reading.battery.setpoint_enabled is False
    await device.async_set_power_setpoint(500, 30)
    await device.async_clear_power_setpoint()
    assert not sim.flat_state().setpoint.enabled
    await device.async_set_reserve_soc(35)
    assert sim.flat_state().battery.reserve_pct == 35


def _float(words: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", *words))[0]
    return value


def _meter_unit(sim: Simulator) -> FlatUnit1xx:
    unit = sim.units[sim.flat_state().flat][UnitRole.METER]
    assert isinstance(unit, FlatUnit1xx)
    return unit


@pytest.mark.parametrize("model_id", FLOAT_METERS)
async def test_a_float_meter_serves_float32_points(model_id: int) -> None:
    config = FlatConfig(
        port=0, manual_clock=True, start=EVENING, sunspec="1xx", sunspec_meter=model_id
    )
    async with running(config) as (sim, probe):
        sim.advance(600)
        models = await probe.models(METER)
        assert set(models) == {1, model_id}
        start, length = models[model_id]
        assert length == 124
        words = await probe.read(METER, start, 2 + length)
        state = sim.flat_state()

        def point(offset: int) -> float:
            return _float(words[offset : offset + 2])

        assert point(12) == pytest.approx(state.grid.voltage_v, rel=1e-6)  # PhVphA
        assert point(26) == pytest.approx(state.grid.frequency_hz, rel=1e-6)  # Hz
        assert point(28) == pytest.approx(-state.meter.w, abs=0.01)  # W, + import
        assert point(60) == state.meter.tot_wh_inj  # TotWhExp
        assert point(68) == state.meter.tot_wh_abs  # TotWhImp
        assert state.meter.tot_wh_abs > 0
        assert words[4:6] == NAN_WORDS  # AphA: not served, so not implemented
        assert words[124:126] == [0xFFFF, 0xFFFF]  # Evt bitfield32: not implemented

        _meter_unit(sim).leave_unimplemented("W", "TotWhImp")
        words = await probe.read(METER, start, 2 + length)
        assert words[28:30] == NAN_WORDS
        assert words[68:70] == NAN_WORDS
        assert point(60) == sim.flat_state().meter.tot_wh_inj


def test_only_a_1xx_flat_chooses_its_meter_model() -> None:
    with pytest.raises(ValueError, match="only a 1xx flat"):
        FlatConfig(sunspec_meter=213)
    with pytest.raises(ValueError, match="203 or one of 211"):
        FlatConfig(sunspec="1xx", sunspec_meter=210)


@pytest.mark.parametrize("model_id", FLOAT_METERS)
async def test_the_integration_reads_a_float_meter_like_203(model_id: int) -> None:
    config = FlatConfig(
        port=0, manual_clock=True, start=EVENING, sunspec="1xx", sunspec_meter=model_id
    )
    async with Simulator(BuildingConfig.of_flat(config)) as sim:
        device = Sunspec1xxFlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
        try:
            await device.async_discover()
            assert model_id in device.models["meter"]
            sim.advance(600)
            reading = await device.async_poll()
            state = sim.flat_state()
            assert reading.meter is not None
            assert reading.meter.power_w == pytest.approx(state.meter.w, abs=0.01)
            assert reading.meter.imported_wh == state.meter.tot_wh_abs
            assert reading.meter.exported_wh == state.meter.tot_wh_inj
            assert reading.meter.voltage_v == pytest.approx(
                state.grid.voltage_v, rel=1e-6
            )
            assert reading.meter.frequency_hz == pytest.approx(
                state.grid.frequency_hz, rel=1e-6
            )
            assert reading.battery is not None  # the rest of the flat as before

            _meter_unit(sim).leave_unimplemented("W", "TotWhImp", "PhVphA")
            reading = await device.async_poll()
            assert reading.meter is not None
            assert reading.meter.power_w is None
            assert reading.meter.import_power_w is None
            assert reading.meter.imported_wh is None
            assert reading.meter.voltage_v is None
            assert reading.meter.exported_wh == sim.flat_state().meter.tot_wh_inj
        finally:
            await device.async_close()


async def test_a_float_meter_reading_infinity_is_unknown() -> None:
    """A float point can hold ±infinity; no meter measures that, so it is unknown."""
    config = FlatConfig(
        port=0, manual_clock=True, start=EVENING, sunspec="1xx", sunspec_meter=213
    )
    async with Simulator(BuildingConfig.of_flat(config)) as sim:
        device = Sunspec1xxFlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
        try:
            unit = _meter_unit(sim)
            unit.serve_fixed("W", math.inf)
            unit.serve_fixed("TotWhImp", math.inf)
            unit.serve_fixed("Hz", -math.inf)
            reading = await device.async_poll()
            assert reading.meter is not None
            assert reading.meter.power_w is None
            assert reading.meter.imported_wh is None
            assert reading.meter.frequency_hz is None
            assert reading.meter.exported_wh == sim.flat_state().meter.tot_wh_inj
        finally:
            await device.async_close()
