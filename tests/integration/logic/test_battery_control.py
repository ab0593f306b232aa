"""The precedence table, one test per row, and the one writer that follows it."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from custom_components.local_vpp.battery_control import (
    PRECEDENCE,
    RELEASED,
    Act,
    BatteryControl,
    Claims,
    Hold,
    Output,
    Party,
    Target,
    decide,
    may_command,
    outranked,
)
from custom_components.local_vpp.const import SETPOINT_REARM_BELOW_S, SETPOINT_REVERT_S
from custom_components.local_vpp.device import (
    BatteryReading,
    CannotConnectError,
    FlatReading,
)

BUS = Hold(-400, 5)
GROUP = Hold(700, 5)
RESIDENT = Hold(300, SETPOINT_REVERT_S)
EVERYONE = Claims(power_cut=True, bus=BUS, group=GROUP, resident=RESIDENT)


# -- the table, row by row ----------------------------------------------------------


def test_rows_are_power_cut_bus_group_resident() -> None:
    assert [row.party for row in PRECEDENCE] == [
        Party.POWER_CUT,
        Party.BUS,
        Party.GROUP,
        Party.RESIDENT,
    ]


def test_row_power_cut_releases_the_power_and_moves_the_living_room() -> None:
    # Above everyone for the power setpoint, whatever the others want.
    assert decide(EVERYONE, Output.POWER) == Target(Party.POWER_CUT, None)
    assert decide(Claims(power_cut=True), Output.POWER) == Target(Party.POWER_CUT, None)
    # It leaves the bus to the bus.
    assert decide(EVERYONE, Output.BUS) == Target(Party.BUS, BUS)
    assert decide(Claims(power_cut=True), Output.BUS) == RELEASED
    assert EVERYONE.hold_of(Party.POWER_CUT) is None
    assert may_command(Party.POWER_CUT, Output.CHANGEOVER)
    assert not may_command(Party.POWER_CUT, Output.RESERVE)


def test_row_bus_holds_the_bus_and_nothing_else() -> None:
    assert decide(Claims(bus=BUS), Output.BUS) == Target(Party.BUS, BUS)
    assert decide(replace(EVERYONE, power_cut=False), Output.BUS) == Target(
        Party.BUS, BUS
    )
    # The bus never holds the power setpoint: the group below it still does.
    assert decide(Claims(bus=BUS), Output.POWER) == RELEASED
    assert decide(Claims(bus=BUS, group=GROUP), Output.POWER) == Target(
        Party.GROUP, GROUP
    )
    assert not may_command(Party.BUS, Output.CHANGEOVER)
    assert not may_command(Party.BUS, Output.RESERVE)


def test_row_group_holds_the_power_over_the_resident() -> None:
    claims = Claims(group=GROUP, resident=RESIDENT)
    assert decide(claims, Output.POWER) == Target(Party.GROUP, GROUP)
    assert outranked(claims, Party.RESIDENT)
    assert not outranked(claims, Party.GROUP)
    # ... and below the power cut.
    assert outranked(replace(claims, power_cut=True), Party.GROUP)
    assert decide(claims, Output.BUS) == RELEASED
    assert not may_command(Party.GROUP, Output.CHANGEOVER)
    assert not may_command(Party.GROUP, Output.RESERVE)


def test_row_resident_holds_the_power_when_alone_and_commands() -> None:
    assert decide(Claims(resident=RESIDENT), Output.POWER) == Target(
        Party.RESIDENT, RESIDENT
    )
    assert decide(Claims(resident=RESIDENT), Output.BUS) == RELEASED
    assert may_command(Party.RESIDENT, Output.CHANGEOVER)
    assert may_command(Party.RESIDENT, Output.RESERVE)


def test_nobody_leaves_everything_released() -> None:
    assert decide(Claims(), Output.POWER) == RELEASED
    assert decide(Claims(), Output.BUS) == RELEASED
    assert not outranked(Claims(), Party.RESIDENT)


def test_commands_are_not_held() -> None:
    assert all(row.act(Output.RESERVE) in (Act.PASS, Act.COMMAND) for row in PRECEDENCE)
    with pytest.raises(ValueError, match="command"):
        decide(Claims(resident=RESIDENT), Output.RESERVE)


# -- the writer -----------------------------------------------------------------------


class FakeDevice:
    """Records every write; ``fail`` makes the next write raise."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, tuple[float, ...]]] = []
        self.fail = False

    def _write(self, name: str, *args: float) -> None:
        if self.fail:
            self.fail = False
            raise CannotConnectError("gone")
        self.writes.append((name, args))

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        self._write("power", power_w, revert_s)

    async def async_clear_power_setpoint(self) -> None:
        self._write("power_clear")

    async def async_set_bus_setpoint(self, power_w: float, revert_s: int) -> None:
        self._write("bus", power_w, revert_s)

    async def async_clear_bus_setpoint(self) -> None:
        self._write("bus_clear")

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        self._write("room", on_battery)

    async def async_set_reserve_soc(self, pct: float) -> None:
        self._write("reserve", pct)


