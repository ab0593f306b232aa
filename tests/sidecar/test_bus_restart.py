"""Outage support survives a sidecar restart in the middle of a support interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from devkit.clock import now_ms
from devkit.node_db import bus_entries
from sidecar.coordination.bus.ledger import INTERVAL_MS, RECEIPT_GRACE_MS, BusLedger
from sidecar.ledger.etp import make_entry
from sidecar.ledger.identity import Identity
from tests.sidecar.mesh_support import Building, Flat

FLOWS = {"100": -400.0, "201": 310.0}  # the low flat imports, the other gives


async def _feed(building: Building, stopped: set[str]) -> None:
    """Availabilities and bus samples for every running flat, every 0.3 s."""
    counters = {name: [0.0, 0.0] for name in FLOWS}
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.3)
        now = time.monotonic()
        for flat in building.flats:
            w = FLOWS[flat.name]
            counters[flat.name][0 if w > 0 else 1] += abs(w) * (now - last) / 3600
            if flat.name in stopped or flat.process is None:
                continue
            low = flat.name == "100"
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                client = await building.client(flat)
                await client.ws.send_json(
                    {
                        "type": "availability",
                        "ts": now_ms(),
                        "soc_pct": 10.0 if low else 80.0,
                        "energy_wh": 0.0 if low else 3000.0,
                        "max_discharge_w": 3000.0,
                        "max_charge_w": 3000.0,
                        "battery_w": max(w, 0.0),
                        "participate": True,
                        "outage": True,
                        "bus": True,
                        "living_w": 400.0 if low else 200.0,
                    }
                )
                out_wh, in_wh = counters[flat.name]
                await client.ws.send_json(
                    {
                        "type": "sample",
                        "ts": now_ms(),
                        "bus_w": w,
                        "bus_out_wh": out_wh,
                        "bus_in_wh": in_wh,
                    }
                )
        last = now


async def _until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def _starts(flat: Flat, kind: str) -> set[int]:
    transfers, receipts = bus_entries(flat.db)
    bodies = transfers.values() if kind == "transfer" else [b for b, _ in receipts]
    return {int(body["start"]) for body in bodies}


async def test_an_interval_cut_by_a_restart_is_still_settled(tmp_path: Path) -> None:
    async with Building(tmp_path, 2) as building:
        low, giver = building.flats
        await building.start()
        stopped: set[str] = set()
        task = asyncio.create_task(_feed(building, stopped))
        try:
            # Both sides settle whole intervals before anything is cut.
            await _until(
                lambda: _starts(giver, "transfer") and _starts(low, "receipt"),
                60,
                "no transfer and receipt before the restart",
            )
            # Cut both nodes a few rounds into an interval, and keep them away until
            # it has ended: nothing after the restart can measure it again.
            await _until(
                lambda: 4_000 <= now_ms() % INTERVAL_MS <= 6_000, 15, "no mid-interval"
            )
            cut = now_ms() // INTERVAL_MS * INTERVAL_MS
            stopped.update({low.name, giver.name})
            await building.kill(giver)
            await building.kill(low)
            await _until(lambda: now_ms() > cut + INTERVAL_MS + 1_000, 20, "no end")
            await building.start(giver, low)
            stopped.clear()
            await _until(
                lambda: cut in _starts(giver, "transfer"),
                60,
                "the giver wrote no transfer for the interval of the restart",
            )
            await _until(
                lambda: cut in _starts(low, "receipt"),
                60,
                "the low flat wrote no receipt for the interval of the restart",
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    transfers, _ = bus_entries(giver.db)
    cut_transfers = [t for t in transfers.values() if t["start"] == cut]
    assert len(cut_transfers) == 1  # settled once, not again after the restart
    assert int(cut_transfers[0]["mwh"]) > 0
    _, low_receipts = bus_entries(low.db)
    answered = [ref for body, ref in low_receipts if body["start"] == cut]
    assert len(answered) == 1


def test_a_restored_bus_ledger_settles_what_is_left_once() -> None:
    me = bytes([1]) * 32
    giver = Identity.generate()
    before = BusLedger(me, interval_ms=10_000)
    for at in range(0, 6_001, 1000):
        before.observe(at, -300.0)
    sent = make_entry(
        giver,
        1,
        bytes(32),
        (),
        {
            "kind": "transfer",
            "ts": 10_500,
            "to": me.hex(),
            "mwh": 900,
            "start": 0,
            "end": 10_000,
        },
    )
    before.transfer_in(sent)
    rows, horizon = before.changes(6_000)
    assert horizon < 0 < len(rows)
    assert before.changes(6_000)[0] == []  # nothing changed since
    for at in range(7_000, 11_001, 1000):
        before.observe(at, -300.0)
    expected = before.receipts_due(10_000 + RECEIPT_GRACE_MS)
    after = BusLedger(me, interval_ms=10_000)
    after.restore(rows, [])
    after.transfer_in(sent)  # a peer sends it again after the restart: kept once
    for at in range(7_000, 11_001, 1000):
        after.observe(at, -300.0)
    # What was measured before the restart counts: 6 of the 10 s, then 4 more.
    assert after.receipts_due(10_000 + RECEIPT_GRACE_MS) == expected
    settled = BusLedger(me, interval_ms=10_000)
    settled.restore(rows, [("receipt", 0)])
    settled.observe(11_000, -300.0)
    assert settled.receipts_due(10_000 + RECEIPT_GRACE_MS) == []
