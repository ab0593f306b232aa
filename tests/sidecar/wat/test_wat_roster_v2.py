"""WAT runs on a node whose roster file is a later version than the first."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit.building import Building, Flat
from devkit.clock import now_ms
from devkit.sidecar_node import configure, init_node, sidecar_cli
from sidecar import config as config_module
from sidecar.apps.wat import adoption, spec, wiring
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.spec import SpecError
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster_chain import RosterChain
from sidecar.storage import store
from sidecar.tools.export import FORMAT
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats

MINUTE = 60_000


async def _get(session: aiohttp.ClientSession, flat: Flat) -> tuple[int, Any]:
    config = config_module.load(flat.config)
    async with session.get(
        f"http://127.0.0.1:{config.port}/api/v1/wat",
        headers={"Authorization": f"Bearer {config.api_token}"},
    ) as reply:
        text = await reply.text()
        return reply.status, json.loads(text) if reply.status == 200 else text


@pytest.mark.long
@pytest.mark.timeout(120)
async def test_wat_runs_with_a_version_2_roster_file(tmp_path: Path) -> None:
    """Flat 101 left (version 2 lists flat 100 alone): flat 100 adopts a currency."""
    async with Building(tmp_path, ["100", "101"]) as building:
        flat = building.flats[0]
        first = roster_module.load(flat.directory / "roster.json")
        second = dataclasses.replace(
            first,
            version=2,
            members=first.members[:1],
            prev=first.digest,
            effective=now_ms() - 60_000,
        )
        roster_module.save(second, flat.directory / "roster.json")
        await building.start(flat)
        assert building.session is not None
        session = building.session
        status, body = await _get(session, flat)
        assert status == 200, body
        assert body == {"currency": None}
        config = config_module.load(flat.config)
        url = f"http://127.0.0.1:{config.port}/api/v1/wat"
        headers = {"Authorization": f"Bearer {config.api_token}"}
        async with session.get(
            f"{url}/statement?from=0&to=1", headers=headers
        ) as reply:
            assert reply.status == 409
            assert (await reply.json())["error"] == "no_currency"
        effective = (now_ms() // MINUTE + 1) * MINUTE
        if effective - now_ms() < 3_000:
            effective += MINUTE
        currency = dataclasses.replace(
            spec.default(building.building, effective), interval_min=1, final_min=1
        )
        gone, kept = (
            Identity.load(config_module.load(item.config).key_file)
            for item in (building.flats[1], flat)
        )
        # Flat 101 left in version 2: its approval no longer counts.
        async with session.post(
            f"{url}/currency",
            headers=headers,
            json={
                "proposal": currency.document(),
                "approvals": [adoption.approve(gone, currency)],
            },
        ) as reply:
            assert reply.status == 409
            assert (await reply.json())["error"] == "non_member"
        async with session.post(
            f"{url}/currency",
            headers=headers,
            json={
                "proposal": currency.document(),
                "approvals": [adoption.approve(kept, currency)],
            },
        ) as reply:
            assert reply.status == 200, await reply.text()
        body = {}
        for _ in range(450):  # until it takes effect (under a minute), then ~30 s
            _, body = await _get(session, flat)
            if body.get("currency") is not None:
                break
            await asyncio.sleep(0.2)
        assert body.get("currency") == currency.name


def test_a_currency_before_the_oldest_known_roster_is_not_valid() -> None:
    """A chain from version 2 does not judge a currency that took effect before it."""
    flats = Flats(2)
    second = dataclasses.replace(
        flats.roster,
        version=2,
        members=flats.roster.members[:1],
        prev=flats.roster.digest,
        effective=T0 + HALF_HOUR,
    )
    early = spec.default(BUILDING, T0)
    late = spec.default(BUILDING, T0 + HALF_HOUR)
    chain = RosterChain(second, from_any_version=True)
    before = Settlement(chain, [flats.adopt(early, T0 - MIN, range(1))])
    assert before.inputs.currencies.versions == []
    with pytest.raises(SpecError) as refused:
        adoption.check_approvals(chain, early, [])
    assert refused.value.reason == "no_roster"
    after = Settlement(
        RosterChain(second, from_any_version=True),
        [flats.adopt(late, T0 - MIN, range(1))],
    )
    assert after.inputs.currencies.versions == [late]


def test_a_version_3_roster_file_is_traced_back_through_the_database(
    tmp_path: Path,
) -> None:
    """The roster entries of versions 2 and 3 lead back to version 2; 1 is in none."""
    flats = Flats(3)
    first = flats.roster
    second = dataclasses.replace(first, version=2, prev=first.digest, effective=T0)
    third = dataclasses.replace(
        second,
        version=3,
        members=first.members[:2],
        prev=second.digest,
        effective=T0 + MIN,
    )
    changes = []
    for ts, (proposed, base) in enumerate(((second, first), (third, second))):
        approvals: list[JsonValue] = [
            roster_module.approve(flats.identities[i], proposed) for i in range(2)
        ]
        body = roster_module.entry_body(proposed, approvals)
        changes.append(flats.entry(0, roster_module.ROSTER, body, T0 - MIN + ts))
        assert base.digest == proposed.prev
    config_path = tmp_path / "sidecar.toml"
    init_node(config_path, building=BUILDING, floor="1", flat="100")
    config = config_module.load(config_path)
    config.key_file.unlink()
    flats.identities[0].save(config.key_file)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store.create(config.db_path, BUILDING, flats.identities[0].public_key)
    lines: list[JsonObject] = [
        {"type": "ledger", "format": FORMAT, "building": BUILDING},
        {"type": "author", "key": flats.identities[0].public_key.hex()},
    ]
    lines += [etp.entry_to_wire(entry) for entry in changes]
    export = tmp_path / "export.jsonl"
    export.write_text("".join(etp.wire_json(line) + "\n" for line in lines))
    done = sidecar_cli("import", str(export), "--config", str(config_path))
    assert done.returncode == 0, done.stderr + done.stdout
    roster_module.save(third, tmp_path / "roster.json")
    configure(config_path, {"roster": str(tmp_path / "roster.json")})
    config = config_module.load(config_path)
    reader = store.connect(config.db_path, readonly=True)
    try:
        chain = wiring.roster_chain(config, third, reader)
    finally:
        reader.close()
    assert [roster.version for roster in chain.versions] == [2]
    settlement = Settlement(chain, changes)
    assert [roster.version for roster in settlement.rosters.versions] == [2, 3]
    assert settlement.rosters.at(T0 + MIN) == third
