"""One settlement interval: neighbours' exports matched pro rata to their imports.

PROTOCOL.md section 7.10.4, all integers. Per member, from its import ``in`` and export
``out`` over the interval (mWh) and the renewable part ``ren`` of the export:

* net export ``s = max(0, out - in)``, net import ``b = max(0, in - out)``: a flat is a
  seller or a buyer, never both (the 30-minute netting of a Japanese meter);
* a buyer may buy at most ``cap = floor(available * 10**6 / price)`` mWh, ``available``
  being its balance plus its credit limit; ``b' = min(b, cap)``;
* matched energy ``M = min(S, B)`` with ``S = sum(s)``, ``B = sum(b')``;
* each seller sells ``apportion(M, s)``, each buyer buys ``apportion(M, b')``;
* each buyer pays ``floor(bought * price / 10**6)`` base units; the sum ``P`` is shared
  among the sellers as ``apportion(P, sold)``: what is paid is exactly what is received;
* a seller's renewable energy sold is ``floor(ren * s / out * sold / s)``, written
  ``floor(floor(ren * s / out) * sold / s)``; their sum is shared among the buyers by
  ``apportion`` over what they bought.

``apportion(T, w)`` gives each ``i`` ``floor(T * w_i / W)`` (``W = sum(w)``) and hands
the ``T - sum`` units left one each to the largest remainders ``T * w_i mod W``, ties to
the smaller author id. What is not matched is bought from or sold to the grid: the
utility's business, outside WAT.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

MWH_PER_KWH: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Reading:
    """A member's import, export and renewable export over one interval, mWh."""

    grid_in: int
    grid_out: int
    ren_out: int


@dataclass(frozen=True, slots=True)
class Trade:
    """A member's part in one interval's matching."""

    sold: int = 0  # mWh sold to neighbours
    bought: int = 0  # mWh bought from neighbours
    ren: int = 0  # renewable mWh of what was sold or bought
    received: int = 0  # base units
    paid: int = 0  # base units


@dataclass(frozen=True, slots=True)
class Matched:
    """An interval's result: the trades and the totals a reader recomputes them from."""

    trades: dict[bytes, Trade]
    exported: int  # S
    imported: int  # B (after credit caps)
    matched: int  # M
    paid: int  # P


def apportion(total: int, weights: Mapping[bytes, int]) -> dict[bytes, int]:
    """Split ``total`` in proportion to ``weights`` by the largest remainder rule."""
    whole = sum(weights.values())
    if not whole:
        return dict.fromkeys(weights, 0)
    shares: dict[bytes, int] = {}
    remainders: list[tuple[int, bytes]] = []
    for key, weight in weights.items():
        share, rest = divmod(total * weight, whole)
        shares[key] = share
        remainders.append((-rest, key))
    left = total - sum(shares.values())
    if left:
        remainders.sort()
        for _rest, key in remainders[:left]:
            shares[key] += 1
    return shares


def match(
    readings: Mapping[bytes, Reading],
    price: int,
    available: Mapping[bytes, int],
) -> Matched:
    """Settle one interval at ``price`` base units per kWh.

    ``available`` is each member's balance plus credit limit (base units, ≥ 0).
    """
    sells: dict[bytes, int] = {}
    green: dict[bytes, int] = {}
    buys: dict[bytes, int] = {}
    for author, reading in readings.items():
        net = reading.grid_out - reading.grid_in
        if net > 0:
            sells[author] = net
            green[author] = reading.ren_out * net // reading.grid_out
        elif net < 0:
            want = -net
            if price:
                want = min(
                    want, max(available.get(author, 0), 0) * MWH_PER_KWH // price
                )
            if want:
                buys[author] = want
    exported, imported = sum(sells.values()), sum(buys.values())
    matched = min(exported, imported)
    sold = apportion(matched, sells)
    bought = apportion(matched, buys)
    pays = {author: mwh * price // MWH_PER_KWH for author, mwh in bought.items()}
    paid = sum(pays.values())
    received = apportion(paid, sold)
    ren_sold = {
        author: green[author] * mwh // sells[author] for author, mwh in sold.items()
    }
    ren_bought = apportion(sum(ren_sold.values()), bought)
    trades: dict[bytes, Trade] = {}
    for author, mwh in sold.items():
        if mwh:
            trades[author] = Trade(
                sold=mwh, ren=ren_sold[author], received=received[author]
            )
    for author, mwh in bought.items():
        if mwh:
            trades[author] = Trade(
                bought=mwh, ren=ren_bought[author], paid=pays[author]
            )
    return Matched(trades, exported, imported, matched, paid)
