"""Outage support over the building bus: flats of a simulated building, real Modbus.

Each flat is a Home Assistant config entry with a scripted sidecar of its own; the
building simulator runs the bus, so what the tests check is what the bus physically
exchanged after Home Assistant wrote the sidecar's setpoints.

The bus is the project's vendor model 64901: on a SunSpec 7xx flat its battery unit
serves it; an ECHONET Lite or SunSpec 1xx flat reaches the bus through the project's
changeover controller, a Modbus device of its own named in the entry's options. The
tests that move power over the bus run with flat 101 of each family (``bus_family``)
beside 7xx flats. What a flat without a bus must do (no bus entities, no bus fields
to its sidecar, bus setpoints ignored, bus writes refused) is tested on a flat of
every family.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest
from homeassistant.const import (
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    mock_restore_cache_with_extra_data,
)

from custom_components.local_vpp.const import (
    DOMAIN,
    EVENT_BUS_SUPPORT_ENDED,
    EVENT_BUS_SUPPORT_STARTED,
)
from custom_components.local_vpp.device import DeviceRejectedError
from custom_components.local_vpp.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.local_vpp.ledger.sidecar_link import async_check_sidecar
from devkit.waiting import until
from simulator.model.config import BuildingConfig
from simulator.threaded import BuildingThread
from tests.integration.ha.bus_building import (
    BUS_KEYS,
    BusBuilding,
    bus_entity,
    bus_setpoint_w,
    bus_w,
    close_bus_building,
    flat_entry,
    grid_out,
    link_flats,
    measures_room,
    newest,
    number,
    run_bus_building,
    set_up_lone_and_bus_flat,
    state,
)
from tests.integration.ha.families import FAMILIES, SUNSPEC_7XX, FamilyFlat
from tests.integration.ha.scripted_sidecar import ScriptedSidecar, bus_setpoint_message
from tests.integration.ha.support import set_up_linked

LOSS = 0.03


@pytest.fixture(params=FAMILIES)
def bus_family(request: pytest.FixtureRequest) -> str:
    """The device family of flat 101, the flat under test on the bus."""
    family: str = request.param
    return family


@pytest.fixture
def building(
    request: pytest.FixtureRequest, socket_enabled: None
) -> Iterator[BuildingThread]:
    """Three flats on one grid, all wired to the bus, batteries well above reserve.

    Flat 101 is of ``bus_family`` where the test asks for it, else SunSpec 7xx.
    """
    family = (
        request.getfixturevalue("bus_family")
        if "bus_family" in request.fixturenames
        else SUNSPEC_7XX
    )
    config = BuildingConfig(
        flats=3,
        base_port=0,
        manual_clock=True,
        start=datetime(2026, 1, 15, 9, 0),
        soc_bands=((1.0, 60.0, 80.0),),
        bus_wired_share=1.0,
    )
    handle = run_bus_building(config, family)
    handle.advance(60)
    try:
        yield handle
    finally:
        close_bus_building(handle)


@pytest.fixture
async def sidecars(socket_enabled: None) -> AsyncIterator[dict[str, ScriptedSidecar]]:
    """A scripted sidecar for flats 101 and 102."""
    started: dict[str, ScriptedSidecar] = {}
    try:
        for flat in ("101", "102"):
            started[flat] = ScriptedSidecar()
            await started[flat].start()
        yield started
    finally:
        for sidecar in started.values():
            await sidecar.stop()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_bus_entities_only_on_bus_flats(
    hass: HomeAssistant, building: BuildingThread, family: FamilyFlat
) -> None:
    lone, on_bus = await set_up_lone_and_bus_flat(hass, building, family.new_entry())

    # The lone flat (same serial scheme, no model 64901) has none of them.
    assert not lone.runtime_data.device.has_bus
    assert lone.runtime_data.coordinator.data.bus is None
    assert on_bus.runtime_data.device.has_bus
    # Still five requests a poll: 64901 comes with the battery unit's pooled read.
    assert on_bus.runtime_data.device.last_poll_requests == 5
    assert lone.runtime_data.device.last_poll_requests == family.requests_per_poll
    registry = er.async_get(hass)
    lone_ids = {
        e.unique_id for e in er.async_entries_for_config_entry(registry, lone.entry_id)
    }
    assert not any("_bus_" in unique_id for unique_id in lone_ids)

    assert state(hass, "102", "bus_state") == "standby"
    assert number(hass, "102", "bus_power") == 0
    assert number(hass, "102", "bus_setpoint") == 0
    assert number(hass, "102", "bus_energy_exported") == 0
    assert number(hass, "102", "bus_energy_imported") == 0
    setpoint = registry.async_get(bus_entity(hass, "102", "bus_setpoint") or "")
    assert setpoint is not None
    assert setpoint.entity_category == "diagnostic"
    bus_state = hass.states.get(bus_entity(hass, "102", "bus_state") or "")
    assert bus_state is not None
    assert bus_state.attributes["options"] == ["off", "standby", "active"]

    # Cut off by the building's wiring: the bus is off for this flat.
    building.set_bus_available(False, flat_id="102")
    await on_bus.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state(hass, "102", "bus_state") == "off"

    # A battery unit that fails its read: totals unavailable, never 0.
    building.set_fault("device_failure", True, "battery", flat_id="102")
    await on_bus.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    for key in BUS_KEYS:
        assert state(hass, "102", key) == STATE_UNAVAILABLE, key
    building.set_fault("device_failure", False, "battery", flat_id="102")
    await on_bus.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert number(hass, "102", "bus_energy_exported") == 0


async def test_lone_flat_sends_no_bus_fields(
    hass: HomeAssistant, family: FamilyFlat, scripted_sidecar: ScriptedSidecar
) -> None:
    config_entry, flat = family.new_entry(), family.handle
    await set_up_linked(hass, config_entry, scripted_sidecar)
    await config_entry.runtime_data.coordinator.async_refresh()
    await until(lambda: bool(scripted_sidecar.of_type("availability")))
    await until(lambda: bool(scripted_sidecar.of_type("sample")))
    assert config_entry.runtime_data.bus is None
    sample = newest(scripted_sidecar, "sample")
    assert "bus_out_wh" not in sample
    assert "bus_in_wh" not in sample
    availability = newest(scripted_sidecar, "availability")
    assert "bus" not in availability
    assert availability["outage"] is False
    if family.measures_room:
        living_w = pytest.approx(flat.state.living_room.w, abs=50)
        assert availability["living_w"] == living_w
    else:
        assert availability.get("living_w") is None  # not measured: not 0
    hello = scripted_sidecar.received[0]
    assert hello["subscribe"] == ["mesh", "setpoint", "bus_setpoint"]
    # Nothing to do with a bus_setpoint on a flat without a bus.
    await scripted_sidecar.push(bus_setpoint_message())
    await hass.async_block_till_done()
    assert flat.state.setpoint.enabled is False


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_bus_setpoints_move_power_between_flats(
    hass: HomeAssistant,
    building: BuildingThread,
    bus_family: str,
    sidecars: dict[str, ScriptedSidecar],
) -> None:
    entries = await link_flats(hass, building, sidecars)
    started = async_capture_events(hass, EVENT_BUS_SUPPORT_STARTED)
    ended = async_capture_events(hass, EVENT_BUS_SUPPORT_ENDED)

    # Grid up: the sidecar's setpoint is not written, the bus stays open.
    await until(lambda: bool(sidecars["101"].of_type("availability")))
    availability = newest(sidecars["101"], "availability")
    assert availability["outage"] is False
    assert availability["bus"] is False
    if measures_room(building, "101"):
        assert "living_w" in availability
    await sidecars["101"].push(bus_setpoint_message(w=500))
    await entries["101"].runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert bus_setpoint_w(building, "101") == 0
    assert not started

    await grid_out(hass, building, entries)
    for flat in ("101", "102"):
        await until(
            lambda flat=flat: newest(sidecars[flat], "availability").get("bus") is True
        )
        availability = newest(sidecars[flat], "availability")
        assert availability["outage"] is True
        if measures_room(building, flat):
            assert availability["living_w"] >= 0
        else:
            assert availability.get("living_w") is None  # not measured: not 0
        assert state(hass, flat, "bus_state") == "active"

    # 101 has energy to spare, 102's living room is running low.
    await sidecars["101"].push(bus_setpoint_message(w=500, revert_s=30))
    await sidecars["102"].push(bus_setpoint_message(w=-300, revert_s=30))
    await until(lambda: bus_setpoint_w(building, "101") == 500)
    await until(lambda: bus_setpoint_w(building, "102") == -300)
    building.advance(1)
    exported, imported = bus_w(building, "101"), bus_w(building, "102")
    assert exported > 0
    assert imported == pytest.approx(-300, abs=1)
    # What 102 receives is what 101 gives less the losses.
    assert -imported == pytest.approx(exported * (1 - LOSS), rel=0.01)
    totals = building.state.bus
    assert totals.imported_w == pytest.approx(totals.exported_w * (1 - LOSS), rel=0.01)
    # The revert timer is the sidecar's, re-armed by each message.
    bus = building.flat_state("101").bus
    assert bus is not None
    assert bus.revert_s == 30
    assert 0 < bus.revert_remaining_s <= 30

    await until(lambda: len(started) == 2)
    by_flat = {event.data["flat"]: event.data for event in started}
    assert by_flat["Flat 101"]["direction"] == "export"
    assert by_flat["Flat 101"]["w"] == 500
    assert by_flat["Flat 101"]["reason"] == "outage_support"
    assert by_flat["Flat 102"]["direction"] == "import"
    assert by_flat["Flat 102"]["w"] == -300

    # Energy flows; the totals follow the counters, samples carry them.
    building.advance(25)
    coordinators = {f: e.runtime_data.coordinator for f, e in entries.items()}
    for coordinator in coordinators.values():
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    exporter = building.flat_state("101").bus
    importer = building.flat_state("102").bus
    assert exporter is not None
    assert importer is not None
    assert exporter.tot_wh_exp > 0
    assert number(hass, "101", "bus_energy_exported") == exporter.tot_wh_exp
    assert number(hass, "102", "bus_energy_imported") == importer.tot_wh_imp
    assert number(hass, "101", "bus_power") > 0
    assert number(hass, "102", "bus_power") < 0
    assert number(hass, "102", "bus_setpoint") == -300
    await until(
        lambda: (
            newest(sidecars["102"], "sample").get("bus_in_wh") == importer.tot_wh_imp
        )
    )
    assert newest(sidecars["101"], "sample")["bus_out_wh"] == exporter.tot_wh_exp
    assert "bus_in_wh" in newest(sidecars["101"], "sample")

    # The sidecar ends 101's support: 0 at once.
    await sidecars["101"].push(bus_setpoint_message(active=False, w=0, reason="ended"))
    await until(lambda: bus_setpoint_w(building, "101") == 0)
    # 102's link drops: 0 as well.
    await sidecars["102"].drop()
    await until(lambda: bus_setpoint_w(building, "102") == 0)
    building.advance(1)
    assert bus_w(building, "101") == 0
    assert bus_w(building, "102") == 0
    await until(lambda: len(ended) == 2)
    causes = {event.data["flat"]: event.data["cause"] for event in ended}
    assert causes == {"Flat 101": "ended", "Flat 102": "link_lost"}
    assert {event.data["direction"] for event in ended} == {"export", "import"}


async def test_revert_timer_and_grid_return(
    hass: HomeAssistant,
    building: BuildingThread,
    bus_family: str,
    sidecars: dict[str, ScriptedSidecar],
) -> None:
    entries = await link_flats(hass, building, sidecars)
    ended = async_capture_events(hass, EVENT_BUS_SUPPORT_ENDED)
    await grid_out(hass, building, entries)

    # A sidecar that falls silent: the bus reverts to 0 by itself.
    await sidecars["101"].push(bus_setpoint_message(w=400, revert_s=5))
    await until(lambda: bus_setpoint_w(building, "101") == 400)
    bus = building.flat_state("101").bus
    assert bus is not None
    assert bus.revert_s == 5
    building.advance(6)
    assert bus_setpoint_w(building, "101") == 0

    # Round after round, both flats; then the grid returns.
    await sidecars["101"].push(bus_setpoint_message(w=400, revert_s=20))
    await sidecars["102"].push(bus_setpoint_message(w=-200, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 400)
    await until(lambda: bus_setpoint_w(building, "102") == -200)
    building.advance(1)
    assert bus_w(building, "102") < 0

    building.set_outage(False)
    await until(lambda: bus_setpoint_w(building, "101") == 0, seconds=15)
    await until(lambda: bus_setpoint_w(building, "102") == 0, seconds=15)
    await until(lambda: len(ended) >= 2)
    assert {event.data["cause"] for event in ended[-2:]} == {"grid_back"}
    for flat, entry in entries.items():
        support = entry.runtime_data.bus
        assert support is not None
        await until(lambda support=support: support.holding_w is None)
        # The sensor shows the bus as read: standby from the next poll on.
        await until(lambda flat=flat: state(hass, flat, "bus_state") == "standby")
    # The sidecar still asking is not enough while the grid is back.
    await sidecars["101"].push(bus_setpoint_message(w=400, revert_s=20))
    await entries["101"].runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert bus_setpoint_w(building, "101") == 0


@pytest.mark.parametrize("bus_family", ["echonet"])
async def test_a_poll_that_fails_keeps_the_bus_hold_and_ends_nothing(
    hass: HomeAssistant,
    building: BuildingThread,
    bus_family: str,
    sidecars: dict[str, ScriptedSidecar],
) -> None:
    """A failed poll says nothing of the bus; it is not the bus opening.

    The flat's ECHONET Lite node falls silent for a poll (its bus controller still
    answers): the hold stays and no support ends; the next good poll goes on.
    """
    entries = await link_flats(hass, building, sidecars)
    started = async_capture_events(hass, EVENT_BUS_SUPPORT_STARTED)
    ended = async_capture_events(hass, EVENT_BUS_SUPPORT_ENDED)
    await grid_out(hass, building, entries)
    await sidecars["101"].push(bus_setpoint_message(w=400, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 400)
    await until(lambda: len(started) == 1)
    coordinator = entries["101"].runtime_data.coordinator
    support = entries["101"].runtime_data.bus
    assert support is not None
    assert isinstance(building, BusBuilding)
    assert building.nodes is not None
    node = building.nodes.node()

    async def poll() -> None:
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        await until(lambda: not support.writing)

    building.call(lambda _: setattr(node, "silent", True))
    await poll()
    assert not coordinator.last_update_success
    assert support.holding_w == 400
    assert bus_setpoint_w(building, "101") == 400
    assert ended == []

    building.call(lambda _: setattr(node, "silent", False))
    await poll()
    assert coordinator.last_update_success
    assert bus_setpoint_w(building, "101") == 400
    assert (support.holding_w, len(started), ended) == (400, 1, [])


async def test_direction_change_and_diagnostics(
    hass: HomeAssistant,
    building: BuildingThread,
    bus_family: str,
    sidecars: dict[str, ScriptedSidecar],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = await link_flats(hass, building, sidecars)
    started = async_capture_events(hass, EVENT_BUS_SUPPORT_STARTED)
    ended: list[Event] = async_capture_events(hass, EVENT_BUS_SUPPORT_ENDED)
    await grid_out(hass, building, entries)
    await sidecars["101"].push(bus_setpoint_message(w=300, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 300)
    # Asked for more than the bus takes: held at its limit.
    await sidecars["101"].push(bus_setpoint_message(w=50_000, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 10_000)
    await sidecars["101"].push(bus_setpoint_message(w=-250, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == -250)
    await until(lambda: len(started) == 2)
    assert [e.data["direction"] for e in started] == ["export", "import"]
    assert [e.data["cause"] for e in ended] == ["replaced"]

    bus = entries["101"].runtime_data.bus
    assert bus is not None
    await entries["101"].runtime_data.coordinator.async_refresh()
    diagnostics = await async_get_config_entry_diagnostics(hass, entries["101"])
    assert diagnostics["building_bus"] is True
    assert diagnostics["reading"]["bus"]["setpoint_w"] == -250
    assert diagnostics["reading"]["bus"]["state"] == 2
    assert diagnostics["reading"]["bus"]["wired"] is True
    support = diagnostics["sidecar"]["bus_support"]
    assert support["current"]["w"] == -250
    assert support["holding_w"] == -250
    assert diagnostics["sidecar"]["subscriptions"] == [
        "mesh",
        "setpoint",
        "bus_setpoint",
    ]

    # An active round asking for nothing ends the support.
    await sidecars["101"].push(bus_setpoint_message(w=0, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 0)
    await until(lambda: len(ended) == 2)
    assert ended[-1].data["cause"] == "ended"

    # A write the battery unit refuses: the error is kept, the next round writes.
    device = entries["101"].runtime_data.device

    async def refuse(power_w: float, revert_s: int) -> None:
        raise DeviceRejectedError("refused")

    with monkeypatch.context() as patch:
        patch.setattr(device, "async_set_bus_setpoint", refuse)
        await sidecars["101"].push(bus_setpoint_message(w=200, revert_s=20))
        await until(lambda: bus.last_write_error is not None)
    await sidecars["101"].push(bus_setpoint_message(w=200, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == 200)
    await until(lambda: bus.last_write_error is None)

    # The building's wiring cuts the flat off the bus: 0 at the next poll.
    building.set_bus_available(False, flat_id="101")
    await until(lambda: bus_setpoint_w(building, "101") == 0)
    await until(lambda: ended[-1].data["cause"] == "bus_open")
    building.set_bus_available(True, flat_id="101")
    # Wait for a poll that began after the wiring came back: one begun before would
    # see the bus open and rightly end the support the next round starts.
    coordinator = entries["101"].runtime_data.coordinator
    await until(
        lambda: coordinator.data.bus is not None and coordinator.data.bus.wired is True
    )
    starts = len(started)
    await sidecars["101"].push(bus_setpoint_message(w=-250, revert_s=20))
    await until(lambda: bus_setpoint_w(building, "101") == -250)
    await until(lambda: len(started) > starts)
    # Unloading leaves the bus at 0.
    assert await hass.config_entries.async_unload(entries["101"].entry_id)
    await hass.async_block_till_done()
    assert bus_setpoint_w(building, "101") == 0
    assert ended[-1].data["cause"] == "stopped"


async def test_unload_during_a_write_still_leaves_the_bus_at_0(
    hass: HomeAssistant,
    building: BuildingThread,
    bus_family: str,
    sidecars: dict[str, ScriptedSidecar],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = await link_flats(hass, building, sidecars)
    await grid_out(hass, building, entries)
    device = entries["101"].runtime_data.device
    write = device.async_set_bus_setpoint
    written = asyncio.Event()

    async def write_then_wait(power_w: float, revert_s: int) -> None:
        # The bus holds the setpoint; the answer is slow to come back.
        await write(power_w, revert_s)
        written.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(device, "async_set_bus_setpoint", write_then_wait)
    await sidecars["101"].push(bus_setpoint_message(w=-250, revert_s=20))
    await asyncio.wait_for(written.wait(), 10)
    assert bus_setpoint_w(building, "101") == -250
    assert await hass.config_entries.async_unload(entries["101"].entry_id)
    await hass.async_block_till_done()
    assert bus_setpoint_w(building, "101") == 0


async def test_older_sidecar_without_bus_setpoint(
    hass: HomeAssistant,
    building: BuildingThread,
    scripted_sidecar: ScriptedSidecar,
) -> None:
    scripted_sidecar.subscribable = frozenset({"mesh", "setpoint"})
    entry = flat_entry(building, "101")
    link = await set_up_linked(hass, entry, scripted_sidecar)
    hellos = scripted_sidecar.of_type("hello")
    assert [h["subscribe"] for h in hellos] == [
        ["mesh", "setpoint", "bus_setpoint"],
        ["mesh", "setpoint"],
    ]
    assert link.subscriptions == ("mesh", "setpoint")
    assert entry.runtime_data.bus is not None
    await until(lambda: bool(scripted_sidecar.of_type("sample")))
    assert "bus_out_wh" in newest(scripted_sidecar, "sample")

    # The config flows' check says hello the same way.
    assert (
        await async_check_sidecar(
            async_get_clientsession(hass),
            scripted_sidecar.url,
            scripted_sidecar.token,
            client="test",
        )
        is None
    )


async def test_bus_writes_need_a_bus_and_sane_values(
    hass: HomeAssistant, building: BuildingThread, family: FamilyFlat
) -> None:
    lone, on_bus = await set_up_lone_and_bus_flat(hass, building, family.new_entry())
    with pytest.raises(DeviceRejectedError):
        await lone.runtime_data.device.async_set_bus_setpoint(100, 5)
    with pytest.raises(DeviceRejectedError):
        await lone.runtime_data.device.async_clear_bus_setpoint()
    device = on_bus.runtime_data.device
    with pytest.raises(ValueError, match="10000"):
        await device.async_set_bus_setpoint(10_001, 5)
    with pytest.raises(ValueError, match="revert"):
        await device.async_set_bus_setpoint(100, 0)
    await device.async_set_bus_setpoint(-10_000, 7)
    bus = building.flat_state("102").bus
    assert bus is not None
    assert bus.setpoint_w == -10_000
    assert bus.revert_s == 7
    await device.async_clear_bus_setpoint()
    assert bus_setpoint_w(building, "102") == 0


async def test_bus_writes_reach_the_flats_bus_within_limits(
    hass: HomeAssistant, building: BuildingThread, bus_family: str
) -> None:
    entry = flat_entry(building, "101")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = entry.runtime_data.device
    assert device.has_bus
    with pytest.raises(ValueError, match="10000"):
        await device.async_set_bus_setpoint(10_001, 5)
    with pytest.raises(ValueError, match="revert"):
        await device.async_set_bus_setpoint(100, 0)
    assert bus_setpoint_w(building, "101") == 0
    await device.async_set_bus_setpoint(-10_000, 7)
    bus = building.flat_state("101").bus
    assert bus is not None
    assert bus.setpoint_w == -10_000
    assert bus.revert_s == 7
    await device.async_clear_bus_setpoint()
    assert bus_setpoint_w(building, "101") == 0


async def test_bus_totals_continue_across_a_restart(
    hass: HomeAssistant, building: BuildingThread, bus_family: str
) -> None:
    entry = flat_entry(building, "101")
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    for key in ("bus_energy_exported", "bus_energy_imported"):
        registry.async_get_or_create(
            Platform.SENSOR,
            DOMAIN,
            f"LVPP-101-BAT_{key}",
            suggested_object_id=f"flat_101_{key}",
            config_entry=entry,
        )
    # Before the restart the totals were 1234 Wh and 56 Wh; this bus counts from 0
    # (a replaced inverter): the totals go on from where they were, no drop, no jump.
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(f"sensor.flat_101_{key}", str(total)),
                {
                    "native_value": total,
                    "native_unit_of_measurement": "Wh",
                    "total_wh": total,
                    "offset_wh": 0.0,
                    "at": time.time() - 600,
                },
            )
            for key, total in (
                ("bus_energy_exported", 1234.0),
                ("bus_energy_imported", 56.0),
            )
        ],
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    for _ in range(4):
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert number(hass, "101", "bus_energy_exported") == 1234
    assert number(hass, "101", "bus_energy_imported") == 56
