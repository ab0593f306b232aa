"""Value over time: positive holdings kept in a time-invariant internal unit.

PROTOCOL.md section 7.10.3. The value factor ``G(n)`` of value period ``n`` (periods of
``period_min`` counted from the currency's ``epoch``) is an integer scaled by
``SCALE = 10**18``: ``G(0) = SCALE`` and

    G(n) = min(floor(G(n-1) * (PPB + rate_ppb(n)) / PPB), floor(SCALE * cap_ppb / PPB))

where ``rate_ppb(n)`` and ``cap_ppb(n)`` are those of the version in force when period
``n`` starts. A positive holding is kept as ``s`` internal units and is worth
``floor(s * G(n) / UNIT)`` base units in period ``n`` (``UNIT = SCALE * 10**9``: an
internal unit is a billionth of a base unit at the epoch). Nothing is recomputed when
time passes; only the factor moves. Debts are kept in base units and do not change with
time. Every conversion rounds against the holder (credits down, debits up), so
rounding never creates value; what holdings lose (demurrage and rounding) is what the
building account holds, and what they gain (a rising currency) it owes.

Lent holdings (WAT earned by lending stored energy, when the currency has a ``lent``
rule) are kept apart as lots of face value that rise by that rule until their term
ends, then join the ordinary holdings at the value they reached. They cannot be spent
before. Their rise too is owed by the building account, so no value comes from nothing:
every account's value still sums with the building account's to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sidecar.apps.wat.adoption import CurrencyChain
from sidecar.apps.wat.spec import PPB, LentRule

SCALE: Final = 10**18
UNIT: Final = SCALE * 10**9

type Lot = tuple[int, int, LentRule]
"""A lent holding: face value (base units), when it was earned (ms), its rule."""


class ValueTable:
    """``G(n)`` for one building's currency chain, extended as time goes on."""

    def __init__(self, chain: CurrencyChain) -> None:
        first = chain.versions[0]
        self.chain = chain
        self.epoch = first.value.epoch
        self.period_ms = first.period_ms
        self._factors = [SCALE]

    def period(self, at_ms: int) -> int:
        """The value period containing ``at_ms`` (0 before the epoch)."""
        return max(0, (at_ms - self.epoch) // self.period_ms)

    def factor(self, period: int) -> int:
        """``G(period)``."""
        factors = self._factors
        while len(factors) <= period:
            n = len(factors)
            version = self.chain.at(self.epoch + n * self.period_ms)
            assert version is not None  # the epoch is the first version's effective
            grown = factors[-1] * (PPB + version.value.rate_ppb) // PPB
            factors.append(min(grown, SCALE * version.value.cap_ppb // PPB))
        return factors[period]


@dataclass(slots=True)
class Account:
    """One account: internal units while positive, a debt in base units otherwise.

    ``lots`` are its lent holdings, rising until their term ends.
    """

    units: int = 0
    debt: int = 0
    lots: list[Lot] = field(default_factory=list)

    def lent(self, at_ms: int) -> int:
        """The lots' value at ``at_ms``."""
        return sum(
            rule.worth(amount, since, at_ms) for amount, since, rule in self.lots
        )

    def lend(self, amount: int, since: int, rule: LentRule) -> None:
        """Add ``amount`` earned by lending: the debt first, the rest as a lot."""
        paid = min(amount, self.debt)
        self.debt -= paid
        if amount > paid:
            self.lots.append((amount - paid, since, rule))

    def mature(self, until_ms: int, factor: int) -> bool:
        """Move lots whose term ends by ``until_ms`` into holdings; whether any did."""
        due = [lot for lot in self.lots if lot[1] + lot[2].term_ms <= until_ms]
        if not due:
            return False
        self.lots = [lot for lot in self.lots if lot[1] + lot[2].term_ms > until_ms]
        for amount, since, rule in due:
            self.credit(rule.worth(amount, since, since + rule.term_ms), factor)
        return True

    def face(self, factor: int) -> int:
        """The account's value in base units under value factor ``factor``."""
        return self.units * factor // UNIT - self.debt

    def credit(self, amount: int, factor: int) -> None:
        """Add ``amount`` base units: the debt first, then holdings (rounded down)."""
        paid = min(amount, self.debt)
        self.debt -= paid
        if amount > paid:
            self.units += (amount - paid) * UNIT // factor

    def debit(self, amount: int, factor: int) -> None:
        """Take ``amount`` base units: from holdings (rounded up), the rest as debt."""
        held = self.face(factor) + self.debt  # the holdings' value, debt aside
        if amount <= held:
            self.units -= -(-amount * UNIT // factor)
        else:
            self.units = 0
            self.debt += amount - held
