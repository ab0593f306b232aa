"""The simulator's ECHONET Lite node: node profile, maps, Get/SetC, *_SNA, faults.

Spoken to with the simulator's own frame codec over real UDP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulator.echonet import frame as f
from simulator.echonet.objects import StorageBattery
from simulator.echonet_nodes import EchonetNodes
from simulator.simulator import Simulator
from tests.simulator.building_probe import building_config
from tests.simulator.echonet_probe import EchonetProbe

BATTERY = (0x02, 0x7D, 0x01)
SOLAR = (0x02, 0x79, 0x01)
METER = (0x02, 0x88, 0x01)
PANEL = (0x02, 0x87, 0x01)
NODE = (0x0E, 0xF0, 0x01)


type Running = tuple[Simulator, EchonetNodes, EchonetProbe]


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with (
        Simulator(building_config(flats=1)) as sim,
        EchonetNodes(sim) as nodes,
        EchonetProbe(nodes.port("101")) as probe,
    ):
        yield sim, nodes, probe


def _props(answer: f.Frame | None) -> dict[int, bytes]:
    assert answer is not None
    return dict(answer.props)


def _map(edt: bytes) -> set[int]:
    if edt[0] < 16:
        return set(edt[1:])
    return {
        0x80 + i + 0x10 * b for i in range(16) for b in range(8) if edt[1 + i] >> b & 1
    }


async def test_the_node_profile_lists_the_four_devices(running: Running) -> None:
    _, _, probe = running
    answer = await probe.ask(NODE, f.GET, [(0xD6, b"")])
    assert answer is not None
    assert answer.esv == f.GET_RES
    assert answer.seoj == NODE
    assert answer.deoj == (0x05, 0xFF, 0x01)
    edt = _props(answer)[0xD6]
    assert edt[0] == 4
    eojs = {tuple(edt[1 + 3 * i : 4 + 3 * i]) for i in range(4)}
    assert eojs == {BATTERY, SOLAR, METER, PANEL}


async def test_property_maps_list_what_each_object_serves(running: Running) -> None:
    _, _, probe = running
    maps = _props(await probe.ask(BATTERY, f.GET, [(0x9F, b""), (0x9E, b"")]))
    readable, writable = _map(maps[0x9F]), _map(maps[0x9E])
    assert {0xA0, 0xCF, 0xD3, 0xDA, 0xE2, 0xE4, 0xE5, 0xAA, 0xAB, 0xE0} <= readable
    assert writable == {0xAA, 0xAB, 0xDA, 0xE0, 0xEB, 0xEC}
    for eoj in (SOLAR, METER, PANEL):
        answer = await probe.ask(eoj, f.GET, [(0x9F, b"")])
        assert answer is not None
        assert answer.esv == f.GET_RES
        # Every property the map lists is really served.
        listed = sorted(_map(_props(answer)[0x9F]))
        values = await probe.ask(eoj, f.GET, [(epc, b"") for epc in listed[:8]])
        assert values is not None
        assert values.esv == f.GET_RES


async def test_readings_follow_the_physics_with_the_echonet_signs(
    running: Running,
) -> None:
    sim, _, probe = running
    sim.advance(60)
    state = sim.flat_state("101")
    got = _props(
        await probe.ask(BATTERY, f.GET, [(0xD3, b""), (0xE4, b""), (0xE5, b"")])
    )
    # + charging in ECHONET, + discharging in the simulator's state.
    assert int.from_bytes(got[0xD3], "big", signed=True) == -round(state.battery.w)
    assert got[0xE4][0] == round(state.battery.soc_pct)
    assert got[0xE5][0] == round(state.battery.soh_pct)
    meter = _props(await probe.ask(METER, f.GET, [(0xE7, b""), (0xE1, b"")]))
    assert int.from_bytes(meter[0xE7], "big", signed=True) == -round(state.meter.w)
    assert meter[0xE1] == b"\x02"  # 0.01 kWh per count


async def test_an_unserved_property_makes_the_answer_get_sna(running: Running) -> None:
    _, _, probe = running
    answer = await probe.ask(BATTERY, f.GET, [(0xE4, b""), (0xF9, b"")])
    assert answer is not None
    assert answer.esv == f.GET_SNA
    got = _props(answer)
    assert len(got[0xE4]) == 1
    assert got[0xF9] == b""


async def test_setc_takes_amount_then_mode_and_refuses_bad_values(
    running: Running,
) -> None:
    sim, nodes, probe = running
    amount = await probe.ask(
        BATTERY,
        f.SETC,
        [(0xEC, (500).to_bytes(4, "big")), (0xAB, (50).to_bytes(4, "big"))],
    )
    assert amount is not None
    assert amount.esv == f.SET_RES
    assert all(edt == b"" for _, edt in amount.props)
    mode = await probe.ask(BATTERY, f.SETC, [(0xDA, b"\x43")])
    assert mode is not None
    assert mode.esv == f.SET_RES
    setpoint = sim.flat_state("101").setpoint
    assert (setpoint.enabled, setpoint.setpoint_w) == (True, 500)
    # 50 Wh at 500 W lasts 360 s; then the battery is automatic again.
    assert setpoint.revert_s == 360
    sim.advance(361)
    assert sim.flat_state("101").setpoint.enabled is False
    assert _props(await probe.ask(BATTERY, f.GET, [(0xDA, b"")]))[0xDA] == b"\x46"

    refused = await probe.ask(BATTERY, f.SETC, [(0xDA, b"\x99")])
    assert refused is not None
    assert refused.esv == f.SETC_SNA
    assert _props(refused)[0xDA] == b"\x99"  # a refused value is echoed
    read_only = await probe.ask(BATTERY, f.SETC, [(0xE4, b"\x10")])
    assert read_only is not None
    assert read_only.esv == f.SETC_SNA
    battery = nodes.node().objects[BATTERY]
    assert isinstance(battery, StorageBattery)
    assert battery.mode_writes == 1


async def test_bad_frames_are_dropped_and_counted(running: Running) -> None:
    _, nodes, probe = running
    probe.send_raw(b"\x10\x81\x00\x01\x05\xff")
    probe.send_raw(b"\x10\x81\x00\x01\x05\xff\x01\x02\x7d\x01\x62\x02\xe4\x00")
    answer = await probe.ask(BATTERY, f.GET, [(0xE4, b"")])
    assert answer is not None
    assert answer.esv == f.GET_RES
    assert nodes.node().bad_frames == 2


async def test_fault_modes_silence_and_mismatched_answers(running: Running) -> None:
    _, nodes, probe = running
    node = nodes.node()
    node.wrong_tid = True
    answer = await probe.ask(BATTERY, f.GET, [(0xE4, b"")])
    assert answer is not None
    assert answer.tid == probe.tid + 1
    node.wrong_tid, node.wrong_eoj = False, True
    answer = await probe.ask(BATTERY, f.GET, [(0xE4, b"")])
    assert answer is not None
    assert answer.seoj != BATTERY
    node.wrong_eoj, node.silent = False, True
    assert await probe.ask(BATTERY, f.GET, [(0xE4, b"")], wait_s=0.3) is None


async def test_a_failing_device_answers_sna(running: Running) -> None:
    sim, _, probe = running
    sim.set_fault("device_failure", True, "meter")
    answer = await probe.ask(METER, f.GET, [(0xE7, b"")])
    assert answer is not None
    assert answer.esv == f.GET_SNA


@pytest.mark.parametrize("automatic", [True, False])
async def test_a_backup_output_that_switches_itself_carries_the_room(
    automatic: bool,
) -> None:
    config = building_config(flats=1, backup_output_auto=automatic)
    async with Simulator(config) as sim:
        sim.set_outage(True)
        sim.advance(1)
        room = sim.flat_state("101").living_room
        # Nobody wrote the source; only the automatic output carries the room.
        assert room.source == 0
        assert room.powered is automatic
        sim.set_outage(False)
        sim.advance(1)
        assert sim.flat_state("101").living_room.powered
