"""The ledger mesh with real sidecar processes: convergence, catch-up, partitions."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from devkit.node_db import read_rows, stored_ids
from sidecar.storage import retention
from sidecar.tools.verify import verify_database
from tests.sidecar.mesh_support import Building, Flat, Switchboard
from tests.sidecar.support import DAY, HOUR, T0, open_ledger


async def _mesh_report(building: Building, index: int) -> dict[str, object]:
    status = await building.status(building.flats[index])
    mesh = status["mesh"]
    assert isinstance(mesh, dict)
    return mesh


async def test_five_nodes_converge_to_identical_logs_and_witness_each_other(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 5) as building:
        await building.start()
        await building.produce(3.0)
        heads = await building.converged()
        assert len(heads) == 5
        assert all(seq > 5 for seq, _ in heads.values()), heads
        # Witnessed: a majority cosigned each node's own checkpoints.
        deadline = time.monotonic() + 15
        while True:
            reports = [await _mesh_report(building, i) for i in range(5)]
            if all(report["witnessed"] for report in reports):
                break
            assert time.monotonic() < deadline, reports
            await asyncio.sleep(0.3)
        for report in reports:
            assert report["peers_online"] == 4
            assert report["roster_size"] == 5
            assert report["integrity"] == "ok"
            assert report["cosigned"] > 0
        await building.produce(2.5)
        heads = await building.converged()
    assert_identical_logs(building.flats, heads)
    for flat in building.flats:
        report = verify_database(flat.db)
        assert report.ok, [str(finding) for finding in report.findings]
        assert report.authors == 5
        kinds = stored_kinds(flat.db)
        assert "witnessed" in kinds, kinds


def assert_identical_logs(flats: list[Flat], heads: dict[str, Any]) -> None:
    """Every node holds every author's entries up to the converged heads, id for id.

    Read after the nodes stopped, so that everything they had taken is on disk.
    """
    logs = [stored_ids(flat.db) for flat in flats]
    for author, (seq, head_id) in heads.items():
        prefixes = [log.get(author, [])[:seq] for log in logs]
        assert all(len(p) == seq for p in prefixes), author
        assert all(p == prefixes[0] for p in prefixes[1:]), author
        assert not seq or prefixes[0][-1] == head_id


def stored_kinds(db: Path) -> set[str]:
    return {kind for (kind,) in read_rows(db, "SELECT DISTINCT kind FROM entries")}


async def test_a_late_joiner_and_a_killed_node_catch_up(tmp_path: Path) -> None:
    async with Building(tmp_path, 6) as building:
        late, victim = building.flats[5], building.flats[2]
        await building.start(*building.flats[:5])
        await building.produce(2.0)
        await building.start(late)
        await building.converged()
        await building.kill(victim)
        await building.produce(2.5)
        before = stored_ids(victim.db)
        await building.start(victim)
        heads = await building.converged()
    after = stored_ids(victim.db)
    # It was behind on the others' feeds and is not any more.
    others = [f.author.hex() for f in building.flats if f is not victim]
    assert any(len(after[a]) > len(before.get(a, [])) for a in others)
    assert all(len(after[a]) >= heads[a][0] for a in others)
    assert_identical_logs(building.flats, heads)


def _frontier_row(db: Path, author: bytes) -> tuple[int, bytes] | None:
    rows = read_rows(
        db,
        "SELECT f.size, f.nodes FROM frontiers f JOIN authors a ON a.no = f.author "
        "WHERE a.id = ?",
        (author,),
    )
    return (int(rows[0][0]), bytes(rows[0][1])) if rows else None


async def test_new_members_catch_up_on_a_feed_pruned_before_they_joined(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        veteran, newcomers = building.flats[0], building.flats[1:]
        # Six hours of one flow a minute, long ago: retention keeps only the rollups
        # (and the flows of the last hour), anchored by a frontier.
        ledger = open_ledger(veteran.db, veteran.identity)
        ledger.flows(6 * 60, T0, 60_000)
        ledger.feed.roll(T0 + 6 * HOUR + 5)
        ledger.sync()
        policy = retention.Policy(flows_ms=4 * HOUR, hourly_ms=35 * DAY)
        pruned = ledger.writer.call(
            lambda conn: retention.prune(conn, T0 + 9 * HOUR, policy)
        ).result()
        ledger.writer.close()
        assert pruned.entries > 200
        frontier = _frontier_row(veteran.db, veteran.author)
        assert frontier is not None
        assert frontier[0] > 200

        await building.start()
        await building.produce(1.5)
        heads = await building.converged()
        assert heads[veteran.author.hex()][0] > 6 * 60
        counters = [
            (await building.status(flat))["mesh"]["counters"] for flat in newcomers
        ]
    veteran_log = stored_ids(veteran.db)[veteran.author.hex()]
    for flat in newcomers:
        # The same frontier, every entry the veteran kept below it, everything after.
        assert _frontier_row(flat.db, veteran.author) == frontier
        assert stored_ids(flat.db)[veteran.author.hex()] == veteran_log
        report = verify_database(flat.db)
        assert report.ok, [str(finding) for finding in report.findings]
    assert all(c["frontiers_adopted"] == 1 for c in counters), counters
    assert all(c["history"] > 0 for c in counters), counters


async def test_a_partition_heals_and_the_halves_converge(tmp_path: Path) -> None:
    async with Building(tmp_path, 6) as building:
        west, east = building.flats[:3], building.flats[3:]
        async with Switchboard(building.flats) as switchboard:
            await building.start()
            await building.produce(1.0)
            await building.converged()
            switchboard.cut(west, east)
            await asyncio.sleep(0.5)
            await building.produce(2.5)
            west_heads = await building.converged(west)
            east_heads = await building.converged(east)
            # Each half has moved on without seeing the other's latest entries.
            east_author = east[0].author.hex()
            assert west_heads[east_author][0] < east_heads[east_author][0]
            report = await building.status(west[0])
            assert report["mesh"]["peers_online"] == 2
            switchboard.heal()
            heads = await building.converged(within=60)
            assert heads[east_author][0] >= east_heads[east_author][0]
    assert_identical_logs(building.flats, heads)


async def test_a_frozen_node_does_not_stall_the_others(tmp_path: Path) -> None:
    async with Building(tmp_path, 5) as building:
        await building.start()
        frozen, rest = building.flats[0], building.flats[1:]
        await building.produce(1.0)
        await building.converged()
        frozen.running.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            await building.produce(3.0, *rest)
            heads = await building.converged(rest, within=30)
            assert time.monotonic() - started < 30
            assert all(heads[f.author.hex()][0] > 10 for f in rest), heads
        finally:
            frozen.running.process.send_signal(signal.SIGCONT)
        await building.converged(within=60)
