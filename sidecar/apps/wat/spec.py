"""The currency document: what WAT is, how it is priced and how its value moves.

docs/WAT.md explains the defaults; PROTOCOL.md section 7.10 is the normative form. A
document is plain canonical JSON of integers and short strings, so every node reads the
same numbers. Amounts are integers in *base units*, ``10**-decimals`` of a WAT;
prices are base units per kWh; energy is mWh. Version 1 has no ``prev``; every later
version names the digest of the version it replaces, like a roster (section 13).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from sidecar.ledger import canonical
from sidecar.ledger.canonical import MAX_INT, JsonObject, JsonValue
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.kinds import periods

TAG_CURRENCY: Final = b"lvpp-currency-v1\x00"
PPB: Final = 1_000_000_000
MINUTE_MS: Final = 60_000
DAY_MIN: Final = 1_440
# Defaults (docs/WAT.md says why): 1 WAT is meant to feel like 1 yen.
DEFAULT_DECIMALS: Final = 3
DEFAULT_INTERVAL_MIN: Final = 30  # Japan's balancing period (同時同量, 30 minutes)
DEFAULT_LOCAL: Final = 20_000  # 20 WAT/kWh: halfway between ~8.5 buy-back, ~31 retail
DEFAULT_GROUP: Final = (
    30_000  # energy given into a group discharge the building asked for
)
DEFAULT_OUTAGE: Final = 40_000  # energy given over the bus in a power cut
DEFAULT_RATE_PPB: Final = -198_804  # per day: (1 - 198 804e-9)**365 = 0.930, 7 %/year
DEFAULT_CREDIT: Final = 3_000_000  # 3 000 WAT: about two months of neighbour imports
DEFAULT_FINAL_MIN: Final = 1_440  # a missing flat has a day to send its meters
# WAT earned by lending stored energy (a power cut, a group discharge the building asked
# for) rises 0.2 % an hour, simple, for a day (a home battery is cycled daily, so the
# lender would have used that energy by then), at most +5 % (docs/WAT.md).
DEFAULT_LENT_RATE_PPB: Final = 2_000_000
DEFAULT_LENT_PERIOD_MIN: Final = 60
DEFAULT_LENT_TERM_MIN: Final = 1_440
DEFAULT_LENT_CAP_PPB: Final = 1_050_000_000
BUILDING_ACCOUNT: Final = "building"

_DOC_KEYS: Final = frozenset(
    {
        "building",
        "version",
        "prev",
        "effective",
        "name",
        "unit",
        "decimals",
        "interval_min",
        "final_min",
        "tz",
        "prices",
        "value",
        "rounding",
        "credit_limit",
        "building_account",
    }
)
_PRICE_KEYS: Final = frozenset({"local", "group", "outage"})
_VALUE_KEYS: Final = frozenset({"rate_ppb", "period_min", "epoch", "cap_ppb"})
_LENT_KEYS: Final = frozenset({"rate_ppb", "period_min", "term_min", "cap_ppb"})
_ROUNDING: Final = "floor"
_NAME = re.compile(r"[A-Za-z0-9 ._-]{1,32}\Z")
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")
_MAX_PRICE: Final = 10**12


class SpecError(InvalidData):
    """A currency document that breaks the rules of PROTOCOL.md section 7.10."""


@dataclass(frozen=True, slots=True)
class Prices:
    """Base units per kWh: neighbours' energy, group discharge, power-cut bus energy."""

    local: int
    group: int
    outage: int


@dataclass(frozen=True, slots=True)
class ValueRule:
    """How positive holdings change value: a compound rate per period.

    ``rate_ppb`` < 0 falls (demurrage), > 0 rises; ``cap_ppb`` bounds the value
    factor from above (a rising currency stops rising there). Periods count from
    ``epoch`` (ms), which every version of a building keeps.
    """

    rate_ppb: int
    period_min: int
    epoch: int
    cap_ppb: int


