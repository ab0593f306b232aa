"""Model 123 (immediate controls) on a 1xx flat's PV inverter, over real Modbus TCP.

The simulator serves it after model 103 and drives its PV output with it: ``Conn``
0 disconnects the inverter, ``WMaxLimPct`` with ``WMaxLim_Ena`` caps its output,
and each revert timer undoes its write. The integration reads it (connection,
limit, enable, revert times), counts it as a capability, shows an unimplemented
point as unknown, and reads a flat without it exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from custom_components.local_vpp.device import UnitIds
from custom_components.local_vpp.device.sunspec1xx.flat import Sunspec1xxFlatDevice
from simulator.modbus.units_1xx import FlatUnit1xx
from simulator.model.config import UnitRole
from simulator.simulator import Simulator
from tests.simulator.sim_probe import PV, Probe, manual_config, running

CONTROLS = 123
# Offsets from the model's id register (SunSpec model 123).
CONN_RVRT_TMS, CONN, WMAX_LIM_PCT, WMAX_LIM_PCT_RVRT_TMS, WMAX_LIM_ENA = 3, 4, 5, 7, 9
WMAX_LIM_PCT_SF = 23

type Running = tuple[Simulator, Probe, Sunspec1xxFlatDevice]


async def _running(**config: object) -> AsyncIterator[Running]:
    async with running(manual_config(sunspec="1xx", **config)) as (sim, probe):
        device = Sunspec1xxFlatDevice.tcp("127.0.0.1", sim.port, UnitIds(), timeout=2)
        try:
            yield sim, probe, device
        finally:
            await device.async_close()


@pytest.fixture
async def with_123() -> AsyncIterator[Running]:
    async for parts in _running():
        yield parts


@pytest.fixture
async def without_123() -> AsyncIterator[Running]:
    async for parts in _running(sunspec_controls=False):
        yield parts


async def _write(probe: Probe, offset: int, value: int) -> None:
    start, _ = (await probe.models(PV))[CONTROLS]
    await probe.write(PV, start + offset, [value])


async def test_the_pv_inverter_serves_123_after_103(with_123: Running) -> None:
    _, probe, _ = with_123
    models = await probe.models(PV)
    assert list(models) == [1, 103, 123]
    assert models[CONTROLS][1] == 24
    assert await probe.point(PV, CONTROLS, CONN, "u16") == 1
    assert await probe.point(PV, CONTROLS, WMAX_LIM_ENA, "u16") == 0
    assert await probe.point(PV, CONTROLS, WMAX_LIM_PCT, "u16") == 1000
    assert await probe.point(PV, CONTROLS, WMAX_LIM_PCT_SF, "i16") == -1


async def test_the_output_limit_caps_pv_until_its_timer_reverts(
    with_123: Running,
) -> None:
    sim, probe, _ = with_123
    sim.advance(1)
    free_w = sim.flat_state().pv.w
    rated_w = sim.model.flats["101"].config.pv_peak_w
    assert free_w > 0.3 * rated_w  # a summer noon
    await _write(probe, WMAX_LIM_PCT, 300)  # 30.0 %
    await _write(probe, WMAX_LIM_PCT_RVRT_TMS, 60)
    await _write(probe, WMAX_LIM_ENA, 1)
    sim.advance(1)
    assert sim.flat_state().pv.w == pytest.approx(0.3 * rated_w)
    sim.advance(60)
    assert await probe.point(PV, CONTROLS, WMAX_LIM_ENA, "u16") == 0
    assert sim.flat_state().pv.w > 0.3 * rated_w


async def test_a_disconnect_stops_pv_until_its_timer_reverts(
    with_123: Running,
) -> None:
    sim, probe, _ = with_123
    await _write(probe, CONN_RVRT_TMS, 30)
    await _write(probe, CONN, 0)
    sim.advance(1)
    assert sim.flat_state().pv.w == 0
    sim.advance(30)
    assert await probe.point(PV, CONTROLS, CONN, "u16") == 1
    assert sim.flat_state().pv.w > 0


async def test_the_integration_reads_123_and_counts_it(with_123: Running) -> None:
    sim, probe, device = with_123
    await device.async_discover()
    assert device.capabilities.immediate_controls is True
    reading = await device.async_poll()
    controls = reading.pv_controls
    assert controls is not None
    assert controls.connected is True
    assert controls.limit_enabled is False
    assert controls.output_limit_pct == 100.0
    assert reading.pv is not None
    assert reading.pv.connected is True

    await _write(probe, WMAX_LIM_PCT, 455)
    await _write(probe, WMAX_LIM_PCT_RVRT_TMS, 120)
    await _write(probe, WMAX_LIM_ENA, 1)
    await _write(probe, CONN_RVRT_TMS, 90)
    await _write(probe, CONN, 0)
    sim.advance(1)
    reading = await device.async_poll()
    controls = reading.pv_controls
    assert controls is not None
    assert controls.limit_enabled is True
    assert controls.limit_pct == pytest.approx(45.5)
    assert controls.output_limit_pct == pytest.approx(45.5)
    assert (controls.limit_revert_s, controls.connect_revert_s) == (120, 90)
    assert controls.connected is False
    assert reading.pv is not None
    assert reading.pv.connected is False
    assert reading.pv.power_w == 0


async def test_an_unimplemented_point_is_unknown_never_0(with_123: Running) -> None:
    sim, _, device = with_123
    unit = sim.units[sim.flat_state().flat][UnitRole.PV]
    assert isinstance(unit, FlatUnit1xx)
    unit.leave_unimplemented("Conn", "WMaxLim_Ena")
    reading = await device.async_poll()
    controls = reading.pv_controls
    assert controls is not None
    assert controls.connected is None
    assert controls.limit_enabled is None
    assert controls.output_limit_pct is None
    assert reading.pv is not None
    assert reading.pv.connected is None
    assert reading.pv.power_w is not None  # model 103 reads on


async def test_a_pv_inverter_that_does_not_answer_leaves_123_unknown(
    with_123: Running,
) -> None:
    sim, _, device = with_123
    await device.async_discover()
    sim.set_fault("device_failure", True, "pv")
    reading = await device.async_poll()
    assert reading.pv is None
    controls = reading.pv_controls
    assert controls is not None
    assert controls.connected is None
    assert controls.output_limit_pct is None


async def test_a_flat_without_123_reads_as_before(without_123: Running) -> None:
    sim, probe, device = without_123
    assert list(await probe.models(PV)) == [1, 103]
    await device.async_discover()
    assert device.capabilities.immediate_controls is False
    sim.advance(1)
    reading = await device.async_poll()
    assert reading.pv_controls is None
    assert reading.pv is not None
    assert reading.pv.connected is None
    assert device.last_poll_requests == 4  # PV, inverter, storage, meter
