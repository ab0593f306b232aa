"""Measured storage losses: they leave the pool at its share, and the records say so."""

from __future__ import annotations

import json
from pathlib import Path

from devkit import origin_ledger
from sidecar.apps.origin import certificates, checker, model
from sidecar.apps.origin.feeds import FeedView
from sidecar.apps.origin.hourly import PAIRS, Flat, Hour, Tracker
from sidecar.ledger import kinds
from sidecar.storage import origin_reads, store

HOUR_MS = 3_600_000
T0 = 1_765_000_800_000
AUTHOR = b"\x01" * 32
DAY_START = 1_764_514_800_000  # 2025-12-01 00:00 in Tokyo


def _hour(soc: int | None, **pairs: int) -> Hour:
    """An hour of the given transfers (``pv_battery=…``), all renewable but the grid."""
    hour = Hour(soc=soc)
    for number, (sender, receiver) in enumerate(PAIRS):
        mwh = pairs.get(f"{sender}_{receiver}", 0)
        hour.mwh[number] = mwh
        hour.ren[number] = 0 if sender == "grid" else mwh
    return hour


def _battery(*hours: Hour) -> Flat:
    flat = Flat(AUTHOR, building="b", floor="1", flat="101", serial="BAT-1")
    for index, hour in enumerate(hours):
        hour.rollup = (index + 1, bytes([index + 1]) * 32, index + 1, index + 1)
        flat.hours[T0 + index * HOUR_MS] = hour
    return flat


def test_capacity_is_the_geometric_mean_of_charge_and_discharge_ratios() -> None:
    """1 kWh in raises the SoC 45 %, 810 Wh out lowers it 45 %: a 2 kWh battery."""
    assert model.capacity(1_000_000, 450_000, 810_000, 450_000) == 2_000_000
    assert model.capacity(1_000_000, 450_000, 0, 0) is None


def test_losses_leave_the_pool_with_their_renewable_share() -> None:
    """Charged 1 kWh of PV, gave back 810 Wh at an empty SoC: 190 Wh were lost."""
    flat = _battery(
        _hour(0, pv_home=1_000),
        _hour(450_000, pv_battery=1_000_000),
        _hour(0, battery_home=810_000),
    )
    figures = model.compute({AUTHOR: flat})
    charged = figures[(AUTHOR, T0 + HOUR_MS)].storage
    assert (charged["loss"], charged["held"]) == (0, 1_000_000)  # no estimate yet
    emptied = figures[(AUTHOR, T0 + 2 * HOUR_MS)].storage
    assert emptied == {
        "charge": 0,
        "charge_ren": 0,
        "discharge": 810_000,
        "discharge_ren": 810_000,
        "loss": 190_000,
        "loss_ren": 190_000,
        "held": 0,
        "held_ren": 0,
    }
    made = certificates.bundle(figures[(AUTHOR, T0 + 2 * HOUR_MS)], flat, "UTC")
    assert made is not None
    record = made["storage"]
    assert isinstance(record, dict)
    assert (record["loss_wh"], record["loss_ren_wh"]) == (190, 190)


def test_a_mixed_pool_loses_at_its_share() -> None:
    """Half PV, half grid in the pool: the losses are half renewable."""
    flat = _battery(
        _hour(0, pv_home=1_000),
        _hour(450_000, pv_battery=500_000, grid_battery=500_000),
        _hour(0, battery_home=810_000),
    )
    emptied = model.compute({AUTHOR: flat})[(AUTHOR, T0 + 2 * HOUR_MS)].storage
    assert (emptied["loss"], emptied["loss_ren"]) == (190_000, 95_000)
    assert emptied["discharge_ren"] == 405_000


def test_without_a_stated_soc_nothing_is_measured_and_the_pool_keeps_it() -> None:
    """Rollups from before the SoC was stated: no losses, the pool holds the rest."""
    flat = _battery(
        _hour(None, pv_home=1_000),
        _hour(None, pv_battery=1_000_000),
        _hour(None, battery_home=810_000),
    )
    emptied = model.compute({AUTHOR: flat})[(AUTHOR, T0 + 2 * HOUR_MS)].storage
    assert (emptied["loss"], emptied["held"], emptied["held_ren"]) == (
        0,
        190_000,
        190_000,
    )


def _record_lines(*records: dict[str, int]) -> list[str]:
    lines = []
    for index, record in enumerate(records):
        period = [
            certificates.local_time(T0 + index * HOUR_MS, "UTC"),
            certificates.local_time(T0 + (index + 1) * HOUR_MS, "UTC"),
        ]
        bundle = {
            "type": "bundle",
            "log": AUTHOR.hex(),
            "period": period,
            "location": {"floor": "1", "flat": "101"},
            "entries": {"rollup": "00", "seq": 1, "first": 1, "last": 1},
            "storage": {"method": certificates.STORAGE_METHOD, **record},
            "certificates": [],
        }
        lines.append(json.dumps(bundle))
    return lines


def _record(charge: int, out: int, loss: int, held: int) -> dict[str, int]:
    return {
        "charge_wh": charge,
        "charge_ren_wh": charge,
        "discharge_wh": out,
        "discharge_ren_wh": out,
        "loss_wh": loss,
        "loss_ren_wh": loss,
        "held_wh": held,
        "held_ren_wh": held,
    }


def test_the_verifier_names_storage_out_and_losses_above_what_went_in() -> None:
    """A battery's records out of balance are faulted, balanced ones are not."""
    honest = checker.check(
        _record_lines(_record(1000, 0, 0, 1000), _record(0, 810, 190, 0)), FeedView()
    )
    assert "storage_out_exceeds_in" not in {fault.code for fault in honest.faults}
    inflated = checker.check(
        _record_lines(_record(1000, 0, 0, 1000), _record(0, 900, 190, 0)), FeedView()
    )
    assert [f.code for f in inflated.faults].count("storage_out_exceeds_in") == 1


def test_a_written_ledger_measures_the_batterys_true_losses(tmp_path: Path) -> None:
    """Two days of a battery that stores 95 % of its charge: the losses come out 5 %.

    Only the hourly rollups are read (as after retention and by the offline
    checker), and the rest of the charge left the battery as discharge.
    """
    profile = origin_ledger.profiles(2)[1]
    building = origin_ledger.write_building(
        tmp_path / "ledger.db",
        [profile],
        start_ms=DAY_START,
        seconds=2 * 86_400,
        interval_ms=10_000,
    )
    origin_ledger.close(building)
    conn = store.connect(tmp_path / "ledger.db", readonly=True)
    try:
        tracker = Tracker("Asia/Tokyo")
        for entry in origin_reads.origin_entries(conn):
            if entry.kind != kinds.FLOW:
                tracker.add(entry)
    finally:
        conn.close()
    storage = model.summarize(
        model.compute(tracker.flats, closed_only=True).values()
    ).storage
    true_losses = storage["charge"] * 5 // 100
    assert abs(storage["loss"] - true_losses) <= true_losses // 20
    assert storage["discharge"] + storage["loss"] <= storage["charge"]
    assert 0 < storage["loss_ren"] <= storage["loss"]
