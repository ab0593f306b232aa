"""Battery figures: segments, exact window arithmetic, the incremental updater."""

from __future__ import annotations

from sidecar.apps.battery.figures import Day, window
from sidecar.apps.battery.points import point
from sidecar.apps.battery.segments import Kind, Segmenter
from sidecar.apps.battery.tracker import Tracker, recompute
from tests.sidecar.battery_support import DAY0_MS, DAY_MS, TZ, entries, flow

HOUR = 3_600_000


def _segments(
    stream: list[tuple[int, int, int | None, str | None]],
) -> list[tuple[Kind, int, int, int, int, int]]:
    """Segments of flows given as (bat_in, bat_out, soc, quality), an hour each."""
    cutter = Segmenter()
    found = []
    for index, (bat_in, bat_out, soc, quality) in enumerate(stream, start=1):
        start = DAY0_MS + index * HOUR
        entry = flow(
            index,
            start,
            start + HOUR,
            bat_in=bat_in,
            bat_out=bat_out,
            soc=soc,
            quality=quality,
        )
        flow_point = point(entry)
        assert flow_point is not None
        if (segment := cutter.add(flow_point)) is not None:
            found.append(
                (
                    segment.kind,
                    segment.soc_from,
                    segment.soc_to,
                    segment.energy,
                    segment.first[0],
                    segment.last[0],
                )
            )
    return found


def test_a_charge_runs_from_the_soc_before_it_to_its_last_flow() -> None:
    found = _segments(
        [
            (0, 0, 200_000, None),
            (500_000, 0, 425_000, None),
            (500_000, 0, 650_000, None),
            (0, 0, 650_000, None),
            (0, 300_000, 515_000, None),
            (0, 0, 515_000, None),
        ]
    )
    assert found == [
        (Kind.REST, 200_000, 200_000, 0, 0, 1)[:0]
        or (Kind.CHARGE, 200_000, 650_000, 1_000_000, 1, 3),
        (Kind.REST, 650_000, 650_000, 0, 3, 4),
        (Kind.DISCHARGE, 650_000, 515_000, 300_000, 4, 5),
    ]


def test_estimated_mixed_and_socless_flows_end_a_stretch() -> None:
    found = _segments(
        [
            (0, 0, 200_000, None),
            (500_000, 0, 425_000, None),
            (500_000, 0, 650_000, "estimated"),
            (500_000, 0, 700_000, None),
            (500_000, 0, 800_000, "reconciled"),
            (500_000, 0, None, None),
            (500_000, 0, 900_000, None),
            (100_000, 100_000, 900_000, None),
            (100_000, 0, 950_000, None),
        ]
    )
    # The first charge ends before the estimated flow; the estimated, reconciled
    # and SoC-less flows start nothing; a mixed flow can anchor the next stretch.
    assert found == [(Kind.CHARGE, 200_000, 425_000, 500_000, 1, 2)]


def test_a_hole_between_flows_ends_a_stretch() -> None:
    cutter = Segmenter()
    first = point(flow(1, 0, HOUR, soc=500_000))
    second = point(flow(2, HOUR, 2 * HOUR, bat_in=10, soc=510_000))
    third = point(flow(3, 3 * HOUR, 4 * HOUR, bat_in=10, soc=520_000))
    fourth = point(flow(4, 4 * HOUR, 5 * HOUR, soc=520_000))
    assert first
    assert second
    assert third
    assert fourth
    assert cutter.add(first) is None
    assert cutter.add(second) is None
    closed = cutter.add(third)
    assert closed is not None
    assert closed.last[0] == 2
    # The stretch after the hole has no SoC before it: nothing to close.
    assert cutter.add(fourth) is None


def test_window_arithmetic_is_exact_for_known_losses() -> None:
    day = Day(0)
    # A 2000 Wh battery, 95 % efficient each way: 1000 Wh in stores 950 Wh, a SoC
    # rise of 47.5 %; the same fall gives 902.5 Wh back.
    day.up_swing, day.up_energy, day.ups = 475_000, 1_000_000, 1
    day.down_swing, day.down_energy, day.downs = 475_000, 902_500, 1
    day.charged, day.discharged = 1_000_000, 902_500
    figures = window([day], 1000)
    assert figures.round_trip_ppm == 902_500
    assert figures.capacity_mwh == 2_000_000
    assert figures.cycles_milli == (1_000_000 + 902_500) * 500 // 2_000_000
    # One step of 0.1 % at each end of each segment, halved: 500 / 475 000 each.
    assert figures.capacity_uncertainty_mwh == 2_000_000 * 1052 // 1_000_000
    # Ten times the energy for the same SoC swings: ten times the capacity.
    day.up_energy, day.down_energy = 10_000_000, 9_025_000
    assert window([day], 1000).capacity_mwh == 20_000_000


def test_estimated_energy_is_reported_beside_the_measured() -> None:
    tracker = Tracker(TZ)
    stream = [
        flow(1, DAY0_MS, DAY0_MS + HOUR, bat_in=700, soc=100_000),
        flow(2, DAY0_MS + HOUR, DAY0_MS + 2 * HOUR, bat_in=300, quality="estimated"),
        flow(3, DAY0_MS + DAY_MS, DAY0_MS + DAY_MS + HOUR, bat_out=50, soc=90_000),
    ]
    for entry in stream:
        tracker.add(entry)
    report = tracker.report("BAT-1")
    assert report.days == 1
    assert (report.lifetime.charged, report.lifetime.estimated_in) == (700, 300)


def test_entries_of_other_kinds_and_other_serials_are_kept_apart() -> None:
    tracker = Tracker(TZ)
    tracker.add(flow(1, DAY0_MS, DAY0_MS + HOUR, bat_in=7, soc=1, serial="A"))
    tracker.add(flow(2, DAY0_MS + HOUR, DAY0_MS + 2 * HOUR, bat_in=9, serial="B"))
    assert sorted(tracker.batteries) == ["A", "B"]


def test_the_incremental_updater_equals_recomputing_from_scratch() -> None:
    stream = entries(40)
    tracker = Tracker(TZ)
    checked = 0
    for index, entry in enumerate(stream, start=1):
        tracker.add(entry)
        if index in (len(stream) // 3, 2 * len(stream) // 3 + 7, len(stream)):
            again = recompute(stream[:index], TZ)
            assert tracker.reports() == again.reports()
            checked += 1
    assert checked == 3
    report = tracker.report("LVPP-101-BAT")
    assert report.recent.capacity_mwh is not None
    # The simulated battery: 2000 Wh, 95 % each way.
    assert abs(report.recent.capacity_mwh - 2_000_000) < 10_000
    assert report.recent.round_trip_ppm is not None
    assert abs(report.recent.round_trip_ppm - 902_500) < 3_000
