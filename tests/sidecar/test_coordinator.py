"""The coordinator: setpoints per round, lost members, lost mesh, HA messages."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.coordination.allocation import Availability
from sidecar.coordination.intake import (
    AvailabilityRejected,
    DispatchRejected,
    availability_content,
    dispatch_content,
)
from sidecar.coordination.kinds import check_body
from sidecar.coordination.planner import (
    Coordinator,
    Settings,
    SignedEntry,
    local_discharge_w,
)
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity

T0 = 1_781_913_600_000
PPM = 1_000_000
SETPOINT_KEYS = {
    "at",
    "type",
    "active",
    "event",
    "mode",
    "w",
    "revert_s",
    "share_ppm",
    "target_w",
    "achieved_w",
    "participants",
    "reason",
    "until",
}
END_KEYS = {"type", "active", "event", "w", "reason"}


def ha_availability(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "availability",
        "ts": T0,
        "soc_pct": 54.0,
        "energy_wh": 3200.0,
        "max_discharge_w": 3000.0,
        "max_charge_w": 3000.0,
        "battery_w": 0.0,
        "participate": True,
        "max_share_pct": 100.0,
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not None}


class Building:
    """Flats with their nodes on one shared, fully replicated ledger."""

    def __init__(self, flats: int, **settings: Any) -> None:
        self.now = T0
        self.identities = [Identity.from_scalar(1000 + n) for n in range(flats)]
        self.authors = [identity.author for identity in self.identities]
        self.entries: list[Entry] = []
        self.heads = [(0, etp.ZERO_ID) for _ in range(flats)]
        self.alive = [True] * flats
        self.mesh = True
        self.grid_w: list[int | None] = [None] * flats
        self.ha = [ha_availability() for _ in range(flats)]
        self.settings = Settings(**settings)
        self.coordinators = [
            Coordinator(author, FakeView(self, n), lambda: self.now, self.settings)
            for n, author in enumerate(self.authors)
        ]

    def publish(self, n: int, kind: str, content: JsonObject) -> Entry:
        body: JsonObject = {"v": 1, "kind": kind, "building": "bldg-01"}
        body["ts"] = self.now
        body.update(content)
        check_body(body, 0)
        seq, head = self.heads[n]
        entry = etp.make_entry(self.identities[n], seq + 1, head, (), body)
        self.heads[n] = (seq + 1, entry.id)
        self.entries.append(entry)
        return entry

    def dispatch(self, n: int, replaces: bytes | None = None, **request: Any) -> Entry:
        message: dict[str, Any] = {
            "direction": "discharge",
            "mode": "power",
            "target_w": 6000,
            "duration_s": 900,
            "reason": "evening peak",
        }
        message.update(request)
        group_w = self.coordinators[n].group_w()
        content = dispatch_content(
            message, now_ms=self.now, group_w=group_w, replaces=replaces
        )
        return self.publish(n, "dispatch", content)

    def cancel(self, n: int, event: bytes) -> Entry:
        return self.publish(n, "dispatch_cancel", {"event": event.hex()})

    def run_round(self) -> dict[int, dict[str, object] | None]:
        """One round: availabilities early in the round, setpoints at its middle."""
        start = self.now - self.now % self.settings.round_ms
        self.now = start + 10
        for n, coordinator in enumerate(self.coordinators):
            if self.alive[n]:
                message = dict(self.ha[n], ts=self.now)
                self.publish(
                    n, "availability", coordinator.availability_content(message)
                )
        self.now = start + self.settings.round_ms // 2
        result = {
            n: coordinator.step()
            for n, coordinator in enumerate(self.coordinators)
            if self.alive[n]
        }
        self.now = start + self.settings.round_ms
        return result


class FakeView:
    """One node's view of the shared ledger, listing entries in its own order."""

    def __init__(self, building: Building, seed: int) -> None:
        self.building = building
        self.rng = random.Random(seed)
        self.n = seed

    def members(self) -> list[bytes]:
        members = list(self.building.authors)
        self.rng.shuffle(members)
        return members

    def availability(self, author: bytes, at_ms: int) -> SignedEntry | None:
        for entry in reversed(self.building.entries):
            if (
                entry.author == author
                and entry.kind == "availability"
                and entry.ts <= at_ms
            ):
                return entry
        return None

    def _of_kind(self, kind: str) -> list[Entry]:
        found = [e for e in self.building.entries if e.kind == kind]
        self.rng.shuffle(found)
        return found

    def dispatches(self) -> Iterable[SignedEntry]:
        return self._of_kind("dispatch")

    def cancels(self) -> Iterable[SignedEntry]:
        return self._of_kind("dispatch_cancel")

    def mesh_up(self) -> bool:
        return self.building.mesh

    def own_grid_w(self) -> int | None:
        return self.building.grid_w[self.n]


