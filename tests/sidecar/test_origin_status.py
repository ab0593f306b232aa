"""The three statuses of a certificate: claimed, cancelled and active."""

from __future__ import annotations

from sidecar.apps.origin import certificates, model
from sidecar.apps.origin.hourly import PAIRS, Flat, Hour

HOUR_MS = 3_600_000
T0 = 1_765_000_800_000


def _flat(author: bytes, name: str, **pairs: int) -> Flat:
    """A flat with one closed hour of the given transfers (``pv_grid=…``, mWh)."""
    hour = Hour(rollup=(1, author, 1, 1))
    for number, (sender, receiver) in enumerate(PAIRS):
        mwh = pairs.get(f"{sender}_{receiver}", 0)
        hour.mwh[number] = mwh
        hour.ren[number] = 0 if sender == "grid" else mwh
    return Flat(author, building="b", floor="1", flat=name, hours={T0: hour})


def test_each_use_has_its_status_and_all_three_occur() -> None:
    """Consumed: claimed; stored or handed on: cancelled; exported to the grid: active.

    A sunny flat exports 3 kWh and stores 1 kWh; its neighbour imports 1 kWh, so
    1 kWh of the export is handed on and 2 kWh go out to the grid.
    """
    sunny, neighbour = b"\x01" * 32, b"\x02" * 32
    flats = {
        sunny: _flat(
            sunny, "101", pv_home=500_000, pv_battery=1_000_000, pv_grid=3_000_000
        ),
        neighbour: _flat(neighbour, "102", grid_home=1_000_000),
    }
    figures = model.compute(flats)
    statuses: dict[tuple[str, str], str] = {}
    for author, flat in flats.items():
        made = certificates.bundle(figures[(author, T0)], flat, "UTC")
        assert made is not None
        certs = made["certificates"]
        assert isinstance(certs, list)
        for cert in certs:
            assert isinstance(cert, dict)
            statuses[(str(cert["source"]), str(cert["use"]))] = str(cert["status"])
    assert statuses == {
        ("pv", "consumption"): "claimed",
        ("pv", "storage"): "cancelled",
        ("pv", "export_neighbours"): "cancelled",
        ("pv", "export_grid"): "active",
        ("neighbours", "consumption"): "claimed",
    }
