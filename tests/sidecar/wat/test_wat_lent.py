"""Hand-made cases of the rising value of lent WAT, with the expected WAT written out.

Defaults (PROTOCOL.md 7.10.3): a lot of face value ``a`` earned at ``e`` is worth
``a + floor(a * min(k * 2 000 000, 50 000 000) / 10**9)`` after ``k`` whole hours,
``k`` at most 24; at the end of its day it joins the ordinary holdings.
"""

from __future__ import annotations

import dataclasses

from sidecar.apps.wat import spec
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.value import SCALE
from sidecar.ledger.canonical import JsonObject
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats

HOUR = 60 * MIN
DAY = 24 * HOUR
EARNED = T0 + HALF_HOUR  # the end of the interval that earned the lot


def _outage(currency: spec.Currency | None = None) -> tuple[Flats, Settlement]:
    """Flat 101 receives 0.5 kWh from flat 100 in a power cut: 20.000 WAT, lent."""
    flats = Flats(3)
    settlement = Settlement(flats.roster)
    adopted = currency or spec.default(BUILDING, T0)
    settlement.offer(flats.adopt(adopted, ts=T0 - MIN))
    settlement.offer(flats.receipt(1, 0, 500_000, T0 + 10 * MIN, ts=T0 + 11 * MIN))
    settlement.offer(flats.meter(0, T0, EARNED, grid_out=500_000))
    settlement.offer(flats.meter(1, T0, EARNED, grid_in=500_000))
    settlement.offer(flats.meter(2, T0, EARNED))
    return flats, settlement


def test_wat_lent_in_a_power_cut_rises_hour_by_hour_for_a_day() -> None:
    """20 000 → 20 040 after 1 h, 20 400 after 10 h, 20 960 after 24 h and after."""
    flats, settlement = _outage()
    settlement.advance(EARNED)
    lender, receiver = flats.author(0), flats.author(1)
    book = settlement.book
    assert book.value(receiver, EARNED) == -20_000  # floor(500 000 * 40 000 / 10**6)
    expected = {0: 20_000, HOUR - 1: 20_000, HOUR: 20_040, 10 * HOUR: 20_400}
    expected |= {DAY: 20_960, DAY + 6 * MIN: 20_960}
    for after, wat in expected.items():
        assert book.value(lender, EARNED + after) == wat
        # The building account owes the rise: the sum stays zero.
        assert book.building_value(EARNED + after) == -(wat - 20_000)


def test_a_lot_joins_the_holdings_at_the_end_of_its_term_and_then_falls() -> None:
    """At T0 + 24 h 30 min 20 960 join at G(1): worth 20 959, a day on 20 955."""
    flats, settlement = _outage()
    settlement.advance(EARNED + DAY + DAY)  # every interval through the lot's term
    lender = flats.author(0)
    account = settlement.book.accounts[lender]
    assert account.lots == []
    # units = floor(20 960 * 10**27 / G(1)), G(1) = 10**18 - 198 804 * 10**9
    assert account.units == 20_964_167_760_407
    factor = settlement.book.table.factor(1) if settlement.book.table else 0
    assert factor == SCALE - 198_804 * 10**9
    assert settlement.book.value(lender, EARNED + DAY) == 20_959
    assert settlement.book.value(lender, T0 + 2 * DAY) == 20_955  # G(2)
    # Just before: 23 whole hours, 20 000 + floor(20 000 * 46 000 000 / 10**9).
    assert settlement.book.value_at(lender, EARNED + DAY - 1) == 20_920
    total = sum(settlement.book.value(flats.author(i), T0 + 2 * DAY) for i in range(3))
    assert settlement.book.building_value(T0 + 2 * DAY) == -total


def test_the_cap_stops_the_rise() -> None:
    """At 10 %/h capped at +5 %, 20 000 are worth 21 000 from the first hour on."""
    base = spec.default(BUILDING, T0)
    assert base.lent is not None
    steep = dataclasses.replace(
        base, lent=dataclasses.replace(base.lent, rate_ppb=10**8)
    )
    flats, settlement = _outage(steep)
    settlement.advance(EARNED)
    assert settlement.book.value(flats.author(0), EARNED + HOUR) == 21_000
    assert settlement.book.value(flats.author(0), EARNED + 20 * HOUR) == 21_000


def test_without_a_lent_rule_lent_wat_is_held_like_any_other() -> None:
    """No ``lent`` member: 20 000 held, a day on worth floor(20 000 * G(1)) = 19 996."""
    base = spec.default(BUILDING, T0)
    flats, settlement = _outage(dataclasses.replace(base, lent=None))
    settlement.advance(EARNED)
    assert settlement.book.accounts[flats.author(0)].lots == []
    assert settlement.book.value(flats.author(0), T0 + DAY) == 19_996


def test_energy_sold_into_a_group_discharge_is_lent() -> None:
    """1 kWh sold at the group price 30 WAT/kWh: 30 000, 30 060 an hour later."""
    flats = Flats(3)
    settlement = Settlement(flats.roster)
    settlement.offer(flats.adopt(spec.default(BUILDING, T0), ts=T0 - MIN))
    dispatch: JsonObject = {
        "direction": "discharge",
        "mode": "power",
        "target_w": 5000,
        "start": T0 + 5 * MIN,
        "end": T0 + 20 * MIN,
        "reason": "peak",
    }
    settlement.offer(flats.entry(2, "dispatch", dispatch, T0 + 4 * MIN))
    settlement.offer(flats.meter(0, T0, EARNED, grid_out=1_000_000))
    settlement.offer(flats.meter(1, T0, EARNED, grid_in=1_000_000))
    settlement.offer(flats.meter(2, T0, EARNED))
    (interval,) = settlement.advance(EARNED)
    assert interval.price == 30_000
    seller = flats.author(0)
    assert settlement.book.accounts[seller].units == 0
    assert settlement.book.value(seller, EARNED) == 30_000
    assert settlement.book.value(seller, EARNED + HOUR) == 30_060
    assert settlement.book.value(flats.author(1), EARNED + HOUR) == -30_000
    assert settlement.book.building_value(EARNED + HOUR) == -60