def active_w(messages: dict[int, dict[str, object] | None]) -> dict[int, int]:
    result = {}
    for n, message in messages.items():
        if message is not None and message["active"]:
            w = message["w"]
            assert isinstance(w, int)
            result[n] = w
    return result


# -- a group event ---------------------------------------------------------------------


def test_every_node_agrees_and_the_group_delivers_the_target() -> None:
    building = Building(4)
    building.ha[0].update(energy_wh=6000.0, max_discharge_w=2900.0)
    building.ha[1].update(energy_wh=3000.0)
    building.ha[2].update(energy_wh=1000.0, max_discharge_w=400.0)
    building.ha[3].update(energy_wh=2500.0, max_discharge_w=2000.0)
    assert building.run_round() == dict.fromkeys(range(4))
    event = building.dispatch(2, target_w=6000)  # at a round's start: counts in it
    building.run_round()
    messages = building.run_round()
    at = building.now - 1000
    plans = [coordinator.plan(at) for coordinator in building.coordinators]
    assert all(plan == plans[0] for plan in plans)
    assert sum(active_w(messages).values()) == 6000
    assert sorted(active_w(messages).values()) == [400, 1227, 1473, 2900]
    for n, message in messages.items():
        assert message is not None
        assert set(message) == SETPOINT_KEYS
        assert message["type"] == "setpoint"
        assert message["event"] == event.id.hex()
        assert message["mode"] == "group"
        assert message["revert_s"] == 5
        assert message["target_w"] == 6000
        assert message["participants"] == 4
        assert message["reason"] == "evening peak"
        assert message["until"] == event.content["end"]
        assert message["share_ppm"] == plans[0].share_ppm(building.authors[n])
        assert building.coordinators[n].active_event == event.id


def test_achieved_power_is_what_the_participants_report() -> None:
    building = Building(3)
    building.ha[0].update(battery_w=1500.4)
    building.ha[1].update(battery_w=-200.0)
    building.ha[2].update(battery_w=900.0, participate=False)
    building.run_round()
    building.dispatch(0, target_w=3000)
    building.run_round()
    messages = building.run_round()
    assert {m["achieved_w"] for m in messages.values() if m is not None} == {1300}
    assert messages[2] is None
    assert building.coordinators[0].group_w() == 1300


