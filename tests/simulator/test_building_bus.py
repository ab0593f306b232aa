"""The building bus: model 64901, flows only in an outage, energy that balances."""

from __future__ import annotations

import math

import pytest

from simulator.simulator import Simulator
from tests.simulator.building_probe import (
    AVAIL,
    BUS_MODEL,
    RVRT_REM,
    RVRT_TMS,
    ST,
    TOT_WH_EXP,
    TOT_WH_IMP,
    WSET,
    W,
    building_config,
    bus_address,
    bus_of,
    running_building,
)
from tests.simulator.sim_probe import BATTERY, ModbusError, Probe, decode

LOSS = 0.03


async def _bus(probe: Probe) -> list[int]:
    start = await bus_address(probe, 0)
    return await probe.read(BATTERY, start, 20)


async def _set(probe: Probe, offset: int, words: list[int]) -> None:
    await probe.write(BATTERY, await bus_address(probe, offset), words)


def _int16(value: int) -> int:
    return value & 0xFFFF


def _by_soc(sim: Simulator) -> list[str]:
    """Flat numbers from the fullest battery to the emptiest."""
    flats = sim.state.flats
    return [f.flat for f in sorted(flats, key=lambda f: -f.battery.soc_pct)]


async def test_the_battery_chain_ends_with_the_bus_model() -> None:
    config = building_config(flats=2, bus_wired_share=0.5)
    async with running_building(config) as (sim, probes, _):
        for flat_id, probe in probes.items():
            models = await probe.models(BATTERY)
            assert list(models) == [1, 701, 713, 802, 704, 64900, BUS_MODEL]
            assert models[BUS_MODEL][1] == 18
            words = await _bus(probe)
            wired = sim.model.flats[flat_id].bus_wired
            assert words[AVAIL] == int(wired)
            assert words[ST] == (1 if wired else 0)  # standby: the grid is up
            assert words[18:20] == [0, 0]  # W_SF, TotWh_SF
        assert sorted(sim.model.flats[f].bus_wired for f in probes) == [False, True]


async def test_the_bus_stays_open_while_the_grid_is_up() -> None:
    config = building_config(flats=2, bus_wired_share=1.0)
    async with running_building(config) as (sim, probes, _):
        rich, poor = _by_soc(sim)
        await _set(probes[rich], WSET, [500])
        await _set(probes[poor], WSET, [_int16(-300)])
        sim.advance(120)
        for probe in probes.values():
            words = await _bus(probe)
            assert words[ST] == 1
            assert words[W] == 0
            assert words[TOT_WH_EXP : TOT_WH_IMP + 4] == [0] * 8
        assert decode((await _bus(probes[poor]))[WSET : WSET + 1], "i16") == -300
        assert sim.state.bus.exported_wh == 0


async def test_bus_energy_balances_in_an_outage() -> None:
    config = building_config(
        flats=4, bus_wired_share=1.0, soc_bands=((1.0, 80.0, 90.0),)
    )
    async with running_building(config) as (sim, probes, _):
        first, second, third, fourth = probes
        sim.set_outage(True)
        # Two give, two take: 700 + 500 W offered, 400 + 300 W wanted.
        await _set(probes[first], WSET, [700])
        await _set(probes[second], WSET, [500])
        await _set(probes[third], WSET, [_int16(-400)])
        await _set(probes[fourth], WSET, [_int16(-300)])
        sim.advance(1)
        state = sim.state
        bus = {flat.flat: bus_of(flat) for flat in state.flats}
        assert all(b.status == 2 for b in bus.values())
        assert bus[third].w == pytest.approx(-400)
        assert bus[fourth].w == pytest.approx(-300)
        exported = 700 / (1 - LOSS)
        # Exporters share pro rata to what they offered.
        assert bus[first].w == pytest.approx(exported * 700 / 1200)
        assert state.bus.loss_w == pytest.approx(exported * LOSS)

        sim.advance(1800)
        state = sim.state
        exported_wh = math.fsum(bus_of(f).exported_wh for f in state.flats)
        imported_wh = math.fsum(bus_of(f).imported_wh for f in state.flats)
        assert imported_wh == pytest.approx(exported_wh * (1 - LOSS), rel=1e-9)
        assert state.bus.exported_wh == pytest.approx(exported_wh, rel=1e-9)
        assert state.bus.loss_wh == pytest.approx(exported_wh * LOSS, rel=1e-9)
        assert imported_wh == pytest.approx(700 * 1801 / 3600, rel=1e-6)
        # The registers say the same in whole Wh.
        registers = {f: await _bus(p) for f, p in probes.items()}
        reg_exp = sum(
            decode(w[TOT_WH_EXP : TOT_WH_EXP + 4], "u64") for w in registers.values()
        )
        reg_imp = sum(
            decode(w[TOT_WH_IMP : TOT_WH_IMP + 4], "u64") for w in registers.values()
        )
        assert reg_exp == pytest.approx(exported_wh, abs=4)
        assert reg_imp == pytest.approx(imported_wh, abs=4)
        # Imported power fed the living rooms, the rest charged the batteries.
        for flat_id in (third, fourth):
            flat = state.flat(flat_id)
            assert flat.battery.w < 0 or flat.living_room.w > 0


