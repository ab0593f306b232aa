"""The SunSpec chains each unit serves, as docs/REGISTERS.md lays them out."""

from __future__ import annotations

import pytest

from simulator.model.config import UnitIds
from tests.simulator.sim_probe import (
    BASE,
    BATTERY,
    METER,
    PV,
    ModbusError,
    Probe,
    manual_config,
    running,
    text,
)

LENGTHS = {1: 66, 701: 153, 713: 7, 802: 62, 704: 65, 64900: 8}
CHAINS = {
    PV: [1, 701],
    BATTERY: [1, 701, 713, 802, 704, 64900],
    METER: [1, 701],
}


@pytest.mark.parametrize("unit", [PV, BATTERY, METER])
async def test_chain_walk_finds_the_models_in_order_with_their_lengths(
    probe: Probe, unit: int
) -> None:
    models = await probe.models(unit)
    assert list(models) == CHAINS[unit]
    assert {model: length for model, (_, length) in models.items()} == {
        model: LENGTHS[model] for model in CHAINS[unit]
    }
    # Models follow each other without gaps, starting right after the marker.
    address = BASE + 2
    for start, length in models.values():
        assert start == address
        address += 2 + length
    assert await probe.read(unit, address, 2) == [0xFFFF, 0x0000]


async def test_common_model_names_the_device_and_the_flat(probe: Probe) -> None:
    serials, names = {}, {}
    for unit in (PV, BATTERY, METER):
        start, _ = (await probe.models(unit))[1]
        common = await probe.read(unit, start, 68)
        assert text(common[2:18]) == "Local VPP"
        names[unit] = text(common[18:34])
        assert text(common[42:50]) == "0.1.0"
        serials[unit] = text(common[50:66])
        assert common[66] == unit  # DA: the unit's own address
    assert serials == {
        PV: "LVPP-101-PV",
        BATTERY: "LVPP-101-BAT",
        METER: "LVPP-101-MTR",
    }


async def test_unimplemented_points_read_as_sunspec_sentinels(probe: Probe) -> None:
    start, _ = (await probe.models(PV))[701]
    ac = await probe.read(PV, start, 155)
    assert ac[11] == 0x8000  # VA, int16
    assert ac[15] == 0xFFFF  # LLV, uint16
    assert ac[27:31] == [0xFFFF] * 4  # TotVarhInj, uint64
    assert ac[113] == 0x8000  # A_SF
    meter_start, _ = (await probe.models(METER))[701]
    assert (await probe.read(METER, meter_start + 4, 1)) == [
        0xFFFF
    ]  # a meter: no InvSt


async def test_whole_chain_reads_in_one_go_per_125_registers(probe: Probe) -> None:
    models = await probe.models(BATTERY)
    end = max(start + 2 + length for start, length in models.values()) + 2
    words = await probe.read(BATTERY, BASE, end - BASE)
    assert words[:2] == [0x5375, 0x6E53]
    assert words[-2:] == [0xFFFF, 0]


@pytest.mark.parametrize(
    ("address", "count"),
    [(BASE - 1, 2), (0, 1), (BASE + 226, 2), (BASE + 227, 1)],
    ids=["straddles-start", "far-below", "straddles-end", "past-end"],
)
async def test_reads_outside_the_chain_are_illegal_addresses(
    probe: Probe, address: int, count: int
) -> None:
    # The PV chain is 227 registers: marker 2, model 1 68, model 701 155, end 2.
    assert len(await probe.read(PV, BASE, 227)) == 227
    with pytest.raises(ModbusError) as refused:
        await probe.read(PV, address, count)
    assert refused.value.code == 2


async def test_an_unknown_unit_id_gets_an_exception(probe: Probe) -> None:
    with pytest.raises(ModbusError) as refused:
        await probe.read(9, BASE, 2)
    assert refused.value.code == 0x0B  # gateway: target device failed to respond


async def test_unit_ids_and_flat_number_are_configurable() -> None:
    config = manual_config(flat="305", unit_ids=UnitIds(pv=11, battery=12, meter=13))
    async with running(config) as (_, probe):
        start, _ = (await probe.models(12))[1]
        assert text(await probe.read(12, start + 50, 16)) == "LVPP-305-BAT"
        assert list(await probe.models(13)) == [1, 701]
        with pytest.raises(ModbusError):
            await probe.read(BATTERY, BASE, 2)
