"""The building shares one grid, and its meter adds up the flats and common areas."""

from __future__ import annotations

import math

import pytest

from tests.simulator.building_probe import METER_UNIT, building_config, running_building
from tests.simulator.sim_probe import METER, decode, text

# Model 701 offsets (docs/REGISTERS.md).
CONN_ST, W, LNV, HZ, TOT_WH_INJ, TOT_WH_ABS, W_SF = 5, 10, 16, 17, 19, 23, 116


async def test_building_meter_is_the_flats_plus_the_common_areas() -> None:
    async with running_building(building_config(flats=6)) as (sim, probes, meter):
        sim.advance(600)
        models = await meter.models(METER_UNIT)
        assert list(models) == [1, 701]
        common, _ = models[1]
        assert text(await meter.read(METER_UNIT, common + 50, 16)) == "LVPP-BLDG-MTR"
        start, length = models[701]
        words = await meter.read(METER_UNIT, start, 2 + length)
        assert decode(words[W_SF : W_SF + 1], "i16") == 1  # tens of watts
        building_w = decode(words[W : W + 1], "i16") * 10

        flats_w = 0
        for probe in probes.values():
            flat_start, _ = (await probe.models(METER))[701]
            flats_w += decode(await probe.read(METER, flat_start + W, 1), "i16")
        state = sim.state
        assert state.meter.common_w > 150  # the always-on base and more
        # Each flat's register rounds to 1 W, the building's to 10 W.
        assert building_w == pytest.approx(flats_w - state.meter.common_w, abs=5 + 6)
        assert state.meter.w == pytest.approx(
            math.fsum(flat.meter.w for flat in state.flats) - state.meter.common_w
        )
        assert state.meter.w < 0  # an evening: the building imports

        # Energy: what the building imported, net, is what the flats imported, net,
        # plus the common areas (counters show whole Wh, rounded down).
        absorbed = decode(words[TOT_WH_ABS : TOT_WH_ABS + 4], "u64")
        injected = decode(words[TOT_WH_INJ : TOT_WH_INJ + 4], "u64")
        flats_net_wh = sum(
            flat.meter.imported_wh - flat.meter.exported_wh for flat in state.flats
        )
        assert absorbed - injected == pytest.approx(
            flats_net_wh + state.meter.common_wh, abs=2
        )
        assert state.meter.common_wh > 25  # more than 150 W for ten minutes


async def test_an_outage_hits_every_flat_and_the_building_meter_at_once() -> None:
    async with running_building(building_config(flats=5)) as (sim, probes, meter):
        sim.advance(10)
        sim.set_outage(True)
        for probe in probes.values():
            for unit in (1, 2, 3):
                start, _ = (await probe.models(unit))[701]
                assert await probe.read(unit, start + CONN_ST, 1) == [0], unit
            meter_start, _ = (await probe.models(METER))[701]
            assert await probe.read(METER, meter_start + LNV, 1) == [0]
        start, _ = (await meter.models(METER_UNIT))[701]
        words = await meter.read(METER_UNIT, start, 30)
        assert words[CONN_ST] == 0
        assert words[W] == 0
        assert words[LNV] == 0
        assert sim.state.meter.common_w == 0  # the common areas are dark too
        assert all(not flat.grid.up for flat in sim.state.flats)

        sim.set_outage(False)
        sim.advance(1)
        for probe in probes.values():
            meter_start, _ = (await probe.models(METER))[701]
            assert await probe.read(METER, meter_start + CONN_ST, 1) == [1]
        assert (await meter.read(METER_UNIT, start + CONN_ST, 1)) == [1]


async def test_a_sag_shows_at_every_flat_and_the_building_meter() -> None:
    async with running_building(building_config(flats=3)) as (sim, probes, meter):
        sim.inject_sag(0.5, 1.0)
        readings = set()
        for probe in [*probes.values()]:
            start, _ = (await probe.models(METER))[701]
            readings.add(tuple(await probe.read(METER, start + LNV, 1)))
        start, _ = (await meter.models(METER_UNIT))[701]
        readings.add(tuple(await meter.read(METER_UNIT, start + LNV, 1)))
        assert readings == {(500,)}  # 50.0 V everywhere, the same grid
        sim.advance(1.5)
        voltages = {flat.grid.voltage_v for flat in sim.state.flats}
        assert len(voltages) == 1
        assert 95 < voltages.pop() < 105
        frequency = decode(await meter.read(METER_UNIT, start + HZ, 2), "u32")
        assert 59_900 < frequency < 60_100


async def test_the_building_meter_refuses_writes() -> None:
    async with running_building(building_config(flats=1)) as (_, __, meter):
        start, _ = (await meter.models(METER_UNIT))[701]
        with pytest.raises(Exception, match="exception 2"):
            await meter.write(METER_UNIT, start + W, [5])
