"""battery_state entries: when the node writes one, their schema, their anomalies."""

from __future__ import annotations

import pytest

from sidecar.apps.battery import anomalies
from sidecar.apps.battery.tracker import Tracker
from sidecar.ledger import kinds
from sidecar.ledger.battery_state import BATTERY_STATE, BatteryStates, values
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.schema import BodyError
from tests.sidecar.battery_support import DAY0_MS, TZ

HOUR = 3_600_000
SAMPLE = {
    "soh_pct": 98.5,
    "battery_cycles": 120,
    "cell_v_max": 3.35,
    "cell_v_min": 3.33,
    "battery_in_wh": 1500.7,
    "battery_out_wh": 1300.2,
}


def test_the_battery_values_of_a_sample_become_integers() -> None:
    assert values(SAMPLE) == {
        "soh": 985_000,
        "cycles": 120,
        "cell_mv_max": 3350,
        "cell_mv_min": 3330,
        "in_wh": 1500,
        "out_wh": 1300,
    }
    # Values the sample checks refused are left out, never guessed.
    assert values({"soh_pct": 140, "cell_v_max": "high", "battery_cycles": -1}) == {}


def test_a_state_is_written_hourly_and_at_once_when_something_is_wrong() -> None:
    states = BatteryStates()
    assert states.take({"pv_w": 10}, DAY0_MS, "BAT") is None  # nothing to state
    first = states.take(SAMPLE, DAY0_MS, "BAT")
    assert first is not None
    assert first["serial"] == "BAT"
    assert states.take(SAMPLE, DAY0_MS + 60_000, "BAT") is None
    assert states.take(SAMPLE, DAY0_MS + HOUR, "BAT") is not None
    # A counter reading lower than the last one stated: at once.
    assert states.take({**SAMPLE, "battery_in_wh": 3}, DAY0_MS + HOUR + 1, None)
    # The reported SoH moves a whole percent: at once.
    assert states.take({**SAMPLE, "soh_pct": 97.4}, DAY0_MS + HOUR + 2, None)
    # A cell out of its band: at once, and again at most once a minute.
    low = {**SAMPLE, "soh_pct": 97.4, "cell_v_min": 2.7}
    assert states.take(low, DAY0_MS + HOUR + 70_000, None)
    assert states.take(low, DAY0_MS + HOUR + 80_000, None) is None
    assert states.take(low, DAY0_MS + HOUR + 140_000, None)


def _body(**members: int) -> JsonObject:
    body: JsonObject = {"v": 1, "kind": BATTERY_STATE, "building": "b", "ts": 1}
    body.update(members)
    return body


def test_the_schema_wants_a_value_and_integers_in_range() -> None:
    kinds.check_entry_body(_body(soh=1_000_000, in_wh=5), 1, 0)
    with pytest.raises(BodyError, match="at least one value"):
        kinds.check_entry_body(_body(), 1, 0)
    with pytest.raises(BodyError, match="soh"):
        kinds.check_entry_body(_body(soh=1_000_001), 1, 0)
    with pytest.raises(BodyError, match="not a member"):
        kinds.check_entry_body(_body(temperature=20), 1, 0)


def _state(seq: int, ts: int, **members: int) -> Entry:
    content = _body(**members)
    content["ts"] = ts
    content["serial"] = "BAT-1"
    return Entry(b"", seq, b"", (), b"", b"", seq.to_bytes(32, "big"), content)


def test_reported_states_show_regressions_jumps_and_cell_events() -> None:
    tracker = Tracker(TZ)
    stream = [
        _state(1, DAY0_MS, soh=990_000, in_wh=100, out_wh=90, cycles=3),
        _state(2, DAY0_MS + HOUR, soh=989_000, in_wh=120, out_wh=100, cycles=3),
        _state(3, DAY0_MS + 2 * HOUR, soh=989_000, in_wh=7, out_wh=100, cycles=3),
        _state(4, DAY0_MS + 3 * HOUR, soh=955_000, in_wh=20, out_wh=110, cycles=4),
        _state(5, DAY0_MS + 4 * HOUR, cell_mv_max=3_420, cell_mv_min=3_300),
        _state(6, DAY0_MS + 5 * HOUR, cell_mv_max=3_420, cell_mv_min=3_290),
    ]
    found = [anomaly for entry in stream for anomaly in tracker.add(entry)]
    assert [(a.kind, a.measured, a.expected) for a in found] == [
        (anomalies.COUNTER_REGRESSION, 7, 120),
        (anomalies.SOH_JUMP, 955_000, 989_000),
        (anomalies.CELL_VOLTAGE, 3_420, 3_300),  # once a day, not twice
    ]
    assert [seq for seq, _ in found[0].entries] == [2, 3]
    assert [seq for seq, _ in found[2].entries] == [5]
    report = tracker.report("BAT-1")
    assert report.reported_cycles is None  # the newest state did not say
    assert len(report.active) == 3
