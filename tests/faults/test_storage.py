"""A full disk and a read-only store, alone and linked to a peer.

The full disk is a real one: the node's data folder is put on a small tmpfs (mounting
needs privileges; the test is skipped where they are missing), then the rest of it is
filled with a file. The read-only store is a read-only bind mount of the data folder,
made while the node runs. In both the node must refuse new samples with the fault's
reason, report it in status, keep serving reads and its peer link, lose nothing it
acknowledged, accuse no one, and write again by itself once the disk allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from devkit.sidecar_node import configure
from sidecar.tools.verify import verify_database
from tests.faults.faults import (
    Stream,
    conflicts_against,
    duplicated_flows,
    fill,
    on_small_tmpfs,
    own_entries,
    read_only,
)
from tests.sidecar.mesh_support import Building


@contextlib.contextmanager
def _full(data: Path) -> Iterator[None]:
    filler = fill(data)
    try:
        yield
    finally:
        filler.unlink()


async def _until(
    check: Callable[[], bool], within: float, what: str, every: float = 0.05
) -> float:
    """Wait for ``check``; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)
    return time.monotonic() - start


async def _fault_case(
    tmp_path: Path,
    *,
    linked: bool,
    fault: str,
) -> None:
    building = Building(tmp_path / "building", 2)
    async with building:
        victim, peer = building.flats
        configure(victim.config, {"interval_ms": 1000})
        data = victim.db.parent
        hurt = _full if fault == "storage_full" else read_only
        with (
            on_small_tmpfs(data, "24m")
            if fault == "storage_full"
            else (contextlib.nullcontext())
        ):
            await building.start(*([victim, peer] if linked else [victim]))
            if linked:
                _, online = await building.linked(within=20)
                assert online == 1
            stream = Stream(ts=time.time_ns() // 1_000_000 - 5 * 3_600_000, counter=1e3)
            first = asyncio.Event()
            async with aiohttp.ClientSession() as session:
                ws = await victim.connect(session)
                task = asyncio.create_task(stream.run(ws, first))
                try:
                    await asyncio.wait_for(first.wait(), 20)
                    with hurt(data):
                        await _until(
                            lambda: stream.errors[fault] > 0, 40, f"a {fault} refusal"
                        )
                        status = await stream.status()
                        assert status["storage"] == fault, status
                        assert victim.running.process is not None
                        assert victim.running.process.returncode is None
                        if linked:
                            mesh = status["mesh"]
                            assert isinstance(mesh, dict)
                            assert mesh["peers_online"] == 1, mesh
                        acked_before = len(stream.acked)
                    # Space (or write access) returns: samples are taken again.
                    recovered = await _until(
                        lambda: len(stream.acked) > acked_before + 5,
                        40,
                        f"acknowledgements after the fault ({stream.errors}) "
                        + victim.log.read_text()[-3000:],
                    )
                    status = await stream.status()
                    assert "storage" not in status, status
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if linked:
                await building.converged(within=40)
            await building.stop(victim)
            stored = own_entries(victim.db, victim.author)
            lost = [s for s, eid in stream.acked.items() if stored.get(s) != eid]
            duplicated = duplicated_flows(victim.db, victim.author)
            equivocations = conflicts_against(peer.db, victim.author) if linked else 0
            report = verify_database(victim.db)
        print(
            f"\n{fault} {'linked' if linked else 'alone'}: "
            f"acknowledged={len(stream.acked)} lost={len(lost)} "
            f"duplicated={duplicated} false_equivocations={equivocations} "
            f"refused={stream.errors[fault]} recover_s={recovered:.2f}"
        )
        assert not lost
        assert duplicated == 0
        assert equivocations == 0
        assert report.ok, [str(f) for f in report.findings]


@pytest.mark.parametrize("linked", [False, True], ids=["alone", "linked"])
async def test_a_full_disk_refuses_samples_and_recovers(
    tmp_path: Path, linked: bool
) -> None:
    await _fault_case(tmp_path, linked=linked, fault="storage_full")


@pytest.mark.parametrize("linked", [False, True], ids=["alone", "linked"])
async def test_a_read_only_store_refuses_samples_and_recovers(
    tmp_path: Path, linked: bool
) -> None:
    await _fault_case(tmp_path, linked=linked, fault="storage_readonly")
