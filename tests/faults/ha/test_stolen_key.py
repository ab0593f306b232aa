"""A member's key used from a second machine, seen by every node and by Home Assistant.

Injected: one flat's configuration and key are copied to a second sidecar process
(another port, an empty store), as a thief or a careless restore would; both run at
once, both are fed samples, both link to the building. They sign different entries
with the same seqs. Flat 100's node is linked to a real Home Assistant.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from functools import partial
from pathlib import Path

import pytest
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from devkit import local_api
from devkit.building import Flat as PlainFlat
from devkit.clock import now_ms
from devkit.ports import free_port
from devkit.sidecar_node import configure
from devkit.waiting import until
from simulator.threaded import FlatThread
from tests.faults.support import Feeder, audit, replicated
from tests.integration.ha.support import entity_id, set_up_with_sidecar
from tests.sidecar.mesh_support import Building, Flat

EVIDENCE_WITHIN_S = 45  # the twin links and signs; vectors flood every few seconds


def make_twin(flat: Flat, directory: Path) -> PlainFlat:
    """The flat's configuration, roster and key in a new folder, on another port."""
    directory.mkdir()
    for name in ("sidecar.toml", "roster.json"):
        shutil.copy2(flat.directory / name, directory / name)
    configure(directory / "sidecar.toml", {"listen": f"127.0.0.1:{free_port()}"})
    twin = PlainFlat(directory / "sidecar.toml", flat.name, flat.author)
    twin.key_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(flat.key_file, twin.key_file)
    os.chmod(twin.key_file, 0o600)
    return twin


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_key_used_twice_is_exposed_on_every_node_and_in_home_assistant(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    tmp_path: Path,
) -> None:
    building = await hass.async_add_executor_job(Building, tmp_path / "b", 4)
    async with building:
        # The member with the smallest author id dials all the others: its twin,
        # holding the same key, links with every peer too (as a second machine on
        # the LAN would, whatever address the roster gives the flat).
        stolen = min(building.flats, key=lambda member: member.author)
        honest = [member for member in building.flats if member is not stolen]
        home, *neighbours = honest
        await building.start()
        assert (await building.linked(30))[1] == 3

        await set_up_with_sidecar(hass, config_entry, home.ws_url, home.token)
        link = config_entry.runtime_data.sidecar
        assert link is not None
        await until(lambda: link.connected and link.mesh is not None, 20)

        twin = await hass.async_add_executor_job(
            partial(make_twin, stolen, tmp_path / "twin")
        )
        await twin.start()
        try:
            feeder = Feeder(building)
            for member in (*neighbours, stolen):
                await feeder.attach(member)
            started = time.monotonic()
            twin_feed = asyncio.create_task(feed_twin(building, twin))
            try:
                exposed = await exposed_everywhere(
                    building, feeder, honest, stolen, (*neighbours, stolen)
                )
            finally:
                twin_feed.cancel()
            seen_by_nodes = time.monotonic() - started

            def ha_shows_it() -> bool:
                flat.advance(1)
                mesh = link.mesh
                return mesh is not None and any(
                    p["author"] == stolen.author.hex() for p in mesh["problems"]
                )

            await until(ha_shows_it, 20, interval=0.2)
            await hass.async_block_till_done()
            seen_by_ha = time.monotonic() - started
            integrity = hass.states.get(
                entity_id(hass, Platform.BINARY_SENSOR, "ledger_integrity")
            )
            assert integrity is not None
            assert integrity.state == STATE_ON
            shown = integrity.attributes["problems"]
            assert shown, "the integrity entity lists no problem"
            # Evidence against that flat alone: two entries for one seq, and maybe
            # a checkpoint of one history that the other contradicts.
            assert {p["flat"] for p in shown} == {stolen.name}, shown
            assert any(p["kind"] == "equivocation" for p in shown), shown

            await feeder.produce(2, *neighbours)  # the honest go on being recorded
            feeder.acks.pop(stolen.name)  # its own feed is forked: not audited
            await replicated(feeder, building, honest, within=20)
            result = await audit(building, feeder, holders=honest, honest=honest)
            assert result.lost == 0, result
            assert result.duplicated == 0, result
            assert result.false_equivocations == 0, result.problems
            assert all(p["author"] == stolen.author.hex() for p in result.problems)
            # Both holders of the key keep serving: a fork is evidence, not a crash.
            for process in (stolen.process, twin.process):
                assert process is not None
                assert process.returncode is None
            await building.status(stolen)
            print(
                f"stolen key: evidence on {exposed} honest nodes in "
                f"{seen_by_nodes:.1f} s, in Home Assistant in {seen_by_ha:.1f} s; "
                f"{result}"
            )
        finally:
            await twin.stop()
        assert await hass.config_entries.async_unload(config_entry.entry_id)


async def feed_twin(building: Building, twin: PlainFlat) -> None:
    """Samples to the second machine, as its own Home Assistant would send them."""
    assert building.session is not None
    client = await local_api.connect(
        building.session, twin.url, twin.token, local_api.hello()
    )
    try:
        while True:
            twin.counter += 0.3
            await client.send(local_api.sample(now_ms(), pv_wh=twin.counter, pv_w=5400))
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def exposed_everywhere(
    building: Building,
    feeder: Feeder,
    honest: list[Flat],
    stolen: Flat,
    fed: tuple[Flat, ...],
) -> int:
    """Feed the fed flats until every honest node reports the stolen key; how many."""
    deadline = time.monotonic() + EVIDENCE_WITHIN_S
    while True:
        await feeder.produce(0.5, *fed)
        statuses = [await building.status(member) for member in honest[1:]]
        mesh = [s["mesh"] for s in statuses]
        accused = [
            any(p["author"] == stolen.author.hex() for p in m["problems"]) for m in mesh
        ]
        if all(accused):
            return len(accused)
        assert time.monotonic() < deadline, [
            (m["problems"], m["peers_online"]) for m in mesh
        ]