async def test_the_bus_serves_only_flats_it_is_wired_to() -> None:
    config = building_config(flats=3, bus_wired_share=1.0)
    async with running_building(config) as (sim, probes, _):
        giver, taker, cut_off = probes
        sim.set_bus_available(False, flat_id=cut_off)
        sim.set_outage(True)
        await _set(probes[giver], WSET, [600])
        await _set(probes[taker], WSET, [_int16(-200)])
        await _set(probes[cut_off], WSET, [_int16(-200)])
        sim.advance(10)
        words = await _bus(probes[cut_off])
        assert words[AVAIL] == 0
        assert words[ST] == 0
        assert words[W] == 0
        assert decode((await _bus(probes[taker]))[W : W + 1], "i16") == -200
        assert (await _bus(probes[giver]))[W] == round(200 / (1 - LOSS))
        # Wired again, it takes its share.
        sim.set_bus_available(True, flat_id=cut_off)
        sim.advance(1)
        assert decode((await _bus(probes[cut_off]))[W : W + 1], "i16") == -200


async def test_the_grid_coming_back_opens_the_bus() -> None:
    async with running_building(building_config(flats=2, bus_wired_share=1.0)) as (
        sim,
        probes,
        _,
    ):
        giver, taker = _by_soc(sim)
        sim.set_outage(True)
        await _set(probes[giver], WSET, [300])
        await _set(probes[taker], WSET, [_int16(-300)])
        sim.advance(5)
        assert sim.state.bus.imported_w > 0
        sim.set_outage(False)
        sim.advance(5)
        assert sim.state.bus.exported_w == 0
        assert all(bus_of(f).w == 0 for f in sim.state.flats)
        assert (await _bus(probes[giver]))[ST] == 1


async def test_a_silent_coordinator_cannot_leave_a_battery_draining() -> None:
    async with running_building(building_config(flats=2, bus_wired_share=1.0)) as (
        sim,
        probes,
        _,
    ):
        giver, taker = _by_soc(sim)
        sim.set_outage(True)
        await _set(probes[giver], RVRT_TMS, [0, 30])
        await _set(probes[giver], WSET, [400])
        await _set(probes[taker], WSET, [_int16(-400)])
        sim.advance(10)
        words = await _bus(probes[giver])
        assert decode(words[RVRT_REM : RVRT_REM + 2], "u32") == 20
        assert words[W] > 0
        sim.advance(20)
        words = await _bus(probes[giver])
        assert words[WSET] == 0
        assert words[W] == 0
        assert words[RVRT_REM : RVRT_REM + 2] == [0, 0]


async def test_exporters_keep_their_reserve_and_importers_stay_lit() -> None:
    # Everyone nearly empty except what the bus brings: the taker's living room
    # stays lit from the bus; the giver stops at its backup reserve (20 %).
    config = building_config(
        flats=2, bus_wired_share=1.0, soc_bands=((0.5, 21.0, 21.0), (0.5, 5.0, 5.0))
    )
    async with running_building(config) as (sim, probes, _):
        giver, taker = _by_soc(sim)
        sim.set_outage(True)
        sim.set_living_room(1, flat_id=taker)  # the giver's own room stays dark
        sim.advance(5)
        assert sim.state.flat(taker).living_room.powered is False  # empty battery
        await _set(probes[giver], WSET, [1000])
        await _set(probes[taker], WSET, [_int16(-1000)])
        sim.advance(5)
        taker_state = sim.state.flat(taker)
        assert taker_state.living_room.powered is True
        assert bus_of(taker_state).w < 0
        sim.advance(3600)
        state = sim.state
        assert state.flat(giver).battery.soc_pct == pytest.approx(20.0, abs=0.01)
        assert bus_of(state.flat(giver)).w == 0  # nothing more to give
        assert state.flat(taker).living_room.powered is False


async def test_bad_bus_setpoints_are_refused() -> None:
    async with running_building(building_config(flats=1)) as (_, probes, __):
        (probe,) = probes.values()
        with pytest.raises(ModbusError) as refused:
            await _set(probe, WSET, [20000])
        assert refused.value.code == 3
        with pytest.raises(ModbusError) as refused:
            await _set(probe, W, [1])
        assert refused.value.code == 2
