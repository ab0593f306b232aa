"""The bus changeover controller of ECHONET Lite and 1xx flats, over Modbus TCP."""

from __future__ import annotations

import pytest

from simulator.control_api import building_json
from tests.simulator.building_probe import (
    AVAIL,
    BUS_MODEL,
    ST,
    WSET,
    W,
    building_config,
    bus_of,
    connect,
    running_building,
)
from tests.simulator.sim_probe import BATTERY, ModbusError, decode, text

UNIT = 1
LOSS = 0.03
DEVICE_FAILURE = 4


def _int16(value: int) -> int:
    return value & 0xFFFF


async def test_echonet_and_1xx_flats_reach_the_bus_through_a_controller() -> None:
    config = building_config(
        flats=4,
        bus_wired_share=1.0,
        echonet_flats=(1,),
        sunspec_1xx_flats=(2,),
        soc_bands=((1.0, 80.0, 90.0),),
    )
    async with running_building(config) as (sim, probes, _):
        echonet, older, newer, _other = probes
        # Only the flats whose devices have no bus model get a controller.
        ports = sim.bus_controller_ports
        assert sorted(ports) == [echonet, older]
        assert all(port > 0 for port in ports.values())
        state = building_json(sim)
        by_flat = {flat["flat"]: flat for flat in state["flats"]}
        assert by_flat[echonet]["bus_controller"] == {
            "host": "127.0.0.1",
            "port": ports[echonet],
            "unit": UNIT,
        }
        assert "bus_controller" not in by_flat[newer]
        # A 1xx battery unit still serves no bus model of its own.
        assert BUS_MODEL not in await probes[older].models(BATTERY)

        controllers = {flat: await connect(port) for flat, port in ports.items()}
        try:
            for flat, probe in controllers.items():
                models = await probe.models(UNIT)
                assert list(models) == [1, BUS_MODEL]
                assert models[BUS_MODEL][1] == 18
                common, _ = models[1]
                serial = text(await probe.read(UNIT, common + 50, 16))
                assert serial == f"LVPP-{flat}-BUS"
            start, _ = (await controllers[older].models(UNIT))[BUS_MODEL]
            words = await controllers[older].read(UNIT, start, 20)
            assert words[AVAIL] == 1
            assert words[ST] == 1  # standby: the grid is up

            # In an outage the controllers' setpoints move the same physics bus.
            sim.set_outage(True)
            echonet_start, _ = (await controllers[echonet].models(UNIT))[BUS_MODEL]
            await controllers[echonet].write(UNIT, echonet_start + WSET, [600])
            await controllers[older].write(UNIT, start + WSET, [_int16(-400)])
            sim.advance(1)
            assert bus_of(sim.state.flat(echonet)).setpoint_w == 600
            assert bus_of(sim.state.flat(older)).w == pytest.approx(-400)
            assert bus_of(sim.state.flat(echonet)).w == pytest.approx(400 / (1 - LOSS))
            words = await controllers[older].read(UNIT, start, 20)
            assert words[ST] == 2
            assert decode(words[W : W + 1], "i16") == -400

            # Out of range is refused, as on the 7xx battery unit.
            with pytest.raises(ModbusError):
                await controllers[older].write(UNIT, start + WSET, [10_001])

            # A failed controller refuses reads; the flat's own devices still answer.
            sim.bus_controllers[older].failing = True
            with pytest.raises(ModbusError) as refused:
                await controllers[older].read(UNIT, start, 20)
            assert refused.value.code == DEVICE_FAILURE
            assert await probes[older].models(BATTERY)
            sim.bus_controllers[older].failing = False
            assert await controllers[older].read(UNIT, start, 20)
        finally:
            for probe in controllers.values():
                probe.client.close()


async def test_an_unwired_flat_has_no_controller() -> None:
    config = building_config(
        flats=2, bus_wired_share=0.0, echonet_flats=(1,), sunspec_1xx_flats=(2,)
    )
    async with running_building(config) as (sim, _, _):
        assert sim.bus_controller_ports == {}
