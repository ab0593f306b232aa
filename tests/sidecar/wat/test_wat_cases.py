"""Hand-made settlements with the expected WAT written out (docs/WAT.md's example)."""

from __future__ import annotations

import dataclasses

from sidecar.apps.wat import spec
from sidecar.apps.wat.matching import Reading, apportion, match
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.value import SCALE
from sidecar.ledger.canonical import JsonObject
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats

DAY = 1440 * MIN


def _building() -> tuple[Flats, Settlement]:
    flats = Flats(3)
    settlement = Settlement(flats.roster)
    settlement.offer(flats.adopt(spec.default(BUILDING, T0), ts=T0 - MIN))
    return flats, settlement


def _first_interval(flats: Flats, settlement: Settlement) -> None:
    # Flat 100 exports 3 kWh, 80 % renewable; 101 imports 2 kWh; 102 imports 4 kWh
    # and exports 0.5 kWh in the same half hour (net import 3.5 kWh).
    for entry in (
        flats.meter(0, T0, T0 + HALF_HOUR, grid_out=3_000_000, ren_out=2_400_000),
        flats.meter(1, T0, T0 + HALF_HOUR, grid_in=2_000_000),
        flats.meter(2, T0, T0 + HALF_HOUR, grid_in=4_000_000, grid_out=500_000),
    ):
        settlement.offer(entry)


def test_apportion_hands_the_remainder_to_the_largest_fractions() -> None:
    """3e6 mWh over 2e6 : 3.5e6: 1 090 909 r 500 000 and 1 909 090 r 5e6, + 1."""
    shares = apportion(3_000_000, {b"a": 2_000_000, b"b": 3_500_000})
    assert shares == {b"a": 1_090_909, b"b": 1_909_091}
    assert apportion(2, {b"b": 1, b"a": 1, b"c": 1}) == {b"a": 1, b"b": 1, b"c": 0}


def test_one_interval_pays_exactly_what_the_formula_says() -> None:
    """Sold 3 kWh at 20 WAT/kWh, paid 21.818 + 38.181 = 59.999 WAT, received 59.999."""
    flats, settlement = _building()
    _first_interval(flats, settlement)
    (interval,) = settlement.advance(T0 + HALF_HOUR + MIN)
    seller, small, big = (flats.author(i) for i in range(3))
    trades = interval.matched.trades
    assert (interval.matched.exported, interval.matched.imported) == (
        3_000_000,
        5_500_000,
    )
    assert trades[small].bought == 1_090_909
    assert trades[big].bought == 1_909_091
    assert trades[small].paid == 21_818  # floor(1 090 909 * 20 000 / 10**6)
    assert trades[big].paid == 38_181
    assert trades[seller].received == 59_999
    assert trades[seller].ren == 2_400_000
    assert (trades[small].ren, trades[big].ren) == (872_727, 1_527_273)
    at = T0 + HALF_HOUR + MIN
    assert [settlement.book.value(a, at) for a in (seller, small, big)] == [
        59_999,
        -21_818,
        -38_181,
    ]
    assert settlement.book.building_value(at) == 0


def test_holdings_fall_by_the_daily_rate_and_the_building_account_gets_it() -> None:
    """A day later 59.999 WAT are worth floor(59 999 * G(1) / SCALE) = 59.987 WAT."""
    flats, settlement = _building()
    _first_interval(flats, settlement)
    settlement.advance(T0 + DAY)
    factor = settlement.book.table.factor(1) if settlement.book.table else 0
    assert factor == SCALE - 198_804 * 10**9
    assert settlement.book.value(flats.author(0), T0 + DAY) == 59_987
    assert settlement.book.value(flats.author(1), T0 + DAY) == -21_818  # debts stay
    assert settlement.book.building_value(T0 + DAY) == 12


def test_a_missing_member_holds_the_interval_until_its_meter_or_the_deadline() -> None:
    """Without flat 102's meter nothing settles; a day on it settles without it."""
    flats, settlement = _building()
    settlement.offer(flats.meter(0, T0, T0 + HALF_HOUR, grid_out=1_000_000))
    settlement.offer(flats.meter(1, T0, T0 + HALF_HOUR, grid_in=1_000_000))
    assert settlement.advance(T0 + HALF_HOUR + MIN) == []
    settled = settlement.advance(T0 + HALF_HOUR + DAY)
    assert settled[0].absent == {flats.author(2)}
    assert settled[0].matched.trades[flats.author(1)].paid == 20_000
    before = settlement.book.value(flats.author(1), T0 + 2 * DAY)
    # Flat 102's meter, written after the wait, counts for nothing.
    late = flats.meter(2, T0, T0 + HALF_HOUR, grid_in=9_000_000, ts=T0 + 2 * DAY)
    settlement.offer(late)
    settlement.advance(T0 + 2 * DAY)
    assert settlement.book.value(flats.author(1), T0 + 2 * DAY) == before


