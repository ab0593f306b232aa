"""Properties of settlement that hold for any ledger (hypothesis)."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.apps.wat import spec
from sidecar.apps.wat.settlement import Settlement
from sidecar.ledger.etp import Entry
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats

FLATS = 4
INTERVALS = 6
DAY = 1440 * MIN
END = T0 + INTERVALS * HALF_HOUR

energy = st.integers(min_value=0, max_value=3_000_000)
meter = st.tuples(energy, energy, st.integers(min_value=0, max_value=100))
day = st.lists(
    st.lists(meter, min_size=FLATS, max_size=FLATS),
    min_size=INTERVALS,
    max_size=INTERVALS,
)


def _ledger(
    table: list[list[tuple[int, int, int]]],
    *,
    rate_ppb: int = spec.DEFAULT_RATE_PPB,
    credit: int = 50_000,
    change_at: int | None = None,
    missing: int | None = None,
) -> tuple[Flats, list[Entry]]:
    """Meters of ``table`` (per interval, per flat: in, out, % renewable)."""
    flats = Flats(FLATS)
    first = dataclasses.replace(
        spec.default(BUILDING, T0),
        credit_limit=credit,
        value=spec.ValueRule(rate_ppb, 60, T0, 2 * spec.PPB),  # hourly periods
    )
    entries = [flats.adopt(first, ts=T0 - MIN)]
    if change_at is not None:
        second = dataclasses.replace(
            first,
            version=2,
            prev=first.digest,
            effective=T0 + change_at * HALF_HOUR,
            prices=spec.Prices(7_000, 9_000, 11_000),
            value=spec.ValueRule(-rate_ppb, 60, T0, 2 * spec.PPB),
            credit_limit=credit * 2,
        )
        entries.append(flats.adopt(second, ts=T0, approvers=range(1, 4), by=3))
    for index, row in enumerate(table):
        start = T0 + index * HALF_HOUR
        for flat, (grid_in, grid_out, share) in enumerate(row):
            if flat == missing:
                continue
            entries.append(
                flats.meter(
                    flat,
                    start,
                    start + HALF_HOUR,
                    grid_in=grid_in,
                    grid_out=grid_out,
                    ren_out=grid_out * share // 100,
                )
            )
    return flats, entries


def _values(settlement: Settlement, flats: Flats, at: int) -> list[int]:
    return [settlement.book.value(flats.author(i), at) for i in range(FLATS)]


@settings(max_examples=40, deadline=None)
@given(day, st.randoms(use_true_random=False), st.lists(st.integers(0, 4 * DAY)))
def test_every_arrival_order_gives_the_same_balances(
    table: list[list[tuple[int, int, int]]], rng: random.Random, stops: list[int]
) -> None:
    """Shuffled and settled along the way, or all at once: the same balances."""
    flats, entries = _ledger(table, change_at=3)
    whole = Settlement(flats.roster, entries)
    later = T0 + 5 * DAY  # after every stop: both are asked at the same time
    whole.advance(later)
    shuffled = list(entries)
    rng.shuffle(shuffled)
    piecemeal = Settlement(flats.roster)
    times = sorted(T0 + stop for stop in stops)
    for index, entry in enumerate(shuffled):
        piecemeal.offer(entry)
        if times and index % 3 == 0:
            piecemeal.advance(times.pop(0))
    piecemeal.advance(later)
    assert _values(piecemeal, flats, later) == _values(whole, flats, later)
    assert len(piecemeal.book.intervals) == len(whole.book.intervals)


@settings(max_examples=40, deadline=None)
@given(day, st.integers(min_value=-2_000_000, max_value=0))
def test_the_sum_rule_holds_and_rounding_never_creates_value(
    table: list[list[tuple[int, int, int]]], rate: int
) -> None:
    """All accounts sum to zero; with a falling or flat value the building account

    only ever grows: what members hold is never more than what was paid to them.
    """
    flats, entries = _ledger(table, rate_ppb=rate)
    settlement = Settlement(flats.roster, entries)
    held = 0
    for at in range(T0, END + 2 * DAY, 17 * MIN):
        settlement.advance(at)
        building = settlement.book.building_value(at)
        assert sum(_values(settlement, flats, at)) + building == 0
        assert building >= held
        held = building
    for interval in settlement.book.intervals:
        trades = interval.matched.trades.values()
        assert sum(t.paid for t in trades) == sum(t.received for t in trades)
        assert sum(t.sold for t in trades) == sum(t.bought for t in trades)


@settings(max_examples=30, deadline=None)
@given(day, st.integers(min_value=1, max_value=INTERVALS - 1))
def test_a_changed_spec_applies_from_its_effective_time_only(
    table: list[list[tuple[int, int, int]]], change_at: int
) -> None:
    """Every interval before the new version settles as if it never existed."""
    flats, plain = _ledger(table)
    _flats, changed = _ledger(table, change_at=change_at)
    one, two = Settlement(flats.roster, plain), Settlement(flats.roster, changed)
    effective = T0 + change_at * HALF_HOUR
    one.advance(effective)
    two.advance(effective)
    # The new value rule moves values from ``effective`` on; just before, nothing.
    assert _values(one, flats, effective - 1) == _values(two, flats, effective - 1)
    one.advance(END)
    two.advance(END)
    for before, after in zip(one.book.intervals, two.book.intervals, strict=True):
        if before.end <= effective:
            assert (before.price, before.matched.trades) == (
                after.price,
                after.matched.trades,
            )
        else:
            assert after.version == 2


@settings(max_examples=40, deadline=None)
@given(day, st.integers(min_value=0, max_value=100_000))
def test_credit_limits_hold(
    table: list[list[tuple[int, int, int]]], credit: int
) -> None:
    """No flat's value goes below minus its credit limit by buying from neighbours."""
    flats, entries = _ledger(table, credit=credit)
    settlement = Settlement(flats.roster, entries)
    for interval in settlement.advance(END):
        assert min(_values(settlement, flats, interval.end)) >= -credit


