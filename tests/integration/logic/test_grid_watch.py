"""The grid watch declares outages fast, ignores blips, and never acts on silence."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from custom_components.local_vpp.backup.grid_watch import (
    GridState,
    GridWatch,
    GridWatchSettings,
    Transition,
    Verdict,
)

NOMINAL_V = 100.0
NOMINAL_HZ = 60.0


@dataclass(frozen=True)
class Sample:
    voltage_v: float | None
    frequency_hz: float | None
    connected: bool | None


GOOD = Sample(NOMINAL_V, NOMINAL_HZ, True)
DEAD = Sample(0.0, 0.0, False)
SILENT = Sample(None, None, None)
SAG = Sample(60.0, NOMINAL_HZ, True)

type Grid = Callable[[float], Sample]


@dataclass
class Run:
    """What the watch did over a run of polls."""

    transitions: list[Transition]
    states: list[tuple[float, GridState]]
    backup: list[tuple[float, bool]]

    def first(self, to_state: GridState) -> Transition | None:
        return next((t for t in self.transitions if t.to_state is to_state), None)

    def backup_changes(self) -> list[tuple[float, bool]]:
        changes: list[tuple[float, bool]] = []
        previous = False
        for at, wanted in self.backup:
            if wanted != previous:
                changes.append((at, wanted))
                previous = wanted
        return changes


def poll(
    watch: GridWatch,
    grid: Grid,
    interval_s: float,
    until_s: float,
    start_s: float = 0,
    *,
    confirmation_read: bool = False,
) -> Run:
    """Poll ``grid`` every ``interval_s`` from ``start_s`` while before ``until_s``.

    With ``confirmation_read``, also read ``confirm_s`` after each move to ``suspect``,
    as the integration does.
    """
    run = Run([], [], [])
    k = 0
    confirmations: list[float] = []
    # Times as start + k × interval, as a poll timer would produce them.
    while (at := min([start_s + k * interval_s, *confirmations])) < until_s:
        if confirmations and at == confirmations[0]:
            confirmations.pop(0)
        else:
            k += 1
        sample = grid(at)
        transition = watch.update(
            at,
            voltage_v=sample.voltage_v,
            frequency_hz=sample.frequency_hz,
            connected=sample.connected,
        )
        if transition is not None:
            run.transitions.append(transition)
            if confirmation_read and transition.to_state is GridState.SUSPECT:
                confirmations.append(at + watch.settings.confirm_s)
        run.states.append((at, watch.state))
        run.backup.append((at, watch.backup_wanted))
    return run


def feed(watch: GridWatch, samples: list[tuple[float, Sample]]) -> list[Transition]:
    transitions = []
    for at, sample in samples:
        transition = watch.update(
            at,
            voltage_v=sample.voltage_v,
            frequency_hz=sample.frequency_hz,
            connected=sample.connected,
        )
        if transition is not None:
            transitions.append(transition)
    return transitions


def window(
    start_s: float, end_s: float, inside: Sample, outside: Sample = GOOD
) -> Grid:
    """``inside`` during [start_s, end_s), ``outside`` otherwise."""
    return lambda t: inside if start_s <= t < end_s else outside


def in_outage(settings: GridWatchSettings | None = None) -> GridWatch:
    """A watch that has just declared an outage at t = 2 (first bad sample at 1)."""
    watch = GridWatch(settings)
    feed(watch, [(0.0, GOOD), (1.0, DEAD), (2.0, DEAD)])
    assert watch.underlying is GridState.OUTAGE
    return watch


# --- Judging one sample -----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "sample", "verdict"),
    [
        # 100 V, 60 Hz area: under-voltage 80 V, over-voltage 115 V, 58.8–61.2 Hz.
        (GridWatchSettings(), Sample(80.0, 60.0, True), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(79.99, 60.0, True), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(115.0, 60.0, True), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(115.01, 60.0, True), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(100.0, 58.8, True), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(100.0, 58.79, True), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(100.0, 61.2, True), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(100.0, 61.21, True), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(100.0, 50.0, True), Verdict.OUT_OF_BAND),
        # 50 Hz area: 48.5–51.0 Hz.
        (GridWatchSettings(area_hz=50), Sample(100.0, 50.0, True), Verdict.IN_BAND),
        (GridWatchSettings(area_hz=50), Sample(100.0, 48.5, True), Verdict.IN_BAND),
        (
            GridWatchSettings(area_hz=50),
            Sample(100.0, 48.49, True),
            Verdict.OUT_OF_BAND,
        ),
        (GridWatchSettings(area_hz=50), Sample(100.0, 51.0, True), Verdict.IN_BAND),
        (
            GridWatchSettings(area_hz=50),
            Sample(100.0, 51.01, True),
            Verdict.OUT_OF_BAND,
        ),
        (GridWatchSettings(area_hz=50), Sample(100.0, 60.0, True), Verdict.OUT_OF_BAND),
        # 230 V nominal: 184 V to 264.5 V.
        (
            GridWatchSettings(nominal_voltage_v=230),
            Sample(184.0, 60.0, True),
            Verdict.IN_BAND,
        ),
        (
            GridWatchSettings(nominal_voltage_v=230),
            Sample(183.9, 60.0, True),
            Verdict.OUT_OF_BAND,
        ),
        (
            GridWatchSettings(nominal_voltage_v=230),
            Sample(264.5, 60.0, True),
            Verdict.IN_BAND,
        ),
        (
            GridWatchSettings(nominal_voltage_v=230),
            Sample(264.6, 60.0, True),
            Verdict.OUT_OF_BAND,
        ),
        (
            GridWatchSettings(nominal_voltage_v=230),
            Sample(100.0, 60.0, True),
            Verdict.OUT_OF_BAND,
        ),
        # The connection state alone decides when it says disconnected.
        (GridWatchSettings(), Sample(100.0, 60.0, False), Verdict.OUT_OF_BAND),
        # Partial data is judged on what is there.
        (GridWatchSettings(), Sample(100.0, None, None), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(None, 60.0, None), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(None, None, True), Verdict.IN_BAND),
        (GridWatchSettings(), Sample(None, None, False), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(0.0, None, None), Verdict.OUT_OF_BAND),
        (GridWatchSettings(), Sample(None, 0.0, None), Verdict.OUT_OF_BAND),
        # Nothing known: no data, never "grid lost".
        (GridWatchSettings(), Sample(None, None, None), Verdict.NO_DATA),
        (GridWatchSettings(), Sample(math.nan, math.nan, None), Verdict.NO_DATA),
    ],
)
def test_judge(settings: GridWatchSettings, sample: Sample, verdict: Verdict) -> None:
    assert settings.judge(sample.voltage_v, sample.frequency_hz, sample.connected) is (
        verdict
    )


@pytest.mark.parametrize(("area_hz", "band"), [(50, (48.5, 51.0)), (60, (58.8, 61.2))])
def test_frequency_band_follows_area(area_hz: int, band: tuple[float, float]) -> None:
    assert GridWatchSettings(area_hz=area_hz).frequency_band_hz == band


def test_defaults_follow_jeac_9701_for_a_100_v_flat() -> None:
    settings = GridWatchSettings()
    assert settings.under_voltage_v == 80.0
    assert settings.over_voltage_v == 115.0
    assert settings.area_hz == 60
    assert settings.confirm_s == 0.22
    assert settings.confirm_samples == 2
    assert settings.reconnect_delay_s == 300.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nominal_voltage_v": 0}, "nominal voltage"),
        ({"area_hz": 55}, "frequency area"),
        ({"under_voltage_pct": 100}, "under-voltage"),
        ({"under_voltage_pct": 0}, "under-voltage"),
        ({"over_voltage_pct": 100}, "under-voltage"),
        ({"confirm_s": -0.1}, "confirmation time"),
        ({"confirm_samples": 1}, "at least 2 samples"),
        ({"reconnect_delay_s": -1}, "reconnection delay"),
    ],
)
def test_meaningless_settings_are_refused(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GridWatchSettings(**kwargs)  # type: ignore[arg-type]


# --- Start ---------------------------------------------------------------------------


def test_unknown_before_any_data() -> None:
    watch = GridWatch()
    assert watch.state is GridState.UNKNOWN
    assert watch.underlying is GridState.UNKNOWN
    assert not watch.backup_wanted
    assert watch.outage_started_at is None
    assert watch.outage_duration_s(10.0) is None
    assert watch.reconnect_remaining_s is None
    assert feed(watch, [(0.0, SILENT), (1.0, SILENT)]) == []
    assert watch.state is GridState.UNKNOWN


@pytest.mark.parametrize(
    ("sample", "to_state"), [(GOOD, GridState.GRID_OK), (DEAD, GridState.SUSPECT)]
)
def test_first_data_decides(sample: Sample, to_state: GridState) -> None:
    watch = GridWatch()
    transitions = feed(watch, [(5.0, sample)])
    assert transitions == [Transition(GridState.UNKNOWN, to_state, 5.0, None)]
    assert transitions[0].outage_duration_s is None
    assert not transitions[0].starts_outage
    assert not transitions[0].ends_outage
    assert watch.state is to_state


def test_outage_from_start_needs_confirmation_too() -> None:
    watch = GridWatch()
    transitions = feed(watch, [(0.0, DEAD), (0.25, DEAD)])
    assert [t.to_state for t in transitions] == [GridState.SUSPECT, GridState.OUTAGE]
    assert transitions[1].starts_outage
    assert watch.outage_started_at == 0.0


# --- Confirming a grid loss -------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_s", "confirmation_read", "declared_after_s"),
    [
        (0.25, False, 0.25),  # on the second bad poll
        (0.5, False, 0.5),
        (1.0, False, 1.0),
        (2.0, False, 2.0),
        (0.25, True, 0.22),  # on the confirmation read, before the next poll
        (0.5, True, 0.22),
        (1.0, True, 0.22),
        (2.0, True, 0.22),
    ],
)
@pytest.mark.parametrize("phase", [0.0, 0.01, 0.1, 0.13, 0.24])
def test_outage_is_declared_in_time(
    interval_s: float, confirmation_read: bool, declared_after_s: float, phase: float
) -> None:
    lost_at = 10.0 + phase * interval_s / 0.25
    watch = GridWatch()
    run = poll(
        watch,
        window(lost_at, math.inf, DEAD),
        interval_s,
        20.0,
        confirmation_read=confirmation_read,
    )
    suspect = run.first(GridState.SUSPECT)
    outage = run.first(GridState.OUTAGE)
    assert suspect is not None
    assert outage is not None
    first_bad = suspect.at
    assert first_bad >= lost_at
    assert outage.at - first_bad == pytest.approx(declared_after_s)
    # Declared on the second bad sample.
    assert [at for at, _ in run.states if first_bad <= at <= outage.at] == [
        first_bad,
        outage.at,
    ]
    # Within two poll intervals of the loss (under 0.5 s when polling every 0.25 s).
    assert outage.at - lost_at < 2 * interval_s
    assert outage.starts_outage
    assert outage.outage_started_at == first_bad
    assert watch.outage_started_at == first_bad


@pytest.mark.parametrize("sample", [DEAD, SAG, Sample(130.0, 60.0, True)])
def test_each_kind_of_bad_sample_confirms(sample: Sample) -> None:
    watch = GridWatch()
    run = poll(watch, window(5.0, math.inf, sample), 0.25, 10.0)
    outage = run.first(GridState.OUTAGE)
    assert outage is not None
    assert outage.at == 5.25


@pytest.mark.parametrize("interval_s", [0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("sag_s", [0.2, 0.21])  # the simulator's default; just under
@pytest.mark.parametrize("confirmation_read", [False, True])
@pytest.mark.parametrize("phase", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_sag_shorter_than_confirmation_is_ignored(
    interval_s: float, sag_s: float, confirmation_read: bool, phase: float
) -> None:
    start = 10.0 + phase * interval_s
    watch = GridWatch()
    run = poll(
        watch,
        window(start, start + sag_s, SAG),
        interval_s,
        20.0,
        confirmation_read=confirmation_read,
    )
    seen = [at for at, _ in run.states if start <= at < start + sag_s]
    if interval_s < sag_s:
        # Two bad samples, but less than confirm_s apart.
        assert len(seen) >= 2
    # Noticed whenever a sample fell inside it, but never acted on.
    assert (run.first(GridState.SUSPECT) is not None) == bool(seen)
    assert run.first(GridState.OUTAGE) is None
    assert not any(wanted for _, wanted in run.backup)
    assert watch.state is GridState.GRID_OK


@pytest.mark.parametrize(
    ("interval_s", "sag_s"), [(0.25, 0.24), (0.5, 0.45), (1.0, 0.9)]
)
@pytest.mark.parametrize("phase", [0.0, 0.05, 0.1, 0.2])
def test_sag_shorter_than_the_poll_interval_is_ignored(
    interval_s: float, sag_s: float, phase: float
) -> None:
    start = 10.0 + phase
    watch = GridWatch()
    run = poll(watch, window(start, start + sag_s, SAG), interval_s, 20.0)
    assert run.first(GridState.OUTAGE) is None
    assert not any(wanted for _, wanted in run.backup)
    assert watch.state is GridState.GRID_OK


@pytest.mark.parametrize(
    ("confirmation_read", "back_at"), [(False, 10.25), (True, 10.22)]
)
def test_sag_caught_by_one_poll_goes_suspect_and_back(
    confirmation_read: bool, back_at: float
) -> None:
    watch = GridWatch()
    run = poll(
        watch,
        window(10.0, 10.2, SAG),
        0.25,
        11.0,
        confirmation_read=confirmation_read,
    )
    assert [(t.from_state, t.to_state, t.at) for t in run.transitions] == [
        (GridState.UNKNOWN, GridState.GRID_OK, 0.0),
        (GridState.GRID_OK, GridState.SUSPECT, 10.0),
        (GridState.SUSPECT, GridState.GRID_OK, back_at),
    ]


@pytest.mark.parametrize(
    ("interval_s", "confirmation_read", "start_s", "end_s", "declared_at"),
    [
        (0.25, False, 10.0, 10.26, 10.25),  # 0.26 s, seen at 10.0 and 10.25
        (0.25, False, 10.0, 10.6, 10.25),
        (0.25, False, 9.9, 10.5, 10.25),
        (0.5, False, 10.0, 10.51, 10.5),
        (1.0, False, 10.0, 11.01, 11.0),
        (0.25, True, 10.0, 10.23, 10.22),  # 0.23 s, seen by the confirmation read
        (1.0, True, 9.5, 10.3, 10.22),
    ],
)
def test_disturbance_seen_by_two_samples_confirm_s_apart_is_an_outage(
    interval_s: float,
    confirmation_read: bool,
    start_s: float,
    end_s: float,
    declared_at: float,
) -> None:
    watch = GridWatch()
    run = poll(
        watch,
        window(start_s, end_s, SAG),
        interval_s,
        20.0,
        confirmation_read=confirmation_read,
    )
    bad = [at for at, _ in run.states if start_s <= at < end_s]
    outage = run.first(GridState.OUTAGE)
    assert outage is not None
    assert outage.starts_outage
    assert outage.at == pytest.approx(declared_at)
    assert outage.outage_started_at == bad[0]
    assert outage.at - bad[0] >= 0.22 - 1e-9
    # Over when the grid is back, but the backup waits the reconnection delay.
    restoring = run.first(GridState.RESTORING)
    assert restoring is not None
    assert restoring.at >= end_s
    assert watch.backup_wanted


def test_good_sample_breaks_the_run() -> None:
    watch = GridWatch()
    # Unbroken, 1.0 and 1.5 would confirm.
    transitions = feed(watch, [(0.0, GOOD), (1.0, DEAD), (1.25, GOOD), (1.5, DEAD)])
    assert GridState.OUTAGE not in [t.to_state for t in transitions]
    assert watch.underlying is GridState.SUSPECT
    feed(watch, [(1.75, DEAD)])
    assert watch.underlying is GridState.OUTAGE
    assert watch.outage_started_at == 1.5


def test_custom_confirmation() -> None:
    settings = GridWatchSettings(confirm_s=1.0, confirm_samples=3)
    watch = GridWatch(settings)
    assert watch.settings is settings
    # Three samples but only 0.5 s: not yet; at 1.0 s it is.
    feed(watch, [(0.0, GOOD), (1.0, DEAD), (1.25, DEAD), (1.5, DEAD)])
    assert watch.underlying is GridState.SUSPECT
    feed(watch, [(2.0, DEAD)])
    assert watch.underlying is GridState.OUTAGE
    # Enough time but only two samples is not enough either.
    watch = GridWatch(settings)
    feed(watch, [(0.0, GOOD), (1.0, DEAD), (5.0, DEAD)])
    assert watch.underlying is GridState.SUSPECT


def test_confirmation_tolerates_float_poll_times() -> None:
    # 0.11 s steps summed as floats from 10.1 land a hair under 0.22 s.
    at = [10.1]
    for _ in range(2):
        at.append(at[-1] + 0.11)
    assert at[2] - at[0] < 0.22
    watch = GridWatch()
    feed(watch, [(at[0], DEAD), (at[1], DEAD)])
    assert watch.underlying is GridState.SUSPECT
    feed(watch, [(at[2], DEAD)])
    assert watch.underlying is GridState.OUTAGE
    assert watch.outage_started_at == at[0]
    # Really short of 0.22 s is still short.
    watch = GridWatch()
    feed(watch, [(10.1, DEAD), (10.21, DEAD), (10.3199, DEAD)])
    assert watch.underlying is GridState.SUSPECT


# --- Coming back ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_s", "declared_at", "delay_s"),
    [(1.0, 11.0, 300.0), (0.25, 10.25, 300.0), (0.5, 10.5, 10.0), (2.0, 12.0, 60.0)],
)
def test_grid_ok_only_after_the_reconnection_delay(
    interval_s: float, declared_at: float, delay_s: float
) -> None:
    watch = GridWatch(GridWatchSettings(reconnect_delay_s=delay_s))
    grid = window(10.0, 100.0, DEAD)
    run = poll(watch, grid, interval_s, 100.0 + delay_s + 10.0)
    restoring = run.first(GridState.RESTORING)
    assert restoring is not None
    assert restoring.at == 100.0
    ended = run.transitions[-1]
    assert ended.from_state is GridState.RESTORING
    assert ended.to_state is GridState.GRID_OK
    assert ended.at == pytest.approx(100.0 + delay_s)
    assert ended.ends_outage
    assert ended.outage_started_at == 10.0
    assert ended.outage_duration_s == pytest.approx(90.0 + delay_s)
    assert run.backup_changes() == [
        (declared_at, True),
        (pytest.approx(100.0 + delay_s), False),
    ]
    assert watch.outage_started_at is None
    assert watch.reconnect_remaining_s is None


def test_restoring_counts_down() -> None:
    watch = in_outage(GridWatchSettings(reconnect_delay_s=60.0))
    feed(watch, [(10.0, GOOD)])
    assert watch.underlying is GridState.RESTORING
    assert watch.backup_wanted
    assert watch.reconnect_remaining_s == 60.0
    feed(watch, [(11.0, GOOD), (12.0, GOOD)])
    assert watch.reconnect_remaining_s == 58.0
    assert watch.outage_duration_s(12.0) == 11.0


def test_zero_delay_reconnects_on_the_next_good_sample() -> None:
    watch = in_outage(GridWatchSettings(reconnect_delay_s=0.0))
    feed(watch, [(10.0, GOOD)])
    assert watch.underlying is GridState.RESTORING
    feed(watch, [(11.0, GOOD)])
    assert watch.underlying is GridState.GRID_OK


def test_relapse_restarts_the_delay() -> None:
    watch = in_outage()
    samples = [(10.0 + k, GOOD) for k in range(200)]  # in band 10 … 209
    samples.append((210.0, SAG))  # one bad sample, no confirmation needed
    samples += [(211.0 + k, GOOD) for k in range(400)]
    transitions = feed(watch, samples)
    assert [(t.from_state, t.to_state, t.at) for t in transitions] == [
        (GridState.OUTAGE, GridState.RESTORING, 10.0),
        (GridState.RESTORING, GridState.OUTAGE, 210.0),
        (GridState.OUTAGE, GridState.RESTORING, 211.0),
        (GridState.RESTORING, GridState.GRID_OK, 511.0),
    ]
    # One outage from first bad sample to the end, relapse included.
    assert {t.outage_started_at for t in transitions} == {1.0}
    assert not any(t.starts_outage for t in transitions)


@pytest.mark.parametrize(
    ("up_s", "down_s"), [(1.0, 1.0), (5.0, 0.5), (2.0, 0.3), (30.0, 10.0)]
)
def test_flapping_grid_does_not_flap_the_backup(up_s: float, down_s: float) -> None:
    period = up_s + down_s

    def grid(t: float) -> Sample:
        if t < 10.0:
            return GOOD
        if t < 20.0:
            return DEAD
        if t < 200.0:
            return GOOD if (t - 20.0) % period < up_s else DEAD
        return GOOD

    watch = GridWatch()
    run = poll(watch, grid, 0.25, 600.0)
    last_bad = max(at for at, _ in run.states if grid(at) is DEAD)
    # Released 300 s after the first good poll following the last drop-out.
    assert run.backup_changes() == [(10.25, True), (last_bad + 0.25 + 300.0, False)]
    assert sum(t.starts_outage for t in run.transitions) == 1
    assert sum(t.ends_outage for t in run.transitions) == 1


@pytest.mark.parametrize("interval_s", [0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("confirmation_read", [False, True])
def test_brief_dips_on_a_healthy_grid_never_start_a_backup(
    interval_s: float, confirmation_read: bool
) -> None:
    def grid(t: float) -> Sample:
        # A 0.2 s dip every 2 s for a minute.
        return SAG if t % 2.0 < 0.2 else GOOD

    watch = GridWatch()
    run = poll(watch, grid, interval_s, 60.0, confirmation_read=confirmation_read)
    assert sum(t.to_state is GridState.SUSPECT for t in run.transitions) == 30
    assert not any(wanted for _, wanted in run.backup)


# --- Lost communication -------------------------------------------------------------


def reach(state: GridState) -> GridWatch:
    """A watch in ``state`` at t = 20 with live data."""
    watch = GridWatch()
    match state:
        case GridState.GRID_OK:
            feed(watch, [(20.0, GOOD)])
        case GridState.SUSPECT:
            feed(watch, [(19.0, GOOD), (20.0, DEAD)])
        case GridState.OUTAGE:
            feed(watch, [(18.0, GOOD), (19.0, DEAD), (20.0, DEAD)])
        case GridState.RESTORING:
            feed(watch, [(17.0, GOOD), (18.0, DEAD), (19.0, DEAD), (20.0, GOOD)])
    assert watch.underlying is state
    return watch


@pytest.mark.parametrize(
    "state",
    [
        GridState.UNKNOWN,
        GridState.GRID_OK,
        GridState.SUSPECT,
        GridState.OUTAGE,
        GridState.RESTORING,
    ],
)
@pytest.mark.parametrize("gap_s", [0.25, 5.0, 3600.0])
def test_lost_communication_does_nothing(state: GridState, gap_s: float) -> None:
    watch = reach(state)
    wanted = watch.backup_wanted
    started = watch.outage_started_at
    remaining = watch.reconnect_remaining_s
    silent = [(20.25 + k * 0.25, SILENT) for k in range(int(gap_s / 0.25))]
    assert feed(watch, silent) == []
    assert watch.state is GridState.UNKNOWN
    assert watch.underlying is state
    assert watch.backup_wanted is wanted
    assert watch.outage_started_at == started
    assert watch.reconnect_remaining_s == remaining


def test_silence_then_the_same_data_resumes() -> None:
    watch = reach(GridState.OUTAGE)
    feed(watch, [(21.0, SILENT)])
    assert watch.state is GridState.UNKNOWN
    assert feed(watch, [(22.0, DEAD)]) == []
    assert watch.state is GridState.OUTAGE


def test_gap_breaks_a_confirmation_run() -> None:
    watch = reach(GridState.SUSPECT)
    # Bad, silent, bad: the samples either side of the gap are not one run (as one,
    # 20.0 and 20.5 would confirm).
    assert feed(watch, [(20.25, SILENT), (20.5, DEAD)]) == []
    assert watch.underlying is GridState.SUSPECT
    # 0.1 s into the new run: not yet.
    assert feed(watch, [(20.6, DEAD)]) == []
    assert watch.underlying is GridState.SUSPECT
    transitions = feed(watch, [(20.75, DEAD)])
    assert transitions[0].starts_outage
    assert watch.outage_started_at == 20.5


def test_gap_then_good_sample_clears_a_suspicion() -> None:
    watch = reach(GridState.SUSPECT)
    transitions = feed(watch, [(21.0, SILENT), (22.0, GOOD)])
    assert [t.to_state for t in transitions] == [GridState.GRID_OK]


def test_unwatched_time_does_not_count_towards_reconnection() -> None:
    watch = reach(GridState.RESTORING)
    feed(watch, [(21.0, GOOD), (22.0, GOOD)])
    assert watch.reconnect_remaining_s == 298.0
    # An hour without data, then good samples again.
    feed(watch, [(23.0 + k, SILENT) for k in range(3600)])
    feed(watch, [(3700.0, GOOD)])
    assert watch.underlying is GridState.RESTORING
    assert watch.reconnect_remaining_s == 298.0
    transitions = feed(watch, [(3700.0 + k, GOOD) for k in range(1, 299)])
    assert [t.at for t in transitions] == [3998.0]
    assert transitions[0].ends_outage


def test_a_whole_outage_without_data_keeps_the_backup() -> None:
    watch = reach(GridState.OUTAGE)
    run = poll(watch, lambda _t: SILENT, 1.0, 86_400.0, start_s=21.0)
    assert run.transitions == []
    assert all(wanted for _, wanted in run.backup)
    assert {state for _, state in run.states} == {GridState.UNKNOWN}


# --- Restart mid-outage ---------------------------------------------------------------


@pytest.mark.parametrize("state", [GridState.OUTAGE, GridState.RESTORING])
def test_snapshot_round_trip_mid_outage(state: GridState) -> None:
    watch = reach(state)
    feed(watch, [(21.0, GOOD if state is GridState.RESTORING else DEAD)])
    # Saved at monotonic 21.0 = Unix 1_750_000_021.
    stored = json.loads(json.dumps(watch.to_dict(now=21.0, wall_now=1_750_000_021.0)))
    # Home Assistant comes back 60 s later; the monotonic clock restarted near 5.
    restored = GridWatch.from_dict(stored, now=5.0, wall_now=1_750_000_081.0)
    assert restored is not None
    assert restored.state is state
    assert restored.backup_wanted
    # The outage had lasted since its first bad sample, plus 60 s away.
    started = watch.outage_started_at
    assert started is not None
    lasted_s = 21.0 - started + 60.0
    assert restored.outage_started_at == pytest.approx(5.0 - lasted_s)
    assert restored.outage_duration_s(5.0) == pytest.approx(lasted_s)
    if state is GridState.RESTORING:
        # One second in band before the restart; the 60 s away do not count.
        assert restored.reconnect_remaining_s == pytest.approx(299.0)


def test_restart_in_outage_does_not_announce_it_again() -> None:
    watch = reach(GridState.OUTAGE)
    stored = watch.to_dict(now=20.0, wall_now=1000.0)
    restored = GridWatch.from_dict(stored, now=0.0, wall_now=1030.0)
    assert restored is not None
    assert feed(restored, [(0.5, DEAD), (1.0, DEAD), (1.5, SILENT), (2.0, DEAD)]) == []
    assert restored.backup_wanted


def test_restart_in_restoring_keeps_counting_from_where_it_was() -> None:
    settings = GridWatchSettings(reconnect_delay_s=10.0)
    watch = GridWatch(settings)
    feed(
        watch,
        [(0.0, GOOD), (1.0, DEAD), (2.0, DEAD)] + [(3.0 + k, GOOD) for k in range(7)],
    )
    assert watch.reconnect_remaining_s == 4.0
    restored = GridWatch.from_dict(
        watch.to_dict(now=9.0, wall_now=109.0), settings, now=50.0, wall_now=200.0
    )
    assert restored is not None
    transitions = feed(restored, [(50.0 + k, GOOD) for k in range(5)])
    assert [(t.to_state, t.at) for t in transitions] == [(GridState.GRID_OK, 54.0)]
    # Began at Unix 101 (1.0 on the old clock), ended at Unix 204.
    assert transitions[0].outage_duration_s == pytest.approx(103.0)


@pytest.mark.parametrize(
    "state", [GridState.UNKNOWN, GridState.GRID_OK, GridState.SUSPECT]
)
def test_snapshot_round_trip_outside_an_outage(state: GridState) -> None:
    watch = reach(state)
    restored = GridWatch.from_dict(
        watch.to_dict(now=20.0, wall_now=1000.0), now=0.0, wall_now=1000.0
    )
    assert restored is not None
    assert restored.state is state
    assert not restored.backup_wanted
    assert restored.outage_started_at is None


def test_restored_suspicion_needs_a_fresh_run() -> None:
    watch = reach(GridState.SUSPECT)
    restored = GridWatch.from_dict(
        watch.to_dict(now=20.0, wall_now=1000.0), now=0.0, wall_now=1001.0
    )
    assert restored is not None
    # The bad sample before the restart (1 s ago) does not count.
    assert feed(restored, [(0.0, DEAD)]) == []
    assert restored.underlying is GridState.SUSPECT
    assert feed(restored, [(0.25, DEAD)])[0].starts_outage


def test_new_settings_apply_to_a_restored_watch() -> None:
    watch = reach(GridState.RESTORING)
    stored = watch.to_dict(now=20.0, wall_now=1000.0)
    restored = GridWatch.from_dict(
        stored, GridWatchSettings(reconnect_delay_s=30.0), now=20.0, wall_now=1000.0
    )
    assert restored is not None
    assert restored.reconnect_remaining_s == 30.0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {
            "version": 2,
            "underlying": "outage",
            "outage_started_wall": 1.0,
            "in_band_s": 0,
        },
        {
            "version": 1,
            "underlying": "dark",
            "outage_started_wall": 1.0,
            "in_band_s": 0,
        },
        {
            "version": 1,
            "underlying": "outage",
            "outage_started_wall": "x",
            "in_band_s": 0,
        },
        {"version": 1, "underlying": "outage", "outage_started_wall": 1.0},
    ],
)
def test_foreign_snapshot_is_refused(data: dict[str, object]) -> None:
    assert GridWatch.from_dict(data, now=0.0, wall_now=0.0) is None


# --- A 230 V, 50 Hz flat --------------------------------------------------------------


def test_a_european_flat_end_to_end() -> None:
    settings = GridWatchSettings(
        nominal_voltage_v=230.0, area_hz=50, reconnect_delay_s=60
    )
    good = Sample(231.0, 50.02, True)
    low = Sample(170.0, 50.0, True)

    def grid(t: float) -> Sample:
        return low if 10.0 <= t < 30.0 else good

    watch = GridWatch(settings)
    run = poll(watch, grid, 0.5, 100.0)
    assert [(t.to_state, t.at) for t in run.transitions] == [
        (GridState.GRID_OK, 0.0),
        (GridState.SUSPECT, 10.0),
        (GridState.OUTAGE, 10.5),
        (GridState.RESTORING, 30.0),
        (GridState.GRID_OK, 90.0),
    ]
    # A Japanese 100 V reading would be an outage here.
    assert settings.judge(100.0, 50.0, True) is Verdict.OUT_OF_BAND
