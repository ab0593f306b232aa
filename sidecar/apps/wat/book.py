"""Settlement over time: intervals settled in order, balances carried between them.

PROTOCOL.md section 7.10.5. Intervals start at the first version's ``effective`` and
follow each other, each as long as the ``interval_min`` of the version in force at its
start. Interval ``[s, e)`` is settled at time ``T`` once every interval before it is and

* every member of the roster in force at ``s`` has counting meters reaching ``e``, or
* ``T >= e + final_ms`` (the version's ``final_min``);

a meter (or receipt, or dispatch) *counts* for the interval when its ``ts`` is at most
``e + final_ms``. So a member whose meters are late holds the interval open for everyone
until they come or the wait is over; once settled, nothing arriving later changes it:
entries that count would have held it open, and entries that arrive after the wait do
not count. A member absent at the end simply did not trade in that interval.

Within an interval, at the value period of its last instant ``e - 1``, receipts are
paid first (the receiver pays the giver ``floor(mwh * outage / 10**6)``, even beyond
its credit limit, since a power cut is not refused) and their energy is taken off the
receiver's import and the giver's export; then :func:`matching.match` settles the rest
at the group price if a discharge request (not cancelled before ``s``) overlaps the
interval, else at the local price, each buyer's ``available`` being its value plus the
credit limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.apps.wat.inputs import Inputs, Meter, Receipt
from sidecar.apps.wat.matching import MWH_PER_KWH, Matched, Reading, match
from sidecar.apps.wat.spec import Currency
from sidecar.apps.wat.value import Account, Lot, ValueTable


@dataclass(frozen=True, slots=True)
class Interval:
    """One settled interval: its rules, what it read and what it moved."""

    start: int
    end: int
    version: int
    price: int
    factor: int
    matched: Matched
    readings: dict[bytes, Reading]
    meters: dict[bytes, list[Meter]]
    receipts: list[tuple[Receipt, int]]  # each with what the receiver paid
    absent: frozenset[bytes]  # members settled without meters (the wait was over)


@dataclass(slots=True)
class Book:
    """Balances and settled intervals for one ledger, advanced as time goes on."""

    inputs: Inputs
    accounts: dict[bytes, Account] = field(default_factory=dict)
    intervals: list[Interval] = field(default_factory=list)
    table: ValueTable | None = None
    # Per account, its state after each interval that changed it.
    history: dict[bytes, list[tuple[int, int, int, tuple[Lot, ...]]]] = field(
        default_factory=dict
    )
    _next: int | None = None
    _cursor: dict[bytes, int] = field(default_factory=dict)

    @property
    def settled_until(self) -> int | None:
        """The end of the last settled interval (None before the first)."""
        return self.intervals[-1].end if self.intervals else None

    def advance(self, now_ms: int) -> list[Interval]:
        """Settle every interval that is ready at ``now_ms``; those newly settled."""
        chain = self.inputs.currencies
        if not chain.versions:
            return []
        if self.table is None:
            self.table = ValueTable(chain)
            self._next = chain.versions[0].effective
        assert self._next is not None
        done = []
        while True:
            version = chain.at(self._next)
            assert version is not None
            end = self._next + version.interval_ms
            if end > now_ms:
                break
            members = self._members(self._next)
            if not self._ready(version, members, end, now_ms):
                break
            done.append(self._settle(version, members, self._next, end))
            self._next = end
        return done

    def value(self, author: bytes, at_ms: int) -> int:
        """An account's value in base units at ``at_ms`` (0 for no account)."""
        account = self.accounts.get(author)
        if account is None or self.table is None:
            return 0
        factor = self.table.factor(self.table.period(at_ms))
        return account.face(factor) + account.lent(at_ms)

    def value_at(self, author: bytes, at_ms: int) -> int:
        """An account's value at ``at_ms``, from the intervals settled by then."""
        if self.table is None:
            return 0
        units = debt = 0
        lots: tuple[Lot, ...] = ()
        for end, held, owed, lent in self.history.get(author, ()):
            if end > at_ms:
                break
            units, debt, lots = held, owed, lent
        account = Account(units, debt, list(lots))
        factor = self.table.factor(self.table.period(at_ms))
        return account.face(factor) + account.lent(at_ms)

    def building_value(self, at_ms: int) -> int:
        """The building account: minus the sum of every other account's value."""
        return -sum(self.value(author, at_ms) for author in self.accounts)

    def _members(self, at_ms: int) -> list[bytes]:
        roster = self.inputs.rosters.at(at_ms)
        return sorted(member.author for member in roster.members)

    def _ready(
        self, version: Currency, members: list[bytes], end: int, now_ms: int
    ) -> bool:
        deadline = end + version.final_ms
        if now_ms >= deadline:
            return True
        for author in members:
            meters = self.inputs.meters.get(author, [])
            at = self._cursor.get(author, 0)
            # Indexing, not islice: islice would walk the settled meters to get there.
            if not any(
                meters[i].end >= end and meters[i].ts <= deadline
                for i in range(at, len(meters))
            ):
                return False
        return True

    def _settle(
        self, version: Currency, members: list[bytes], start: int, end: int
    ) -> Interval:
        assert self.table is not None
        deadline = end + version.final_ms
        # The value period holding the interval's last instant: its own rules.
        factor = self.table.factor(self.table.period(end - 1))
        # Lots whose term ends in the interval join the holdings before it trades.
        matured = {a for a, acc in self.accounts.items() if acc.mature(end, factor)}
        readings: dict[bytes, Reading] = {}
        used: dict[bytes, list[Meter]] = {}
        absent = []
        for author in members:
            totals = [0, 0, 0]
            pieces = []
            for meter in self._overlapping(author, start, end):
                if meter.ts > deadline:
                    continue
                pieces.append(meter)
                for index, value in enumerate(
                    (meter.grid_in, meter.grid_out, meter.ren_out)
                ):
                    totals[index] += piece(value, meter, start, end)
            if pieces:
                used[author] = pieces
                readings[author] = Reading(*totals)
            else:
                absent.append(author)
        paid_receipts = self._receipts(
            version=version,
            members=members,
            start=start,
            end=end,
            readings=readings,
            factor=factor,
        )
        group = self._group(version, start, end)
        price = version.prices.group if group else version.prices.local
        available = {
            author: self._account(author).face(factor) + version.credit_limit
            for author in readings
        }
        matched = match(readings, price, available)
        for author, trade in matched.trades.items():
            account = self._account(author)
            if trade.paid:
                account.debit(trade.paid, factor)
            if trade.received and group and version.lent is not None:
                account.lend(trade.received, end, version.lent)
            elif trade.received:
                account.credit(trade.received, factor)
        touched = (
            matured
            | set(matched.trades)
            | {
                party
                for receipt, _paid in paid_receipts
                for party in (receipt.giver, receipt.receiver)
            }
        )
        for author in touched:
            account = self.accounts[author]
            self.history.setdefault(author, []).append(
                (end, account.units, account.debt, tuple(account.lots))
            )
        interval = Interval(
            start,
            end,
            version.version,
            price,
            factor,
            matched,
            readings,
            used,
            paid_receipts,
            frozenset(absent),
        )
        self.intervals.append(interval)
        return interval

    def _overlapping(self, author: bytes, start: int, end: int) -> list[Meter]:
        """The author's meters overlapping ``[start, end)``, read forward once."""
        meters = self.inputs.meters.get(author, [])
        at = self._cursor.get(author, 0)
        while at < len(meters) and meters[at].end <= start:
            at += 1
        self._cursor[author] = at
        found = []
        for meter in meters[at:]:
            if meter.start >= end:
                break
            found.append(meter)
        return found

    def _receipts(
        self,
        *,
        version: Currency,
        members: list[bytes],
        start: int,
        end: int,
        readings: dict[bytes, Reading],
        factor: int,
    ) -> list[tuple[Receipt, int]]:
        deadline, inside = end + version.final_ms, set(members)
        paid = []
        for receipt in self.inputs.receipts:
            if not start <= receipt.start < end or receipt.ts > deadline:
                continue
            if receipt.giver not in inside or receipt.receiver not in inside:
                continue
            if receipt.giver == receipt.receiver:
                continue
            amount = receipt.mwh * version.prices.outage // MWH_PER_KWH
            self._account(receipt.receiver).debit(amount, factor)
            if version.lent is not None:
                self._account(receipt.giver).lend(amount, end, version.lent)
            else:
                self._account(receipt.giver).credit(amount, factor)
            paid.append((receipt, amount))
            _take(readings, receipt.receiver, receipt.mwh, out=False)
            _take(readings, receipt.giver, receipt.mwh, out=True)
        return paid

    def price_at(self, version: Currency, at_ms: int) -> int:
        """The price of the interval holding ``at_ms`` as the ledger stands now."""
        start = at_ms - (at_ms - version.effective) % version.interval_ms
        if self._group(version, start, start + version.interval_ms):
            return version.prices.group
        return version.prices.local

    def _group(self, version: Currency, start: int, end: int) -> bool:
        """Whether a group discharge the building asked for covers the interval."""
        deadline = end + version.final_ms
        return any(
            ts <= deadline and span_start < end and span_end > start
            for span_start, span_end, ts in self.inputs.group_spans()
        )

    def _account(self, author: bytes) -> Account:
        account = self.accounts.get(author)
        if account is None:
            account = self.accounts[author] = Account()
        return account


def piece(value: int, meter: Meter, start: int, end: int) -> int:
    """The part of a meter's ``value`` inside ``[start, end)``, split by time.

    Cumulative floors: ``floor(v * (b - ms) / span) - floor(v * (a - ms) / span)``
    for the overlap ``[a, b)``, so the pieces of one meter always sum to its value.
    """
    span = meter.end - meter.start
    low = max(start, meter.start) - meter.start
    high = min(end, meter.end) - meter.start
    return value * high // span - value * low // span


def _take(
    readings: dict[bytes, Reading], author: bytes, mwh: int, *, out: bool
) -> None:
    """Take bus energy off a reading, so it is not matched as well."""
    reading = readings.get(author)
    if reading is None:
        return
    if out:
        left = max(reading.grid_out - mwh, 0)
        ren = reading.ren_out * left // reading.grid_out if reading.grid_out else 0
        readings[author] = Reading(reading.grid_in, left, ren)
    else:
        readings[author] = Reading(
            max(reading.grid_in - mwh, 0), reading.grid_out, reading.ren_out
        )
