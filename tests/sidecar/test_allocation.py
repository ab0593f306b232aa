"""Coordination bodies and the group allocation: schemas, resolution, water-filling."""

from __future__ import annotations

import dataclasses
import random
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.coordination import allocation
from sidecar.coordination import kinds as coordination_kinds
from sidecar.coordination.allocation import Availability, Cancel, Dispatch, allocate
from sidecar.coordination.kinds import BodyError, check_body
from sidecar.ledger import canonical, etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity

PPM = 1_000_000
T0 = 1_781_913_600_000


def author(n: int) -> bytes:
    return bytes([n]) * 32


def common(kind: str, ts: int = T0) -> JsonObject:
    return {"v": 1, "kind": kind, "building": "bldg-01", "ts": ts}


def availability_body(**overrides: Any) -> JsonObject:
    body = common("availability") | {
        "energy_wh": 3200,
        "max_discharge_w": 3000,
        "max_charge_w": 2500,
        "battery_w": -200,
        "participate": 1,
        "max_share_ppm": PPM,
        "soc": 540_000,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def dispatch_body(**overrides: Any) -> JsonObject:
    body = common("dispatch") | {
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "start": T0,
        "end": T0 + 900_000,
        "reason": "evening peak",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def offer(
    n: int,
    energy_wh: int,
    max_w: int,
    *,
    ts: int = T0,
    participate: bool = True,
    share_ppm: int = PPM,
    battery_w: int = 0,
    charge_w: int | None = None,
) -> Availability:
    return Availability(
        author=author(n),
        ts=ts,
        energy_wh=energy_wh,
        max_discharge_w=max_w,
        max_charge_w=max_w if charge_w is None else charge_w,
        battery_w=battery_w,
        participate=participate,
        max_share_ppm=share_ppm,
    )


def request(
    n: int,
    *,
    ts: int = T0,
    target_w: int = 5000,
    start: int = T0,
    end: int = T0 + 900_000,
    replaces: bytes | None = None,
    direction: str = "discharge",
) -> Dispatch:
    return Dispatch(
        id=bytes([n]) * 32,
        author=author(1),
        ts=ts,
        direction=direction,
        mode="power",
        start=start,
        end=end,
        reason=f"request {n}",
        target_w=target_w,
        replaces=replaces,
    )


# -- body schemas --------------------------------------------------------------------


def test_valid_bodies_pass_and_sign_as_entries() -> None:
    identity = Identity.from_scalar(7)
    bodies: list[tuple[JsonObject, tuple[bytes, ...]]] = [
        (availability_body(), ()),
        (availability_body(soc=None, battery_w=-1_000_000, participate=0), ()),
        (dispatch_body(), ()),
        (dispatch_body(replaces="ab" * 32, direction="charge"), ()),
        (
            dispatch_body(
                mode="meter_limit",
                target_w=None,
                limit_w=20_000,
                meter_w=23_500,
                group_w=-300,
            ),
            (),
        ),
        (common("dispatch_cancel") | {"event": "cd" * 32}, ()),
        (
            common("receipt")
            | {"from": "ef" * 32, "mwh": 1250, "start": T0, "end": T0 + 1000},
            (author(9),),
        ),
    ]
    for body, refs in bodies:
        check_body(body, len(refs))
        entry = etp.make_entry(identity, 1, etp.ZERO_ID, refs, body)
        reopened = etp.open_entry(
            entry.author, entry.seq, entry.prev, entry.refs, entry.body, entry.sig
        )
        assert reopened.id == entry.id
        assert canonical.decode(entry.body) == body


@pytest.mark.parametrize(
    ("body", "refs", "reason"),
    [
        (availability_body(energy_wh=None), 0, "missing_member"),
        (availability_body(extra=1), 0, "unknown_member"),
        (availability_body(energy_wh=-1), 0, "bad_member"),
        (availability_body(energy_wh=10_000_001), 0, "bad_member"),
        (availability_body(max_discharge_w="3000"), 0, "bad_member"),
        (availability_body(max_charge_w=1_000_001), 0, "bad_member"),
        (availability_body(battery_w=-1_000_001), 0, "bad_member"),
        (availability_body(participate=2), 0, "bad_member"),
        (availability_body(participate=True), 0, "bad_member"),
        (availability_body(max_share_ppm=PPM + 1), 0, "bad_member"),
        (availability_body(soc=-1), 0, "bad_member"),
        (availability_body(), 1, "bad_refs"),
        (dispatch_body(direction="up"), 0, "bad_member"),
        (dispatch_body(mode="auto"), 0, "bad_member"),
        (dispatch_body(mode=["power"]), 0, "bad_member"),
        (dispatch_body(mode=None), 0, "missing_member"),
        (dispatch_body(target_w=0), 0, "bad_member"),
        (dispatch_body(target_w=None), 0, "missing_member"),
        (dispatch_body(limit_w=100), 0, "unknown_member"),
        (dispatch_body(mode="meter_limit"), 0, "missing_member"),
        (dispatch_body(end=T0), 0, "bad_member"),
        (dispatch_body(end=T0 + 86_400_001), 0, "bad_member"),
        (dispatch_body(reason=""), 0, "bad_member"),
        (dispatch_body(reason="x" * 65), 0, "bad_member"),
        (dispatch_body(replaces="AB" * 32), 0, "bad_member"),
        (dispatch_body(replaces="ab" * 31), 0, "bad_member"),
        (common("dispatch_cancel"), 0, "missing_member"),
        (common("dispatch_cancel") | {"event": 5}, 0, "bad_member"),
        (
            common("receipt")
            | {"from": "ef" * 32, "mwh": -1, "start": T0, "end": T0 + 1},
            1,
            "bad_member",
        ),
        (
            common("transfer")
            | {"to": "ef" * 32, "mwh": 0, "start": T0, "end": T0 + 1},
            0,
            "bad_member",
        ),
        (
            common("transfer")
            | {"to": "ef" * 32, "mwh": 5, "start": T0, "end": T0 + 1},
            1,
            "bad_refs",
        ),
        (
            common("receipt") | {"from": "ef" * 32, "mwh": 5, "start": T0, "end": T0},
            1,
            "bad_member",
        ),
        (
            common("receipt")
            | {"from": "ef" * 32, "mwh": 5, "start": T0, "end": T0 + 1},
            0,
            "bad_refs",
        ),
        (common("flow"), 0, "bad_kind"),
        (dispatch_body(ts=-1), 0, "bad_member"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(
    body: JsonObject, refs: int, reason: str
) -> None:
    with pytest.raises(BodyError) as caught:
        check_body(body, refs)
    assert caught.value.reason == reason


def test_the_kinds_are_the_reserved_names_plus_cancel() -> None:
    names = {"availability", "dispatch", "dispatch_cancel", "receipt", "transfer"}
    assert names == coordination_kinds.KINDS
    assert coordination_kinds.FULLY_CHECKED == coordination_kinds.KINDS


def test_bodies_read_back_into_values() -> None:
    item = Availability.from_body(author(3), availability_body(participate=0))
    assert item == Availability(
        author(3), T0, 3200, 3000, 2500, -200, False, PPM, 540_000
    )
    request_ = Dispatch.from_body(
        author(4), author(5), dispatch_body(replaces="ab" * 32)
    )
    assert request_.event == bytes.fromhex("ab" * 32)
    assert request_.target_w == 5000
    cancel = Cancel.from_body(
        author(6), author(5), common("dispatch_cancel") | {"event": "cd" * 32}
    )
    assert cancel.event == bytes.fromhex("cd" * 32)


# -- targets and resolution ----------------------------------------------------------


def test_targets_of_each_mode() -> None:
    power = request(1, target_w=4200)
    assert allocation.dispatch_target_w(power) == 4200
    meter = Dispatch(
        id=author(2),
        author=author(1),
        ts=T0,
        direction="discharge",
        mode="meter_limit",
        start=T0,
        end=T0 + 1000,
        reason="cap",
        limit_w=20_000,
        meter_w=23_500,
        group_w=1_000,
    )
    assert allocation.dispatch_target_w(meter) == 4_500
    below = Dispatch(**{**_fields(meter), "meter_w": 15_000, "group_w": 0})
    assert allocation.dispatch_target_w(below) == 0
    charge = Dispatch(
        **{**_fields(meter), "direction": "charge", "meter_w": 12_000, "group_w": 500}
    )
    assert allocation.dispatch_target_w(charge) == 8_500


def _fields(item: Dispatch) -> dict[str, Any]:
    return {name: getattr(item, name) for name in Dispatch.__slots__}


def test_newest_request_wins_ties_by_smaller_id() -> None:
    old = request(1, ts=T0)
    new = request(2, ts=T0 + 10, target_w=7000)
    twin = request(3, ts=T0 + 10, target_w=9000)
    at = T0 + 1000
    assert allocation.resolve([old, new], [], at) == new
    assert allocation.resolve([twin, new, old], [], at) == new
    # Not yet counted: a request written after the round start.
    assert allocation.resolve([old, new], [], T0 + 5) == old


def test_windows_are_half_open_and_future_requests_do_not_block() -> None:
    running = request(1, ts=T0, start=T0, end=T0 + 5000)
    later = request(2, ts=T0 + 100, start=T0 + 10_000, end=T0 + 20_000)
    assert allocation.resolve([running, later], [], T0) == running
    assert allocation.resolve([running, later], [], T0 + 4999) == running
    assert allocation.resolve([running, later], [], T0 + 5000) is None
    assert allocation.resolve([running, later], [], T0 + 10_000) == later
    assert allocation.resolve([running, later], [], T0 + 20_000) is None


def test_updates_replace_and_cancels_end_whole_events() -> None:
    first = request(1, ts=T0, target_w=5000)
    update = request(2, ts=T0 + 2000, target_w=3000, replaces=first.id)
    other = request(3, ts=T0 + 1000, target_w=8000)
    at = T0 + 3000
    assert allocation.resolve([first, other], [], at) == other
    # The update is the event's current version and the newest request.
    assert allocation.resolve([first, update, other], [], at) == update
    assert update.event == first.id
    cancel = Cancel(author(7), author(2), T0 + 2500, first.id)
    assert allocation.resolve([first, update, other], [cancel], at) == other
    # A cancel counts only from its ts on.
    assert allocation.resolve([first, update, other], [cancel], T0 + 2400) == update
    # An update whose window has not started leaves its event idle, rather than the
    # version it replaces running on; the older event runs again.
    deferred = request(
        4, ts=T0 + 2800, start=T0 + 60_000, end=T0 + 70_000, replaces=other.id
    )
    assert allocation.resolve([first, other, deferred], [], at) == first
    assert allocation.resolve([other, deferred], [], at) is None


@given(st.data())
def test_resolution_ignores_input_order(data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 8))
    items = [
        request(
            n + 1,
            ts=T0 + data.draw(st.integers(0, 5)) * 100,
            start=T0 + data.draw(st.integers(0, 5)) * 100,
            end=T0 + data.draw(st.integers(6, 12)) * 100,
            replaces=data.draw(st.sampled_from([None, author(1), author(2)])),
        )
        for n in range(count)
    ]
    cancels = [
        Cancel(author(40 + n), author(1), T0 + data.draw(st.integers(0, 9)) * 100, e)
        for n, e in enumerate(
            data.draw(
                st.lists(st.sampled_from([author(1), author(2), author(3)]), max_size=2)
            )
        )
    ]
    at = T0 + data.draw(st.integers(0, 12)) * 100
    expected = allocation.resolve(items, cancels, at)
    shuffled = data.draw(st.permutations(items))
    assert allocation.resolve(shuffled, list(reversed(cancels)), at) == expected


# -- staleness -----------------------------------------------------------------------


def test_staleness_window_is_inclusive_and_never_ahead() -> None:
    at = T0 + 10_000
    members = {author(n) for n in range(1, 6)}
    offers = [
        offer(1, 100, 100, ts=at - 3000),
        offer(2, 100, 100, ts=at - 3001),
        offer(3, 100, 100, ts=at),
        offer(4, 100, 100, ts=at + 1),
        offer(9, 100, 100, ts=at),  # not a member
    ]
    kept = allocation.fresh(offers, members, at, 3000)
    assert [item.author for item in kept] == [author(1), author(3)]


def test_newest_offer_of_an_author_counts() -> None:
    members = {author(1)}
    older = offer(1, 100, 100, ts=T0 - 500)
    newer = offer(1, 900, 100, ts=T0 - 100)
    assert allocation.fresh([newer, older], members, T0) == [newer]
    assert allocation.fresh([older, newer], members, T0) == [newer]


# -- water-filling ---------------------------------------------------------------------


def test_worked_example_of_the_documentation() -> None:
    offers = [
        offer(1, 6000, 2900),
        offer(2, 3000, 3000),
        offer(3, 1000, 400),
        offer(4, 2500, 2000),
        offer(5, 0, 3000),
        offer(6, 5000, 3000, participate=False),
    ]
    result = allocation.allocate(6000, offers, "discharge")
    assert result == {author(1): 2900, author(2): 1473, author(3): 400, author(4): 1227}
    # 9000 W asked, 8300 W possible: everyone at their limit.
    assert allocation.allocate(9000, offers, "discharge") == {
        author(1): 2900,
        author(2): 3000,
        author(3): 400,
        author(4): 2000,
    }


def test_clipping_redistributes_in_several_passes() -> None:
    members = [
        (author(1), 100, 10),
        (author(2), 100, 30),
        (author(3), 100, 1000),
        (author(4), 100, 1000),
    ]
    result = allocation.split(400, members)
    assert result == {author(1): 10, author(2): 30, author(3): 180, author(4): 180}


def test_remainders_go_to_the_largest_then_the_smaller_author() -> None:
    members = [(author(3), 1, 100), (author(1), 1, 100), (author(2), 1, 100)]
    assert allocation.split(5, members) == {author(1): 2, author(2): 2, author(3): 1}
    assert allocation.split(1, members) == {author(1): 1, author(2): 0, author(3): 0}
    with pytest.raises(ValueError, match="unique"):
        allocation.split(5, [*members, (author(1), 2, 2)])


def test_max_share_caps_a_flat() -> None:
    offers = [offer(1, 9000, 5000, share_ppm=200_000), offer(2, 1000, 5000)]
    result = allocation.allocate(4000, offers, "discharge")
    assert result == {author(1): 800, author(2): 3200}
    assert (
        allocation.allocate(4000, [offer(1, 9000, 5000, share_ppm=0)], "discharge")
        == {}
    )


def test_charging_shares_by_charge_power_and_is_negative() -> None:
    offers = [
        offer(1, 0, 3000, charge_w=3000),
        offer(2, 5000, 3000, charge_w=1000),
        offer(3, 5000, 3000, charge_w=0),
    ]
    result = allocation.allocate(2000, offers, "charge")
    assert result == {author(1): -1500, author(2): -500}
    with pytest.raises(ValueError, match="direction"):
        allocation.allocate(2000, offers, "sideways")


def test_nothing_to_share() -> None:
    assert allocation.split(0, [(author(1), 5, 5)]) == {author(1): 0}
    assert allocation.split(100, []) == {}
    assert allocation.split(100, [(author(1), 0, 5)]) == {author(1): 0}
    assert allocation.allocate(500, [], "discharge") == {}


MEMBERS = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 10_000_000),
        st.integers(0, 1_000_000),
    ),
    max_size=40,
    unique_by=lambda item: item[0],
)


def reference_level(
    total: int, members: list[tuple[bytes, int, int]]
) -> dict[bytes, Fraction]:
    """Exact water-filling with fractions, saturating in order of cap per weight."""
    open_items = sorted(
        ((k, w, c) for k, w, c in members if w > 0 and c > 0),
        key=lambda item: Fraction(item[2], item[1]),
    )
    if total >= sum(c for _, _, c in open_items):
        return {k: Fraction(c) for k, _, c in open_items}
    left, weight = Fraction(total), sum(w for _, w, _ in open_items)
    ideal: dict[bytes, Fraction] = {}
    index = 0
    while index < len(open_items):
        key, w, c = open_items[index]
        if c * weight <= left * w:
            ideal[key] = Fraction(c)
            left -= c
            weight -= w
            index += 1
        else:
            break
    for key, w, _ in open_items[index:]:
        ideal[key] = left * w / weight
    return ideal


@settings(max_examples=300)
@given(st.integers(0, 20_000_000), MEMBERS, st.randoms(use_true_random=False))
def test_split_properties(
    total: int, members: list[tuple[bytes, int, int]], rng: random.Random
) -> None:
    result = allocation.split(total, members)
    shuffled = list(members)
    rng.shuffle(shuffled)
    assert allocation.split(total, shuffled) == result
    capacity = sum(c for _, w, c in members if w > 0 and c > 0)
    assert sum(result.values()) == min(total, capacity)
    ideal = reference_level(total, members)
    for key, w, c in members:
        assert 0 <= result[key] <= max(0, c)
        if w <= 0 or c <= 0:
            assert result[key] == 0
        else:
            # Proportional before clipping, within the rounding of one watt.
            assert abs(result[key] - ideal[key]) < 1


OFFERS = st.lists(
    st.builds(
        lambda n, energy, w, cw, part, share, bat: offer(
            n,
            energy,
            w,
            charge_w=cw,
            participate=part,
            share_ppm=share,
            battery_w=bat,
        ),
        st.integers(1, 255),
        st.integers(0, 50_000),
        st.integers(0, 20_000),
        st.integers(0, 20_000),
        st.booleans(),
        st.sampled_from([0, 100_000, 500_000, PPM]),
        st.integers(-20_000, 20_000),
    ),
    max_size=30,
    unique_by=lambda item: item.author,
)


@settings(max_examples=300)
@given(
    st.integers(0, 200_000),
    OFFERS,
    st.sampled_from(["discharge", "charge"]),
    st.randoms(use_true_random=False),
)
def test_allocation_respects_reserves_limits_and_target(
    target: int, offers: list[Availability], direction: str, rng: random.Random
) -> None:
    result = allocation.allocate(target, offers, direction)
    shuffled = list(offers)
    rng.shuffle(shuffled)
    assert allocation.allocate(target, shuffled, direction) == result
    sign = 1 if direction == "discharge" else -1
    capacity = 0
    for item in offers:
        limit = min(item.limit(direction), target * item.max_share_ppm // PPM)
        taking_part = (
            item.participate
            and item.max_share_ppm > 0
            and item.weight(direction) > 0
            and limit > 0
        )
        if not taking_part:
            assert item.author not in result
            continue
        capacity += limit
        assert 0 <= sign * result[item.author] <= limit
    assert sign * sum(result.values()) == min(target, capacity)


# -- the whole plan ------------------------------------------------------------------


def test_plan_of_a_round() -> None:
    members = {author(n) for n in range(1, 5)}
    offers = [
        offer(1, 6000, 3000, battery_w=2000),
        offer(2, 3000, 3000, battery_w=1000),
        offer(3, 1000, 800, ts=T0 - 5000, battery_w=700),  # stale
        offer(4, 2000, 3000, participate=False, battery_w=-400),
    ]
    event = request(1, ts=T0 - 10_000, start=T0 - 10_000, target_w=5000)
    result = allocation.plan(members, offers, [event], [], at_ms=T0)
    assert result.event == event
    assert result.target_w == 5000
    assert result.setpoints == {author(1): 3000, author(2): 2000}
    assert result.total_w == 5000
    assert result.capacity_w == 6000
    assert result.achieved_w == 3000
    assert result.share_ppm(author(1)) == 600_000
    assert result.share_ppm(author(4)) == 0
    idle = allocation.plan(members, offers, [], [], at_ms=T0)
    assert idle.event is None
    assert idle.setpoints == {}
    assert idle.share_ppm(author(1)) == 0


@settings(max_examples=200)
@given(OFFERS, st.integers(1, 100_000), st.randoms(use_true_random=False))
def test_every_node_computes_the_same_plan(
    offers: list[Availability], target: int, rng: random.Random
) -> None:
    members = [item.author for item in offers if item.author != author(1)]
    members.append(author(1))  # the requester
    event = request(1, ts=T0 - 1000, start=T0 - 1000, target_w=target)
    plans = []
    for _ in range(5):  # five nodes, each received the entries in its own order
        own_offers = list(offers)
        own_members = list(members)
        rng.shuffle(own_offers)
        rng.shuffle(own_members)
        plans.append(
            allocation.plan(set(own_members), own_offers, [event], [], at_ms=T0)
        )
    assert plans[0].event == event
    assert all(item == plans[0] for item in plans)


def test_reading_a_body_that_skipped_its_check_fails_loudly() -> None:
    with pytest.raises(TypeError, match="integer"):
        Availability.from_body(author(1), availability_body(energy_wh="3200"))


def test_plan_ignores_requests_of_non_members_and_reports_all_participants() -> None:
    members = {author(1), author(2)}
    offers = [offer(1, 3000, 3000, battery_w=1200), offer(2, 0, 3000, battery_w=-300)]
    stranger = Dispatch(**{**_fields(request(9, ts=T0 - 10)), "author": author(9)})
    assert allocation.plan(members, offers, [stranger], [], at_ms=T0).event is None
    event = request(1, ts=T0 - 100, start=T0 - 100, target_w=1000)
    foreign_cancel = Cancel(author(8), author(9), T0 - 50, event.id)
    result = allocation.plan(members, offers, [event], [foreign_cancel], at_ms=T0)
    assert result.event == event
    # Flat 2 is at its reserve: no setpoint, but its battery power is the group's.
    assert result.setpoints == {author(1): 1000}
    assert result.achieved_w == 900


@settings(max_examples=200)
@given(
    OFFERS,
    st.lists(st.integers(-6000, 1000), min_size=30, max_size=30),
    st.integers(1, 100_000),
    st.sampled_from(["discharge", "charge"]),
)
def test_stale_and_future_availabilities_get_nothing(
    offers: list[Availability], ages: list[int], target: int, direction: str
) -> None:
    dated = [
        dataclasses.replace(item, ts=T0 - age)
        for item, age in zip(offers, ages, strict=False)
    ]
    members = {item.author for item in dated} | {author(1)}  # the requester
    event = request(1, ts=T0 - 1, start=T0 - 1, target_w=target, direction=direction)
    result = allocation.plan(members, dated, [event], [], at_ms=T0, stale_ms=3000)
    counted = [item for item in dated if 0 <= T0 - item.ts <= 3000]
    for item in dated:
        if item not in counted:
            assert item.author not in result.setpoints
    assert result.setpoints == allocation.allocate(target, counted, direction)
    assert result.total_w == min(target, result.capacity_w)


def test_a_flat_in_a_power_cut_takes_no_part_in_group_events() -> None:
    home = Availability(author(1), T0, 3000, 3000, 3000, 0, True, PPM, outage=True)
    other = Availability(author(2), T0, 1000, 3000, 3000, 0, True, PPM)
    assert allocate(1000, [home, other], "discharge") == {author(2): 1000}