@settings(max_examples=20, deadline=None)
@given(day)
def test_a_late_member_changes_nothing_settled_for_others(
    table: list[list[tuple[int, int, int]]],
) -> None:
    """Settled before a member's meters came, or after: the same (held open)."""
    flats, entries = _ledger(table, missing=2)
    _f, complete = _ledger(table)
    late = [
        e for e in complete if e.kind == "wat_meter" and e.author == flats.author(2)
    ]
    settlement = Settlement(flats.roster, entries)
    assert settlement.advance(END) == []  # held open for flat 102
    for entry in late:
        settlement.offer(entry)
    settlement.advance(END)
    whole = Settlement(flats.roster, complete)
    whole.advance(END)
    assert _values(settlement, flats, END) == _values(whole, flats, END)


receipt = st.tuples(
    st.integers(0, 1), st.integers(2, 3), st.integers(1, 2_000_000), st.integers(0, 29)
)
lent_rule = st.builds(
    spec.LentRule,
    rate_ppb=st.integers(0, 50_000_000),
    period_min=st.sampled_from([1, 7, 60]),
    term_min=st.just(420),
    cap_ppb=st.integers(spec.PPB, 2 * spec.PPB),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(receipt, max_size=3), min_size=INTERVALS, max_size=INTERVALS),
    lent_rule,
    st.sampled_from([0, spec.DEFAULT_RATE_PPB]),
    st.lists(st.integers(0, INTERVALS * HALF_HOUR + DAY), min_size=1, max_size=8),
)
def test_lent_wat_rises_by_its_rule_only(
    table: list[list[tuple[int, int, int, int]]],
    rule: spec.LentRule,
    rate_ppb: int,
    offsets: list[int],
) -> None:
    """Members' values sum to the lots' rise (exactly when holdings do not fall).

    Flats 100 and 101 lend to 102 and 103 in power cuts; nothing else trades. The
    rise of each lot is computed here from the formula, apart from settlement.
    """
    flats = Flats(FLATS)
    currency = dataclasses.replace(
        spec.default(BUILDING, T0),
        value=spec.ValueRule(rate_ppb, 60, T0, 2 * spec.PPB),
        lent=rule,
    )
    entries = [flats.adopt(currency, ts=T0 - MIN)]
    lots = []
    for index, row in enumerate(table):
        start = T0 + index * HALF_HOUR
        for giver, receiver, mwh, minute in row:
            at = start + minute * MIN
            entries.append(flats.receipt(receiver, giver, mwh, at, ts=at + MIN))
            paid = mwh * currency.prices.outage // 10**6
            if paid:
                lots.append((paid, start + HALF_HOUR))
        for flat in range(FLATS):
            entries.append(flats.meter(flat, start, start + HALF_HOUR))
    settlement = Settlement(flats.roster, entries)
    settlement.advance(END + DAY)
    for offset in sorted(offsets):
        at = T0 + offset
        settled = [i for i in settlement.book.intervals if i.end <= at]
        until = settled[-1].end if settled else T0
        rise = sum(
            rule.worth(amount, since, at) - amount
            for amount, since in lots
            if since <= until
        )
        values = [settlement.book.value_at(flats.author(i), at) for i in range(FLATS)]
        assert all(
            rule.worth(a, s, at) <= a * rule.cap_ppb // spec.PPB for a, s in lots
        )
        if rate_ppb == 0:
            assert sum(values) == rise
        else:
            assert sum(values) <= rise  # demurrage and rounding only take away