def _reading(*, enabled: bool | None, remaining_s: int | None) -> FlatReading:
    unknown = BatteryReading(*[None] * len(fields(BatteryReading)))
    battery = replace(
        unknown, setpoint_enabled=enabled, setpoint_revert_remaining_s=remaining_s
    )
    return FlatReading(pv=None, battery=battery, meter=None, living_room=None)


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice()


@pytest.fixture
def control(device: FakeDevice) -> BatteryControl:
    return BatteryControl(device)


async def test_resident_setpoint_is_written_and_zero_lets_go(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_set_resident_setpoint(400)
    await control.async_set_resident_setpoint(0)
    assert device.writes == [("power", (400, SETPOINT_REVERT_S)), ("power_clear", ())]
    assert control.claims == Claims()


async def test_resident_waits_for_the_group_and_comes_back(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_set_resident_setpoint(-400)
    await control.async_hold_group(-600, 5)
    await control.async_set_resident_setpoint(-300)
    await control.async_release_group()
    assert device.writes == [
        ("power", (-400, SETPOINT_REVERT_S)),
        ("power", (-600, 5)),
        ("power", (-300, SETPOINT_REVERT_S)),
    ]


async def test_keep_alive_re_arms_only_the_resident_and_only_when_due(
    control: BatteryControl, device: FakeDevice
) -> None:
    due = _reading(enabled=True, remaining_s=SETPOINT_REARM_BELOW_S - 1)
    fresh = _reading(enabled=True, remaining_s=SETPOINT_REARM_BELOW_S)
    await control.async_keep_alive(due)
    assert device.writes == []
    await control.async_set_resident_setpoint(250)
    await control.async_keep_alive(fresh)
    await control.async_keep_alive(due)
    await control.async_keep_alive(_reading(enabled=False, remaining_s=None))
    assert device.writes == [("power", (250, SETPOINT_REVERT_S))] * 3
    await control.async_hold_group(500, 5)
    await control.async_keep_alive(due)
    assert device.writes[-1] == ("power", (500, 5))
    await control.async_keep_alive(
        FlatReading(pv=None, battery=None, meter=None, living_room=None)
    )
    assert len(device.writes) == 4


async def test_a_failed_keep_alive_waits_for_the_next_poll(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_set_resident_setpoint(250)
    device.fail = True
    await control.async_keep_alive(_reading(enabled=False, remaining_s=None))
    assert control.claims.resident == Hold(250, SETPOINT_REVERT_S)


async def test_power_cut_moves_the_room_drops_setpoints_and_blocks_the_group(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_set_resident_setpoint(300)
    await control.async_hold_group(700, 5)
    await control.async_hold_bus(-400, 5)
    device.writes.clear()

    await control.async_start_power_cut(room_on_battery=False)
    assert control.power_cut
    assert device.writes == [("room", (True,)), ("power_clear", ())]
    assert control.claims == Claims(power_cut=True, bus=Hold(-400, 5))
    # The group asks again: nothing is claimed, nothing written.
    await control.async_hold_group(900, 5)
    assert control.claims.group is None
    # The resident's wish waits for the end of the power cut.
    await control.async_set_resident_setpoint(200)
    # The bus goes on.
    await control.async_hold_bus(-300, 5)
    assert device.writes[2:] == [("bus", (-300, 5))]

    await control.async_move_living_room(Party.POWER_CUT, False)
    await control.async_end_power_cut()
    assert not control.power_cut
    assert device.writes[3:] == [
        ("room", (False,)),
        ("power", (200, SETPOINT_REVERT_S)),
    ]


async def test_power_cut_with_the_room_already_on_battery_and_nobody_waiting(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_start_power_cut(room_on_battery=True)
    await control.async_end_power_cut()
    assert device.writes == [("power_clear", ())]


async def test_a_power_cut_that_cannot_write_has_no_claim(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_hold_group(700, 5)
    device.fail = True
    with pytest.raises(CannotConnectError):
        await control.async_start_power_cut(room_on_battery=True)
    assert not control.power_cut
    # The setpoints were dropped all the same, as before the write.
    assert control.claims == Claims()


async def test_restored_power_cut_writes_nothing(
    control: BatteryControl, device: FakeDevice
) -> None:
    control.restore_power_cut(True)
    assert control.power_cut
    assert control.outranked(Party.RESIDENT)
    assert device.writes == []


async def test_bus_hold_and_release(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_hold_bus(500, 7)
    await control.async_release_bus()
    assert device.writes == [("bus", (500, 7)), ("bus_clear", ())]


async def test_commands_need_a_row_that_gives_them(
    control: BatteryControl, device: FakeDevice
) -> None:
    await control.async_set_reserve(35)
    await control.async_move_living_room(Party.RESIDENT, True)
    with pytest.raises(ValueError, match="may not"):
        await control.async_move_living_room(Party.BUS, True)
    assert device.writes == [("reserve", (35,)), ("room", (True,))]