@pytest.mark.parametrize("stale_ms", [3000, 2000, 5000])
def test_a_node_killed_mid_event_is_reshared_within_two_rounds(stale_ms: int) -> None:
    building = Building(4, stale_ms=stale_ms)
    building.run_round()
    building.dispatch(0, target_w=8000)
    building.run_round()
    for _ in range(3):
        assert active_w(building.run_round()) == dict.fromkeys(range(4), 2000)
    killed_round = building.now // 1000
    last_ts = max(e.ts for e in building.entries if e.author == building.authors[3])
    building.alive[3] = False
    reshared_round = None
    for _ in range(stale_ms // 1000 + 4):
        round_no = building.now // 1000
        powers = active_w(building.run_round())
        plans = [building.coordinators[n].plan(round_no * 1000) for n in range(3)]
        assert plans[0] == plans[1] == plans[2]
        if round_no * 1000 - last_ts <= stale_ms:
            # Still counted: the others keep their own shares meanwhile.
            assert powers == dict.fromkeys(range(3), 2000)
            assert building.authors[3] in plans[0].setpoints
        else:
            assert building.authors[3] not in plans[0].setpoints
            assert sum(powers.values()) == 8000
            assert max(powers.values()) <= 3000
            if reshared_round is None:
                reshared_round = round_no
    assert reshared_round is not None
    # Re-shared at the first round that starts after the staleness bound has passed.
    bound_round = (last_ts + stale_ms) // 1000
    assert reshared_round - bound_round <= 2
    assert reshared_round == (last_ts + stale_ms) // 1000 + 1
    assert reshared_round - killed_round == stale_ms // 1000


def test_a_flat_that_stops_participating_is_released_once() -> None:
    building = Building(2)
    building.run_round()
    event = building.dispatch(0, target_w=2000)
    building.run_round()
    assert active_w(building.run_round()) == {0: 1000, 1: 1000}
    building.ha[1]["participate"] = False
    building.run_round()  # the change is published in this round
    messages = building.run_round()
    assert messages[0] is not None
    assert messages[0]["w"] == 2000
    assert messages[1] == {
        "type": "setpoint",
        "active": False,
        "event": event.id.hex(),
        "w": 0,
        "reason": "not_allocated",
    }
    assert building.run_round()[1] is None


def test_cancel_and_end_are_each_reported_once() -> None:
    building = Building(2)
    building.run_round()
    first = building.dispatch(0, target_w=2000, duration_s=3)
    building.run_round()
    assert active_w(building.run_round()) == {0: 1000, 1: 1000}
    building.run_round()
    ended = building.run_round()
    assert ended[0] is not None
    assert set(ended[0]) == END_KEYS
    assert ended[0]["reason"] == "ended"
    assert ended[0]["event"] == first.id.hex()
    assert building.run_round() == {0: None, 1: None}

    second = building.dispatch(1, target_w=1000)
    building.run_round()
    assert active_w(building.run_round()) == {0: 500, 1: 500}
    building.cancel(0, second.id)
    cancelled = building.run_round()
    assert cancelled[1] == {
        "type": "setpoint",
        "active": False,
        "event": second.id.hex(),
        "w": 0,
        "reason": "cancelled",
    }
    assert building.run_round() == {0: None, 1: None}


def test_an_update_keeps_the_event_and_changes_the_target() -> None:
    building = Building(2)
    building.run_round()
    first = building.dispatch(0, target_w=2000)
    building.run_round()
    assert active_w(building.run_round()) == {0: 1000, 1: 1000}
    building.dispatch(1, target_w=3000, replaces=first.id)
    building.run_round()
    messages = building.run_round()
    assert active_w(messages) == {0: 1500, 1: 1500}
    assert {m["event"] for m in messages.values() if m} == {first.id.hex()}
    assert building.coordinators[1].running_event() == first.id
    building.cancel(1, first.id)
    assert building.coordinators[0].running_event() is None


def test_charge_setpoints_are_negative() -> None:
    building = Building(2)
    building.ha[0].update(max_charge_w=1000.0)
    building.run_round()
    building.dispatch(1, direction="charge", target_w=2500)
    building.run_round()
    # In proportion to the charge power each flat can take.
    assert active_w(building.run_round()) == {0: -625, 1: -1875}


def test_meter_limit_targets_the_excess_over_the_limit() -> None:
    building = Building(2)
    building.ha[0].update(battery_w=500.0)
    building.run_round()
    building.dispatch(
        0, mode="meter_limit", limit_w=20_000, meter_w=22_000.4, target_w=None
    )
    building.run_round()
    messages = building.run_round()
    # 22 000 − 20 000 + the 500 W the group was already delivering.
    assert active_w(messages) == {0: 1250, 1: 1250}
    assert {m["target_w"] for m in messages.values() if m} == {2500}


# -- losing the mesh -------------------------------------------------------------------


def test_mesh_lost_beyond_the_staleness_bound_falls_back_to_local_rules() -> None:
    building = Building(2, local_peak_w=4000)
    building.run_round()
    event = building.dispatch(0, target_w=2000)
    building.run_round()
    assert active_w(building.run_round()) == {0: 1000, 1: 1000}
    building.mesh = False
    building.grid_w = [5500, 3000]
    modes = []
    for _ in range(5):
        messages = building.run_round()
        modes.append({m["mode"] for m in messages.values() if m})
    # Last seen at the previous round's step: three more rounds within the 3 s bound.
    assert modes == [{"group"}] * 3 + [{"local_fallback"}] * 2
    fallback = building.run_round()
    assert fallback[0] == {
        "type": "setpoint",
        "active": True,
        "event": event.id.hex(),
        "mode": "local_fallback",
        "w": 1500,
        "revert_s": 5,
        "share_ppm": 0,
        "target_w": 2000,
        "achieved_w": 0,
        "participants": 1,
        "reason": "evening peak",
        "until": event.content["end"],
        "at": building.now - building.now % 1000 - 1000,
    }
    assert fallback[1] is not None
    assert fallback[1]["w"] == 0  # below its own peak limit
    building.ha[0]["energy_wh"] = 0.0  # reserve reached
    building.run_round()
    assert active_w(building.run_round())[0] == 0
    building.mesh = True
    messages = building.run_round()
    # Back in the group, the flat at its reserve is released and the other takes all.
    assert messages[0] is not None
    assert messages[0]["reason"] == "not_allocated"
    assert messages[1] is not None
    assert (messages[1]["mode"], messages[1]["w"]) == ("group", 2000)


def test_without_mesh_a_non_participant_is_left_alone() -> None:
    building = Building(2, stale_ms=1000)
    building.run_round()
    building.dispatch(0, target_w=2000)
    building.run_round()
    building.run_round()
    building.mesh = False
    building.ha[1]["participate"] = False
    building.run_round()
    messages = building.run_round()
    assert messages[0] is not None
    assert messages[0]["mode"] == "local_fallback"
    assert messages[1] is not None
    assert messages[1]["reason"] == "not_allocated"
    assert building.run_round()[1] is None


def test_a_node_started_alone_waits_one_bound_before_falling_back() -> None:
    building = Building(1)
    building.mesh = False
    building.run_round()
    building.dispatch(0, target_w=1000)
    modes = []
    for _ in range(5):
        messages = building.run_round()
        modes.append(None if messages[0] is None else messages[0]["mode"])
    assert modes == ["group"] * 3 + ["local_fallback"] * 2


def test_local_rules() -> None:
    own = Availability(b"\x01" * 32, T0, 500, 3000, 3000, 0, True, PPM)
    assert local_discharge_w(own, 6000, 4000) == 2000
    assert local_discharge_w(own, 9000, 4000) == 3000
    assert local_discharge_w(own, 3000, 4000) == 0
    assert local_discharge_w(own, -2000, 4000) == 0
    assert local_discharge_w(own, None, 4000) == 0
    assert local_discharge_w(own, 6000, None) == 0
    empty = Availability(b"\x01" * 32, T0, 0, 3000, 3000, 0, True, PPM)
    assert local_discharge_w(empty, 9000, 4000) == 0


# -- messages from Home Assistant ------------------------------------------------------


def test_availability_is_converted_to_integers() -> None:
    content = availability_content(
        ha_availability(
            energy_wh=3200.9,
            max_discharge_w=2999.99,
            battery_w=-200.6,
            soc_pct=54.25,
            max_share_pct=12.5,
        ),
        now_ms=T0 + 100,
        max_power_w=20_000,
    )
    assert content == {
        "energy_wh": 3200,
        "max_discharge_w": 2999,
        "max_charge_w": 3000,
        "battery_w": -201,
        "participate": 1,
        "max_share_ppm": 125_000,
        "soc": 542_500,
    }
    body: JsonObject = {"v": 1, "kind": "availability", "building": "b", "ts": T0}
    check_body(body | content, 0)
    below_reserve = availability_content(
        ha_availability(energy_wh=-150.0, soc_pct=None, max_share_pct=None),
        now_ms=T0,
        max_power_w=20_000,
    )
    assert below_reserve["energy_wh"] == 0
    assert below_reserve["max_share_ppm"] == PPM
    assert "soc" not in below_reserve


@pytest.mark.parametrize(
    ("overrides", "now", "reason"),
    [
        ({"ts": None}, T0, "missing_ts"),
        ({"ts": 1.5}, T0, "missing_ts"),
        ({}, T0 + 3001, "stale"),
        ({}, T0 - 30_001, "in_future"),
        ({"participate": None}, T0, "missing_value"),
        ({"participate": 1}, T0, "bad_value"),
        ({"energy_wh": None}, T0, "missing_value"),
        ({"energy_wh": "3200"}, T0, "not_a_number"),
        ({"energy_wh": float("nan")}, T0, "not_a_number"),
        ({"energy_wh": True}, T0, "not_a_number"),
        ({"energy_wh": 1e9}, T0, "out_of_range"),
        ({"max_discharge_w": -1.0}, T0, "out_of_range"),
        ({"max_charge_w": 20_001.0}, T0, "power_limit"),
        ({"battery_w": -25_000.0}, T0, "power_limit"),
        ({"battery_w": None}, T0, "missing_value"),
        ({"max_share_pct": 101.0}, T0, "out_of_range"),
        ({"soc_pct": -0.5}, T0, "out_of_range"),
        ({"soc_pct": float("inf")}, T0, "not_a_number"),
    ],
)
def test_implausible_availability_is_refused(
    overrides: dict[str, Any], now: int, reason: str
) -> None:
    message = ha_availability(**overrides)
    with pytest.raises(AvailabilityRejected) as caught:
        availability_content(message, now_ms=now, max_power_w=20_000)
    assert caught.value.reason == reason


@settings(max_examples=200)
@given(
    st.floats(-1e6, 1e7),
    st.floats(0, 20_000),
    st.floats(0, 20_000),
    st.floats(-20_000, 20_000),
    st.booleans(),
    st.floats(0, 100),
    st.one_of(st.none(), st.floats(0, 100)),
)
def test_any_plausible_availability_makes_a_valid_body(  # noqa: PLR0917
    energy: float,
    discharge: float,
    charge: float,
    battery: float,
    participate: bool,
    share: float,
    soc: float | None,
) -> None:
    message = ha_availability(
        energy_wh=energy,
        max_discharge_w=discharge,
        max_charge_w=charge,
        battery_w=battery,
        participate=participate,
        max_share_pct=share,
        soc_pct=soc,
    )
    content = availability_content(message, now_ms=T0, max_power_w=20_000)
    body: JsonObject = {"v": 1, "kind": "availability", "building": "b", "ts": T0}
    check_body(body | content, 0)
    energy_wh = content["energy_wh"]
    discharge_w = content["max_discharge_w"]
    assert isinstance(energy_wh, int)
    assert isinstance(discharge_w, int)
    assert energy_wh <= max(0, energy)
    assert discharge_w <= discharge


def test_dispatch_requests_become_valid_bodies() -> None:
    power = dispatch_content(
        {
            "direction": "discharge",
            "mode": "power",
            "target_w": 5000.4,
            "duration_s": 900,
            "reason": "evening peak",
        },
        now_ms=T0,
        group_w=0,
    )
    assert power == {
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "start": T0,
        "end": T0 + 900_000,
        "reason": "evening peak",
    }
    meter_request = {
        "direction": "charge",
        "mode": "meter_limit",
        "limit_w": -5000,
        "meter_w": -9000,
        "duration_s": 60,
        "reason": "absorb PV",
    }
    meter = dispatch_content(
        meter_request,
        now_ms=T0,
        group_w=-800,
        replaces=b"\xab" * 32,
    )
    assert meter["group_w"] == 800  # charging 800 W, in the request's direction
    assert meter["replaces"] == "ab" * 32
    with pytest.raises(DispatchRejected):
        dispatch_content(
            {**meter_request, "direction": "discharge"}, now_ms=T0, group_w=10**9
        )
    for content in (power, meter):
        body: JsonObject = {"v": 1, "kind": "dispatch", "building": "b", "ts": T0}
        check_body(body | content, 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"direction": "up"},
        {"duration_s": 0},
        {"duration_s": 86_401},
        {"duration_s": 1.5},
        {"reason": ""},
        {"reason": "x" * 65},
        {"mode": "auto"},
        {"target_w": 0},
        {"target_w": float("nan")},
        {"target_w": True},
        {"mode": "meter_limit"},
    ],
)
def test_bad_dispatch_requests_are_refused(overrides: dict[str, Any]) -> None:
    message = {
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "duration_s": 900,
        "reason": "evening peak",
    }
    message.update(overrides)
    with pytest.raises(DispatchRejected) as caught:
        dispatch_content(message, now_ms=T0, group_w=0)
    assert caught.value.reason == "bad_request"


