"""WAT sensors, the statement action and the interval-closed event, from a real node.

The node is a real sidecar process (flat 101) whose database holds, imported as an
export, the building's currency (one-minute intervals, so an interval closes while the
test runs) and the worked example of docs/WAT.md in the first interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import Event, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import (
    DOMAIN,
)
from custom_components.local_vpp.wat.poller import EVENT_INTERVAL_CLOSED, WatPoller
from devkit.sidecar_node import (
    SidecarNode,
    configure,
    init_node,
    sidecar_cli,
    start_sidecar,
)
from sidecar import config as config_module
from sidecar.apps.wat import spec
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.mesh import roster as roster_module
from sidecar.storage import store
from sidecar.tools.export import FORMAT
from tests.integration.ha.support import entity_id, set_up_with_sidecar
from tests.sidecar.wat.support import BUILDING, MIN, T0, Flats


def _export(flats: Flats, path: Path) -> None:
    """The building's ledger as an export: currency and the first interval's meters."""
    currency = dataclasses.replace(
        spec.default(BUILDING, T0), interval_min=1, final_min=1
    )
    entries = [
        flats.adopt(currency, ts=T0 - MIN),
        flats.meter(0, T0, T0 + MIN, grid_out=3_000_000, ren_out=2_400_000),
        flats.meter(1, T0, T0 + MIN, grid_in=2_000_000),
        flats.meter(2, T0, T0 + MIN, grid_in=4_000_000, grid_out=500_000),
    ]
    lines: list[JsonObject] = [
        {"type": "ledger", "format": FORMAT, "building": BUILDING},
        {"type": "roster", "roster": flats.roster.document()},
    ]
    lines += [{"type": "author", "key": i.public_key.hex()} for i in flats.identities]
    lines += [etp.entry_to_wire(entry) for entry in entries]
    path.write_text("".join(etp.wire_json(line) + "\n" for line in lines))


@pytest.fixture
async def wat_node(tmp_path: Path, socket_enabled: None) -> AsyncIterator[SidecarNode]:
    """Flat 101's node, its key and database those of the worked example."""
    flats = Flats(3)
    config_path = tmp_path / "sidecar.toml"
    init_node(config_path, building=BUILDING, floor="1", flat="101")
    config = config_module.load(config_path)
    config.key_file.unlink()
    flats.identities[1].save(config.key_file)
    # The database as the node makes it at its first start, to import into.
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store.create(config.db_path, BUILDING, flats.identities[1].public_key)
    roster_module.save(flats.roster, tmp_path / "roster.json")
    configure(config_path, {"roster": str(tmp_path / "roster.json")})
    _export(flats, tmp_path / "export.jsonl")
    done = sidecar_cli(
        "import", str(tmp_path / "export.jsonl"), "--config", str(config_path)
    )
    assert done.returncode == 0, done.stderr + done.stdout
    node = await start_sidecar(config_path)
    try:
        yield node
    finally:
        if node.process is not None and node.process.returncode is None:
            await node.stop()


def _value(hass: HomeAssistant, key: str) -> str:
    state = hass.states.get(entity_id(hass, Platform.SENSOR, key))
    assert state is not None
    return state.state


def _poller(hass: HomeAssistant) -> WatPoller:
    """The poller behind the balance sensor."""
    component = hass.data["entity_components"]["sensor"]
    found = component.get_entity(entity_id(hass, Platform.SENSOR, "wat_balance"))
    return cast(WatPoller, found._poller)


@pytest.mark.long
@pytest.mark.timeout(240)
async def test_wat_sensors_show_the_flats_figures_and_an_interval_closes(
    hass: HomeAssistant, config_entry: MockConfigEntry, wat_node: SidecarNode
) -> None:
    """Bought 1.090909 kWh for 21.818 WAT on 1 December; later intervals close."""
    await set_up_with_sidecar(hass, config_entry, wat_node.ws_url, wat_node.token)
    poller = _poller(hass)
    await poller.async_refresh()
    await hass.async_block_till_done()
    assert _value(hass, "wat_balance") == "-21.818"
    assert _value(hass, "wat_value_now") == "-21.818"  # debts do not fall
    assert _value(hass, "wat_local_price") == "20.0"
    assert _value(hass, "wat_earned_today") == "0.0"  # 1 December is long past
    balance = hass.states.get(entity_id(hass, Platform.SENSOR, "wat_balance"))
    assert balance is not None
    assert balance.attributes["state_class"] == "total"

    statement: Any = await hass.services.async_call(
        DOMAIN,
        "wat_statement",
        {"start": "2026-12-01T00:00:00+09:00", "end": "2026-12-01T01:00:00+09:00"},
        blocking=True,
        return_response=True,
    )
    assert statement is not None
    assert [line["amount"] for line in statement["lines"]] == [-21_818]
    assert statement["closing"] == -21_818
    assert statement["lines"][0]["refs"]  # the entries the line rests on

    # A one-minute interval closes a minute after its end: within about two minutes.
    events: list[Event] = []
    hass.bus.async_listen(EVENT_INTERVAL_CLOSED, events.append)
    for _ in range(180):
        await poller.async_refresh()
        await hass.async_block_till_done()
        if events:
            break
        await asyncio.sleep(1)
    assert events, "no interval closed"
    assert events[0].data["settled_until"] % MIN == 0

    await wat_node.stop()  # the sidecar is gone: unknown, never 0
    await poller.async_refresh()
    await hass.async_block_till_done()
    assert _value(hass, "wat_balance") == STATE_UNAVAILABLE