def test_a_new_version_applies_from_its_effective_time_only() -> None:
    """Version 2 halves the price from the second interval; the first keeps 20 WAT."""
    flats, settlement = _building()
    first = settlement.currency(T0)
    assert first is not None
    second = dataclasses.replace(
        first,
        version=2,
        prev=first.digest,
        effective=T0 + HALF_HOUR,
        prices=spec.Prices(10_000, 30_000, 40_000),
    )
    settlement.offer(flats.adopt(second, ts=T0 + MIN, approvers=range(2)))
    for start in (T0, T0 + HALF_HOUR):
        settlement.offer(flats.meter(0, start, start + HALF_HOUR, grid_out=1_000_000))
        settlement.offer(flats.meter(1, start, start + HALF_HOUR, grid_in=1_000_000))
        settlement.offer(flats.meter(2, start, start + HALF_HOUR))
    one, two = settlement.advance(T0 + 2 * HALF_HOUR)
    assert (one.price, two.price) == (20_000, 10_000)
    assert settlement.book.value(flats.author(0), T0 + 2 * HALF_HOUR) == 30_000


def test_a_version_recorded_after_its_effective_time_is_refused() -> None:
    """It would rewrite intervals already settled."""
    flats, settlement = _building()
    first = settlement.currency(T0)
    assert first is not None
    late = dataclasses.replace(first, version=2, prev=first.digest, effective=T0 + DAY)
    settlement.offer(flats.adopt(late, ts=T0 + DAY))
    assert settlement.inputs.currencies.latest() == first
    assert settlement.inputs.currencies.refused == 1


def test_a_minority_cannot_adopt_a_currency() -> None:
    """One approval of three members is not a majority."""
    flats = Flats(3)
    settlement = Settlement(flats.roster)
    settlement.offer(
        flats.adopt(spec.default(BUILDING, T0), ts=T0 - MIN, approvers=range(1))
    )
    assert settlement.currency(T0) is None


def test_a_power_cut_receipt_settles_at_the_outage_price_on_what_arrived() -> None:
    """950 mWh received at 40 WAT/kWh: 38 base units, not matched a second time."""
    flats, settlement = _building()
    settlement.offer(flats.receipt(1, 0, 950, T0 + 10 * MIN, ts=T0 + 11 * MIN))
    settlement.offer(flats.meter(0, T0, T0 + HALF_HOUR, grid_out=1_000))
    settlement.offer(flats.meter(1, T0, T0 + HALF_HOUR, grid_in=950))
    settlement.offer(flats.meter(2, T0, T0 + HALF_HOUR))
    (interval,) = settlement.advance(T0 + HALF_HOUR)
    assert interval.matched.matched == 0  # 50 mWh of losses left, nobody imports
    assert settlement.book.value(flats.author(0), T0 + HALF_HOUR) == 38
    assert settlement.book.value(flats.author(1), T0 + HALF_HOUR) == -38


def test_the_credit_limit_caps_what_a_buyer_can_buy() -> None:
    """With 0.5 WAT of credit at 20 WAT/kWh a buyer gets 25 000 mWh, no more."""
    readings = {b"s": Reading(0, 1_000_000, 0), b"b": Reading(1_000_000, 0, 0)}
    result = match(readings, 20_000, {b"b": 500})
    assert result.trades[b"b"].bought == 25_000
    assert result.trades[b"b"].paid == 500
    assert result.trades[b"s"].received == 500


def test_the_price_now_is_the_group_price_while_a_discharge_is_asked_for() -> None:
    """20 WAT/kWh, then 30 during a dispatch (discharge) overlapping the interval."""
    flats, settlement = _building()
    version = settlement.currency(T0)
    assert version is not None
    assert settlement.book.price_at(version, T0 + 5 * MIN) == 20_000
    dispatch: JsonObject = {
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "start": T0 + 40 * MIN,
        "end": T0 + 50 * MIN,
        "reason": "peak",
    }
    settlement.offer(flats.entry(0, "dispatch", dispatch, T0 + 39 * MIN))
    assert settlement.book.price_at(version, T0 + 35 * MIN) == 30_000
    assert settlement.book.price_at(version, T0 + 5 * MIN) == 20_000