@pytest.mark.parametrize(
    "values",
    [
        {"round_ms": 50},
        {"stale_ms": 500},
        {"revert_s": 1},
        {"local_peak_w": -1},
        {"max_power_w": 0},
    ],
)
def test_settings_that_break_rounds_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        Settings(**values)


def test_a_real_entry_is_a_signed_entry() -> None:
    identity = Identity.from_scalar(5)
    body: JsonObject = {
        "v": 1,
        "kind": "dispatch_cancel",
        "building": "b",
        "ts": T0,
        "event": "ab" * 32,
    }
    entry: SignedEntry = etp.make_entry(identity, 1, etp.ZERO_ID, (), body)
    assert entry.author == identity.author
    assert entry.content == body


def test_without_mesh_a_flat_whose_own_availability_is_stale_is_released() -> None:
    building = Building(2)
    building.run_round()
    building.dispatch(0, target_w=2000)
    building.run_round()
    building.mesh = False
    coordinator = building.coordinators[1]
    # Its Home Assistant stops sending, so the node publishes nothing more.
    building.now += 500
    messages = []
    for _ in range(4):
        building.now += 1000
        messages.append(coordinator.step())
    # Within the bound it stays in the group; then, on its own, its availability is
    # too old to keep the reserve safely: released once.
    assert [m["mode"] for m in messages[:2] if m] == ["group"] * 2
    message = messages[2]
    assert message is not None
    assert (message["active"], message["reason"]) == (False, "not_allocated")
    assert messages[3] is None


def test_parsed_requests_are_forgotten_when_the_view_drops_them() -> None:
    building = Building(1)
    building.run_round()
    for _ in range(70):
        building.dispatch(0, target_w=1000)
        event = building.dispatch(0, target_w=1000, duration_s=1)
        building.cancel(0, event.id)
    coordinator = building.coordinators[0]
    first = coordinator.step()
    assert first is not None
    assert first["active"] is True
    building.entries = [e for e in building.entries if e.kind == "availability"]
    ended = coordinator.step()
    assert ended is not None
    assert (ended["active"], ended["reason"]) == (False, "ended")
    assert coordinator.step() is None
    assert coordinator.plan(building.now).event is None
    assert not coordinator._dispatch_cache
    assert not coordinator._cancel_cache


def test_a_meter_under_its_limit_leaves_the_flats_alone() -> None:
    building = Building(2)
    building.run_round()
    building.dispatch(
        0, mode="meter_limit", limit_w=20_000, meter_w=18_000, target_w=None
    )
    assert building.run_round() == {0: None, 1: None}
    plan = building.coordinators[0].plan(building.now - 1000)
    assert plan.event is not None
    assert (plan.target_w, plan.setpoints) == (0, {})