@dataclass(frozen=True, slots=True)
class LentRule:
    """How lent holdings rise: a simple rate per period, capped, for a term.

    WAT earned by lending stored energy is held apart as a *lot* of face value ``a``
    from the end ``e`` of the interval that earned it. At time ``t`` it is worth
    ``a + floor(a * min(k * rate_ppb, cap_ppb - PPB) / PPB)`` with
    ``k = min(floor((t - e) / period), floor(term / period))`` (BBc-1's simple rate
    with a cap and an expiry); at the end of its term it joins the ordinary holdings.
    """

    rate_ppb: int
    period_min: int
    term_min: int
    cap_ppb: int

    def worth(self, amount: int, since: int, at_ms: int) -> int:
        """A lot of face value ``amount`` earned at ``since``, at ``at_ms``."""
        period = self.period_min * MINUTE_MS
        steps = min(max(0, (at_ms - since) // period), self.term_min // self.period_min)
        return amount + amount * min(steps * self.rate_ppb, self.cap_ppb - PPB) // PPB

    @property
    def term_ms(self) -> int:
        """How long a lot rises before it joins the ordinary holdings."""
        return self.term_min * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Currency:
    """One version of the building's currency document."""

    building: str
    version: int
    effective: int
    name: str
    unit: str
    decimals: int
    interval_min: int
    final_min: int
    tz: str
    prices: Prices
    value: ValueRule
    credit_limit: int
    building_account: str
    prev: bytes | None = None
    lent: LentRule | None = None  # absent: lent WAT is held like any other

    @property
    def interval_ms(self) -> int:
        """The settlement interval in ms."""
        return self.interval_min * MINUTE_MS

    @property
    def final_ms(self) -> int:
        """How long after an interval's end its missing meters are waited for."""
        return self.final_min * MINUTE_MS

    @property
    def period_ms(self) -> int:
        """The value rule's period in ms."""
        return self.value.period_min * MINUTE_MS

    def document(self) -> JsonObject:
        """The canonical document, as proposed and signed."""
        doc: JsonObject = {
            "building": self.building,
            "version": self.version,
            "effective": self.effective,
            "name": self.name,
            "unit": self.unit,
            "decimals": self.decimals,
            "interval_min": self.interval_min,
            "final_min": self.final_min,
            "tz": self.tz,
            "prices": {
                "local": self.prices.local,
                "group": self.prices.group,
                "outage": self.prices.outage,
            },
            "value": {
                "rate_ppb": self.value.rate_ppb,
                "period_min": self.value.period_min,
                "epoch": self.value.epoch,
                "cap_ppb": self.value.cap_ppb,
            },
            "rounding": _ROUNDING,
            "credit_limit": self.credit_limit,
            "building_account": self.building_account,
        }
        if self.prev is not None:
            doc["prev"] = self.prev.hex()
        if self.lent is not None:
            doc["lent"] = {
                "rate_ppb": self.lent.rate_ppb,
                "period_min": self.lent.period_min,
                "term_min": self.lent.term_min,
                "cap_ppb": self.lent.cap_ppb,
            }
        return doc

    @property
    def digest(self) -> bytes:
        """The version's identity: SHA-256 of the tag and the canonical document."""
        return hashlib.sha256(TAG_CURRENCY + canonical.encode(self.document())).digest()

    def wat(self, amount: int) -> str:
        """An amount of base units written in WAT with all its decimals."""
        sign = "-" if amount < 0 else ""
        whole, part = divmod(abs(amount), 10**self.decimals)
        if not self.decimals:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{part:0{self.decimals}d}"


def default(building: str, effective: int, *, tz: str = "Asia/Tokyo") -> Currency:
    """Version 1 with the defaults, in force from ``effective`` (ms)."""
    return Currency(
        building=building,
        version=1,
        effective=effective,
        name="WAT",
        unit="WAT",
        decimals=DEFAULT_DECIMALS,
        interval_min=DEFAULT_INTERVAL_MIN,
        final_min=DEFAULT_FINAL_MIN,
        tz=tz,
        prices=Prices(DEFAULT_LOCAL, DEFAULT_GROUP, DEFAULT_OUTAGE),
        value=ValueRule(DEFAULT_RATE_PPB, DAY_MIN, effective, PPB),
        credit_limit=DEFAULT_CREDIT,
        building_account=BUILDING_ACCOUNT,
        lent=LentRule(
            DEFAULT_LENT_RATE_PPB,
            DEFAULT_LENT_PERIOD_MIN,
            DEFAULT_LENT_TERM_MIN,
            DEFAULT_LENT_CAP_PPB,
        ),
    )


def parse(doc: object) -> Currency:
    """Validate a currency document; raises :class:`SpecError` saying what is wrong."""
    if not isinstance(doc, dict):
        raise SpecError("bad_currency", "a currency document is a JSON object")
    first = "prev" not in doc
    allowed = _DOC_KEYS - {"prev"} if first else _DOC_KEYS
    if "lent" in doc:
        allowed = allowed | {"lent"}
    if set(doc) != allowed:
        missing, extra = sorted(allowed - set(doc)), sorted(set(doc) - allowed)
        raise SpecError("bad_currency", f"missing {missing}, unknown {extra}")
    building = _text(doc, "building", re.compile(r"[A-Za-z0-9._-]{1,64}\Z"))
    version = _int(doc, "version", 1, MAX_INT)
    if first != (version == 1):
        raise SpecError("bad_currency", "version 1 has no prev; later versions have it")
    prev = None if first else bytes.fromhex(_text(doc, "prev", _HEX32))
    effective = _int(doc, "effective", 0, MAX_INT)
    interval = _int(doc, "interval_min", 1, DAY_MIN)
    if DAY_MIN % interval:
        raise SpecError("bad_currency", "interval_min must divide a day (1440)")
    if effective % (interval * MINUTE_MS):
        raise SpecError("bad_currency", "effective must start a settlement interval")
    tz = doc["tz"]
    if not isinstance(tz, str):
        raise SpecError("bad_currency", "tz is an IANA time zone name")
    try:
        periods.zone(tz)
    except periods.ZoneError as err:
        raise SpecError("bad_currency", str(err)) from err
    prices = _object(doc, "prices", _PRICE_KEYS)
    value = _object(doc, "value", _VALUE_KEYS)
    if doc["rounding"] != _ROUNDING:
        raise SpecError("bad_currency", f"rounding is {_ROUNDING!r} (the only rule)")
    period = _int(value, "period_min", 1, 366 * DAY_MIN)
    epoch = _int(value, "epoch", 0, effective)
    return Currency(
        building=building,
        version=version,
        effective=effective,
        name=_text(doc, "name", _NAME),
        unit=_text(doc, "unit", _NAME),
        decimals=_int(doc, "decimals", 0, 9),
        interval_min=interval,
        final_min=_int(doc, "final_min", interval, 366 * DAY_MIN),
        tz=tz,
        prices=Prices(*(_int(prices, key, 0, _MAX_PRICE) for key in _PRICE_ORDER)),
        value=ValueRule(
            rate_ppb=_int(value, "rate_ppb", -PPB + 1, PPB),
            period_min=period,
            epoch=epoch,
            cap_ppb=_int(value, "cap_ppb", PPB, 1000 * PPB),
        ),
        credit_limit=_int(doc, "credit_limit", 0, MAX_INT),
        building_account=_text(doc, "building_account", _NAME),
        prev=prev,
        lent=_lent(doc),
    )


def _lent(doc: dict[str, JsonValue]) -> LentRule | None:
    if "lent" not in doc:
        return None
    lent = _object(doc, "lent", _LENT_KEYS)
    period = _int(lent, "period_min", 1, 366 * DAY_MIN)
    term = _int(lent, "term_min", period, 366 * DAY_MIN)
    if term % period:
        raise SpecError("bad_currency", "lent.term_min is a multiple of its period_min")
    return LentRule(
        rate_ppb=_int(lent, "rate_ppb", 0, PPB),
        period_min=period,
        term_min=term,
        cap_ppb=_int(lent, "cap_ppb", PPB, 1000 * PPB),
    )


_PRICE_ORDER: Final = ("local", "group", "outage")


def check_follows(current: Currency, proposed: Currency) -> None:
    """Raise unless ``proposed`` may replace ``current`` (besides its approvals).

    The next version, naming the current one, for the same building, taking effect
    after it, on a boundary of both intervals, keeping the value rule's period and
    epoch (so the internal unit stays one unit).
    """
    if proposed.building != current.building:
        raise SpecError("wrong_building", "the proposal is for another building")
    if proposed.version != current.version + 1 or proposed.prev != current.digest:
        raise SpecError(
            "not_next", f"version {proposed.version} does not follow {current.version}"
        )
    if proposed.effective <= current.effective:
        raise SpecError("bad_currency", "a later version takes effect later")
    if proposed.effective % current.interval_ms:
        raise SpecError("bad_currency", "effective must start an interval of both")
    if (proposed.value.period_min, proposed.value.epoch) != (
        current.value.period_min,
        current.value.epoch,
    ):
        raise SpecError("bad_currency", "the value period and epoch never change")


def _int(obj: dict[str, JsonValue], key: str, low: int, high: int) -> int:
    value = obj.get(key)
    if type(value) is not int or not low <= value <= high:
        raise SpecError("bad_currency", f"{key} must be an integer in {low}..{high}")
    return value


def _text(obj: dict[str, JsonValue], key: str, pattern: re.Pattern[str]) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise SpecError("bad_currency", f"{key} is malformed")
    return value


def _object(
    obj: dict[str, JsonValue], key: str, keys: frozenset[str]
) -> dict[str, JsonValue]:
    value = obj.get(key)
    if not isinstance(value, dict) or set(value) != keys:
        raise SpecError("bad_currency", f"{key} is an object of {sorted(keys)}")
    return value
