"""WAT sensors and the interval-closed event, read from the sidecar's WAT route.

The route is the sidecar's own (``sidecar.apps.wat.route``) over a real settlement of
signed entries; only the node around it is stood in for by the scripted sidecar.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp import web
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import Event, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import DOMAIN
from custom_components.local_vpp.wat.poller import EVENT_INTERVAL_CLOSED, WatPoller
from sidecar.apps.wat import spec
from sidecar.apps.wat.node_app import WatApp
from sidecar.apps.wat.route import WatRoutes
from sidecar.storage.gate import Gate
from simulator.threaded import FlatThread
from tests.integration.ha.scripted_sidecar import ScriptedSidecar
from tests.integration.ha.support import entity_id, set_up_linked
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats


class WatSidecar(ScriptedSidecar):
    """The scripted sidecar, also serving the WAT routes of a real settlement."""

    def __init__(self, wat: WatApp) -> None:
        super().__init__()
        self.routes = WatRoutes(wat, self.token)

    async def start(self, port: int = 0) -> None:
        """Listen with ``/api/v1/ws`` and the WAT routes."""
        app = web.Application()
        app.router.add_get("/api/v1/ws", self._handle)
        self.routes.add_routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"ws://127.0.0.1:{self.port}/api/v1/ws"


@pytest.fixture
async def wat_sidecar(socket_enabled: None) -> Any:
    """Flat 101 of the worked example (docs/WAT.md), an hour into 1 December 2026."""
    flats = Flats(3)
    now = {"ms": T0 + 2 * HALF_HOUR}
    # The gate is only used to record currencies, which this test does not do.
    wat = WatApp(flats.roster, cast(Gate, None), lambda: now["ms"], flats.author(1))
    wat.settlement.offer(flats.adopt(spec.default(BUILDING, T0), ts=T0 - MIN))
    for entry in (
        flats.meter(0, T0, T0 + HALF_HOUR, grid_out=3_000_000, ren_out=2_400_000),
        flats.meter(1, T0, T0 + HALF_HOUR, grid_in=2_000_000),
        flats.meter(2, T0, T0 + HALF_HOUR, grid_in=4_000_000, grid_out=500_000),
    ):
        wat.settlement.offer(entry)
    sidecar = WatSidecar(wat)
    await sidecar.start()
    try:
        yield sidecar, flats, wat, now
    finally:
        await sidecar.stop()


def _value(hass: HomeAssistant, key: str) -> str:
    state = hass.states.get(entity_id(hass, Platform.SENSOR, key))
    assert state is not None
    return state.state


async def test_wat_sensors_show_the_flats_figures_and_an_interval_closes(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    wat_sidecar: Any,
) -> None:
    """Bought 1.090909 kWh for 21.818 WAT; a new interval fires the event."""
    sidecar, flats, wat, _now = wat_sidecar
    await set_up_linked(hass, config_entry, sidecar)
    await hass.async_block_till_done()
    assert _value(hass, "wat_balance") == "-21.818"
    assert _value(hass, "wat_value_now") == "-21.818"
    assert _value(hass, "wat_spent_today") == "21.818"
    assert _value(hass, "wat_earned_today") == "0.0"
    assert _value(hass, "wat_local_price") == "20.0"
    assert _value(hass, "wat_bought_from_neighbours_today") == "1.090909"
    assert _value(hass, "wat_sold_to_neighbours_today") == "0.0"
    balance = hass.states.get(entity_id(hass, Platform.SENSOR, "wat_balance"))
    assert balance is not None
    assert balance.attributes["state_class"] == "total"

    events: list[Event] = []
    hass.bus.async_listen(EVENT_INTERVAL_CLOSED, events.append)
    start = T0 + HALF_HOUR
    for entry in (
        flats.meter(0, start, start + HALF_HOUR),
        flats.meter(1, start, start + HALF_HOUR, grid_out=1_000_000),
        flats.meter(2, start, start + HALF_HOUR, grid_in=1_000_000),
    ):
        wat.settlement.offer(entry)
    poller = _poller(hass)
    await poller.async_refresh()
    await hass.async_block_till_done()
    assert len(events) == 1
    assert events[0].data["settled_until"] == T0 + 2 * HALF_HOUR
    assert _value(hass, "wat_balance") == "-1.818"  # 20 WAT earned back
    assert _value(hass, "wat_earned_today") == "20.0"

    statement: Any = await hass.services.async_call(
        DOMAIN,
        "wat_statement",
        {"start": "2026-12-01T00:00:00+09:00", "end": "2026-12-02T00:00:00+09:00"},
        blocking=True,
        return_response=True,
    )
    assert statement is not None
    assert [line["amount"] for line in statement["lines"]] == [-21_818, 20_000]
    assert statement["closing"] == -1_818
    assert statement["lines"][0]["refs"]  # the entries the line rests on

    await sidecar.stop()  # the sidecar is gone: unknown, never 0
    await poller.async_refresh()
    await hass.async_block_till_done()
    assert _value(hass, "wat_balance") == STATE_UNAVAILABLE


def _poller(hass: HomeAssistant) -> WatPoller:
    """The poller behind the balance sensor."""
    component = hass.data["entity_components"]["sensor"]
    found = component.get_entity(entity_id(hass, Platform.SENSOR, "wat_balance"))
    return cast(WatPoller, found._poller)
