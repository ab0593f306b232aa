"""Outage support over the building bus: the plan, and transfers with receipts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from devkit.clock import now_ms
from devkit.node_db import bus_entries, read_rows
from sidecar.coordination.allocation import Availability
from sidecar.coordination.bus.ledger import KEPT_INTERVALS, RECEIPT_GRACE_MS, BusLedger
from sidecar.coordination.bus.support import plan_support
from sidecar.ledger.etp import Entry, make_entry
from sidecar.ledger.identity import Identity
from tests.sidecar.mesh_support import Building

A, B, C, D = (bytes([n]) * 32 for n in range(1, 5))


def offer(
    author: bytes,
    energy_wh: int,
    *,
    soc: int = 800_000,
    living_w: int = 200,
    bus: bool = True,
    participate: bool = True,
) -> Availability:
    return Availability(
        author,
        1000,
        energy_wh,
        3000,
        3000,
        0,
        participate,
        1_000_000,
        soc,
        outage=True,
        bus=bus,
        living_w=living_w,
    )


def test_givers_carry_the_low_living_rooms_in_proportion_to_their_energy() -> None:
    plan = plan_support(
        [
            offer(A, 0, soc=100_000, living_w=400),
            offer(B, 3000),
            offer(C, 1000),
            offer(D, 5000, bus=False),  # not wired: takes no part
        ]
    )
    assert plan.setpoints == {A: -400, B: 310, C: 103}
    # What the givers send covers the losses on the way.
    assert sum(plan.exporters.values()) * 0.97 >= 400


def test_no_plan_without_someone_low_or_someone_to_give() -> None:
    assert plan_support([offer(B, 3000), offer(C, 1000)]).setpoints == {}
    lows = [offer(A, 0, soc=50_000, living_w=300), offer(B, 0, soc=90_000)]
    assert plan_support(lows).setpoints == {}
    shy = [offer(A, 0, soc=50_000, living_w=300), offer(B, 3000, participate=False)]
    assert plan_support(shy).setpoints == {}


def test_givers_keep_their_own_living_room_first() -> None:
    plan = plan_support(
        [offer(A, 0, soc=50_000, living_w=2500), offer(B, 3000, living_w=2800)]
    )
    # B can spare 200 W after its own 2800 W room; A gets that less the losses.
    assert plan.setpoints == {B: 200, A: -194}


def test_the_ledger_splits_measured_energy_by_the_plans() -> None:
    giver = BusLedger(B, interval_ms=10_000)
    plan = plan_support(
        [
            offer(A, 0, soc=100_000, living_w=300),
            offer(C, 0, soc=100_000, living_w=100),
            offer(B, 3000),
        ]
    )
    for at in range(0, 10_000, 1000):
        giver.observe(at, 432.0)  # 432 W for 10 s: 1.2 Wh
        giver.planned(at, plan)
    assert giver.transfers_due(10_500) == []  # the interval is not over in the samples
    giver.observe(10_000, 432.0)
    transfers = giver.transfers_due(10_500)
    assert transfers == [
        {"to": A.hex(), "mwh": 900, "start": 0, "end": 10_000},
        {"to": C.hex(), "mwh": 300, "start": 0, "end": 10_000},
    ]
    assert giver.transfers_due(20_000) == []  # each interval is settled once


def _transfer(giver: Identity, seq: int, to: bytes, start: int) -> Entry:
    content = {
        "kind": "transfer",
        "ts": start + 10_500,
        "to": to.hex(),
        "mwh": 900,
        "start": start,
        "end": start + 10_000,
    }
    return make_entry(giver, seq, bytes(32), (), content)


def test_an_interval_no_sample_covered_gets_no_receipt() -> None:
    giver = Identity.generate()
    taker = BusLedger(A, interval_ms=10_000)
    # 300 W arrive for 10 s, then Home Assistant is away for 20 s, then 10 s more.
    for at in (*range(0, 10_001, 1000), *range(30_000, 40_001, 1000)):
        taker.observe(at, -300.0)
    for seq, start in enumerate((0, 10_000, 30_000), start=1):
        taker.transfer_in(_transfer(giver, seq, A, start))
    receipts = taker.receipts_due(40_000 + RECEIPT_GRACE_MS)
    assert [(r["start"], r["mwh"]) for r, _ in receipts] == [(0, 833), (30_000, 833)]
    # The unmeasured interval is settled without one, not asked about again.
    assert taker.receipts_due(60_000) == []


def test_transfers_for_a_flat_without_samples_are_let_go() -> None:
    giver = Identity.generate()
    taker = BusLedger(A, interval_ms=10_000)
    for seq in range(1, 3 * KEPT_INTERVALS):
        start = seq * 10_000
        taker.transfer_in(_transfer(giver, seq, A, start))
        assert taker.receipts_due(start + 10_000 + RECEIPT_GRACE_MS) == []
    assert len(taker.intervals) <= KEPT_INTERVALS + 2


async def test_transfers_and_receipts_are_recorded_for_an_outage(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        low, big, small = building.flats
        await building.start()
        flows = {low.name: -400.0, big.name: 310.0, small.name: 103.0}
        energy = {low.name: 0.0, big.name: 3000.0, small.name: 1000.0}
        counters = {f.name: [0.0, 0.0] for f in building.flats}

        async def feed() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.3)
                now = time.monotonic()
                for flat in building.flats:
                    w = flows[flat.name]
                    counters[flat.name][0 if w > 0 else 1] += (
                        abs(w) * (now - last) / 3600
                    )
                    client = await building.client(flat)
                    out_wh, in_wh = counters[flat.name]
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await client.ws.send_json(
                            {
                                "type": "availability",
                                "ts": now_ms(),
                                "soc_pct": 10.0 if flat is low else 80.0,
                                "energy_wh": energy[flat.name],
                                "max_discharge_w": 3000.0,
                                "max_charge_w": 3000.0,
                                "battery_w": max(w, 0.0),
                                "participate": True,
                                "outage": True,
                                "bus": True,
                                "living_w": 400.0 if flat is low else 200.0,
                            }
                        )
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

        task = asyncio.create_task(feed())
        try:
            deadline = time.monotonic() + 20
            while True:
                latest: list[dict[str, Any]] = [
                    next(
                        (
                            m
                            for m in reversed((await building.client(f)).pushed)
                            if m["type"] == "bus_setpoint"
                        ),
                        {},
                    )
                    for f in building.flats
                ]
                # Until every availability has reached every node, a round's plan
                # may lack a giver; with the same inputs all nodes agree.
                if [m.get("w") for m in latest] == [-400, 310, 103]:
                    break
                assert time.monotonic() < deadline, latest
                await asyncio.sleep(0.2)
            assert all(m["active"] for m in latest)
            # Two support intervals and the receipt grace later, both sides have spoken.
            deadline = time.monotonic() + 40
            while True:
                kinds = _kinds(low.db)
                if kinds.get("receipt", 0) >= 2 and kinds.get("transfer", 0) >= 2:
                    break
                assert time.monotonic() < deadline, kinds
                await asyncio.sleep(0.5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    by_id, receipts = bus_entries(low.db)
    for body, ref in receipts:
        sent = by_id[ref]  # every receipt answers a transfer to this flat
        assert sent["to"] == low.author.hex()
        assert (body["start"], body["end"]) == (sent["start"], sent["end"])
    received = sum(int(body["mwh"]) for body, _ in receipts)
    answered = sum(int(by_id[ref]["mwh"]) for _, ref in receipts)
    # The giver said what it sent; the receiver what arrived: 400 of 413 W.
    assert 0.9 < received / answered < 1.0


def _kinds(db: Path) -> dict[str, int]:
    return dict(read_rows(db, "SELECT kind, count(*) FROM entries GROUP BY kind"))
