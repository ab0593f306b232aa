"""A full disk and a read-only store, alone and linked to a peer.

The full disk is a real one: the node's data folder is put on a small tmpfs (mounting
needs privileges; the test is skipped where they are missing), then filled to the last
block by a file while the node writes. The read-only store is a read-only bind mount
of the data folder; files opened before a mount keep writing through the old one, so
the node is restarted onto it, as after a reboot onto a store that went read-only.
Once it is writable again the node stops by itself (SQLite keeps a store it opened
read-only so in that process) and is started afresh, as a service manager does.
In both the node must refuse new samples with the fault's reason, report it in
status, keep serving reads and its peer link, lose nothing it acknowledged, accuse no
one, and write again by itself once the disk allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from devkit.building import Building as AnyBuilding
from devkit.building import Flat
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
    writable_again,
)
from tests.sidecar.mesh_support import Building


async def _until(check: Callable[[], bool], within: float, what: str) -> float:
    """Wait for ``check``; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def _streaming(victim: Flat, stream: Stream) -> AsyncIterator[None]:
    """Samples to ``victim`` while the block runs; waits for the first answer."""
    first = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        ws = await victim.connect(session)
        task = asyncio.create_task(stream.run(ws, first))
        try:
            await _until(
                lambda: first.is_set() or bool(stream.errors), 20, "a first answer"
            )
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await ws.close()


async def _check_faulty(
    building: AnyBuilding, victim: Flat, stream: Stream, fault: str, linked: bool
) -> int:
    """Refusals come with the fault's reason, status says so, the link holds."""
    await _until(lambda: stream.errors[fault] > 0, 40, f"a {fault} refusal")
    status = await stream.status()
    assert status["storage"] == fault, status
    assert victim.running.process is not None
    assert victim.running.process.returncode is None
    if linked:
        assert status["mesh"]["peers_online"] == 1, status["mesh"]
    return len(stream.acked)


async def _check_after(
    building: AnyBuilding, victim: Flat, peer: Flat, stream: Stream, linked: bool
) -> dict[str, int]:
    if linked:
        await building.converged(within=40)
    await building.stop(victim)
    stored = own_entries(victim.db, victim.author)
    report = verify_database(victim.db)
    assert report.ok, [str(f) for f in report.findings]
    return {
        "acknowledged": len(stream.acked),
        "lost": sum(stored.get(s) != eid for s, eid in stream.acked.items()),
        "duplicated": duplicated_flows(victim.db, victim.author),
        "false_equivocations": conflicts_against(peer.db, victim.author)
        if linked
        else 0,
    }


def _report(case: str, figures: dict[str, int], refused: int, recover_s: float) -> None:
    print(f"\n{case}: {figures} refused={refused} recover_s={recover_s:.2f}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["false_equivocations"] == 0


def _stream() -> Stream:
    return Stream(ts=time.time_ns() // 1_000_000 - 5 * 3_600_000, counter=1e3)


@pytest.mark.parametrize("linked", [False, True], ids=["alone", "linked"])
async def test_a_full_disk_refuses_samples_and_recovers(
    tmp_path: Path, linked: bool
) -> None:
    building = Building(tmp_path / "building", 2)
    async with building:
        victim, peer = building.flats
        configure(victim.config, {"interval_ms": 1000})
        data = victim.db.parent
        with on_small_tmpfs(data, "24m"):
            await building.start(*([victim, peer] if linked else [victim]))
            if linked:
                assert (await building.linked(within=20))[1] == 1
            stream = _stream()
            async with _streaming(victim, stream):
                filler = fill(data)
                try:
                    acked = await _check_faulty(
                        building, victim, stream, "storage_full", linked
                    )
                finally:
                    filler.unlink()  # space returns
                recover_s = await _until(
                    lambda: len(stream.acked) > acked + 5, 40, "acks after the fault"
                )
                assert "storage" not in await stream.status()
            figures = await _check_after(building, victim, peer, stream, linked)
        _report(
            f"full disk {'linked' if linked else 'alone'}",
            figures,
            stream.errors["storage_full"],
            recover_s,
        )


@pytest.mark.parametrize("linked", [False, True], ids=["alone", "linked"])
async def test_a_read_only_store_refuses_samples_and_recovers(
    tmp_path: Path, linked: bool
) -> None:
    building = Building(tmp_path / "building", 2)
    async with building:
        victim, peer = building.flats
        configure(victim.config, {"interval_ms": 1000})
        data = victim.db.parent
        await building.start(*([victim, peer] if linked else [victim]))
        stream = _stream()
        async with _streaming(victim, stream):
            await _until(lambda: len(stream.acked) > 20, 20, "acknowledgements")
        await building.stop(victim)
        stream.ts += 60_000
        with read_only(data):
            # It says it is listening only after it found out, and then serves.
            await building.start(victim)
            if linked:
                assert (await building.linked(within=20))[1] == 1
            async with _streaming(victim, stream):
                acked = await _check_faulty(
                    building, victim, stream, "storage_readonly", linked
                )
                writable_again(data)
                # SQLite keeps the store read-only in the process that opened it
                # so: the node stops once (exit 1), and is started afresh.
                started = time.monotonic()
                process = victim.running.process
                assert process is not None
                assert await asyncio.wait_for(process.wait(), 20) == 1
            victim.process = None
            await building.start(victim)
            async with _streaming(victim, stream):
                await _until(
                    lambda: len(stream.acked) > acked + 5, 40, "acks after the fault"
                )
                recover_s = time.monotonic() - started
                assert "storage" not in await stream.status()
            figures = await _check_after(building, victim, peer, stream, linked)
        _report(
            f"read-only store {'linked' if linked else 'alone'}",
            figures,
            stream.errors["storage_readonly"],
            recover_s,
        )
