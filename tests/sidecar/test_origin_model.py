"""Renewable origin's allocation: storage never launders, the building is its flats."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.apps.origin import model
from sidecar.apps.origin.hourly import PAIRS, Flat, Hour
from sidecar.ledger import kinds

HOUR_MS = 3_600_000
T0 = 1_765_000_800_000


@st.composite
def hours(draw: st.DrawFn) -> Hour:
    """An hour of any transfers, each stated at any renewable share."""
    hour = Hour()
    for number in range(len(PAIRS)):
        mwh = draw(st.integers(0, 3_000_000))
        share = draw(st.integers(0, kinds.PPM))
        hour.mwh[number] = mwh
        hour.ren[number] = mwh * share // kinds.PPM
    hour.soc = draw(st.none() | st.integers(0, kinds.PPM))
    return hour


@st.composite
def buildings(draw: st.DrawFn) -> dict[bytes, Flat]:
    """A few flats, each with hours out of the same span (some hours missing)."""
    flats: dict[bytes, Flat] = {}
    for number in range(draw(st.integers(1, 5))):
        author = bytes([number + 1]) * 32
        flat = Flat(author, building="b", floor="1", flat=f"10{number}")
        for index in draw(st.sets(st.integers(0, 11), max_size=12)):
            flat.hours[T0 + index * HOUR_MS] = draw(hours())
        flats[author] = flat
    return flats


@settings(max_examples=200, deadline=None)
@given(buildings())
def test_renewable_out_of_any_battery_never_exceeds_what_went_in(
    flats: dict[bytes, Flat],
) -> None:
    """Whatever its flows state for the battery, renewable out ≤ in − losses − held.

    Losses are measured (the SoC is stated in some hours, in none, or in all), take
    their share of the pool and never more than it holds.
    """
    figures = model.compute(flats)
    for author in flats:
        charged = discharged = lost = 0
        held = pool = pool_ren = 0
        for key in sorted(k for a, k in figures if a == author):
            item = figures[(author, key)]
            storage = item.storage
            if not storage:
                continue
            charged += storage["charge_ren"]
            discharged += storage["discharge_ren"]
            lost += storage["loss_ren"]
            held = storage["held_ren"]
            assert storage["discharge_ren"] <= storage["discharge"]
            assert 0 <= storage["loss_ren"] <= storage["loss"]
            assert 0 <= storage["held_ren"] <= storage["held"]
            # Weighted average: what leaves is never greener than the pool it left.
            have = pool + storage["charge"]
            have_ren = pool_ren + storage["charge_ren"]
            assert storage["discharge_ren"] * have <= storage["discharge"] * have_ren
            assert storage["loss"] <= max(0, have - storage["discharge"])
            pool, pool_ren = storage["held"], storage["held_ren"]
            assert discharged <= charged - lost - held
            assert discharged + lost + held == charged
            out = [
                ren
                for (source, _use), (_mwh, ren) in item.parts.items()
                if source == "battery"
            ]
            assert sum(out) == storage["discharge_ren"]


@settings(max_examples=200, deadline=None)
@given(buildings())
def test_building_totals_are_the_sum_of_the_flats_and_nothing_is_made_up(
    flats: dict[bytes, Flat],
) -> None:
    """Per hour: the building is its flats; neighbours give what neighbours get."""
    figures = model.compute(flats)
    building = model.summarize(figures.values())
    per_flat = [model.summarize(figures.values(), authors={a}) for a in flats]
    for part, (mwh, ren) in building.parts.items():
        assert mwh == sum(s.parts.get(part, [0, 0])[0] for s in per_flat)
        assert ren == sum(s.parts.get(part, [0, 0])[1] for s in per_flat)
    for (author, key), item in figures.items():
        hour = flats[author].hours[key]
        for (_source, _use), (mwh, ren) in item.parts.items():
            assert 0 <= ren <= mwh
        got = sum(
            item.parts.get((source, model.CONSUMPTION), (0, 0))[0]
            for source in ("neighbours", "grid")
        )
        assert got == hour.get("grid", "home")
        pv = sum(
            mwh for (source, _u), (mwh, _r) in item.parts.items() if source == "pv"
        )
        assert pv == sum(hour.get("pv", sink) for sink in ("home", "battery", "grid"))
    for key in {k for _a, k in figures}:
        hour_items = [v for (_a, k), v in figures.items() if k == key]
        given_mwh = sum(
            v.parts.get((s, model.EXPORT_NEIGHBOURS), (0, 0))[0]
            for v in hour_items
            for s in ("pv", "battery")
        )
        given_ren = sum(
            v.parts.get((s, model.EXPORT_NEIGHBOURS), (0, 0))[1]
            for v in hour_items
            for s in ("pv", "battery")
        )
        taken = [
            v.parts.get(("neighbours", model.CONSUMPTION), (0, 0)) for v in hour_items
        ]
        assert sum(m for m, _r in taken) == given_mwh
        assert sum(r for _m, r in taken) == given_ren


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=8))
def test_apportion_is_exact(total: int, weights: list[int]) -> None:
    """The shares sum to the total and never stray a unit from the proportion."""
    keyed = [(bytes([n]), w) for n, w in enumerate(weights)]
    shares = model.apportion(total, keyed)
    whole = sum(weights)
    if whole == 0:
        assert set(shares.values()) <= {0}
        return
    assert sum(shares.values()) == total
    for key, weight in keyed:
        assert abs(shares[key] * whole - total * weight) < whole
