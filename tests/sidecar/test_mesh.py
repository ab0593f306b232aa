"""The ledger mesh with real sidecar processes: convergence, catch-up, partitions."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sidecar.verify import verify_database
from tests.sidecar.mesh_support import Building, Switchboard, stored_ids


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
        # Identical logs: every node holds every author's entries, id for id.
        logs = [stored_ids(flat.db) for flat in building.flats]
        assert all(log == logs[0] for log in logs[1:])
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
        await building.converged()
    for flat in building.flats:
        report = verify_database(flat.db)
        assert report.ok, [str(finding) for finding in report.findings]
        assert report.authors == 5
        kinds = stored_kinds(flat.db)
        assert "witnessed" in kinds, kinds


def stored_kinds(db: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {kind for (kind,) in conn.execute("SELECT DISTINCT kind FROM entries")}
    finally:
        conn.close()
