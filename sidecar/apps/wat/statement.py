"""Statements (one flat, one period) and the operator's month report, from a settlement.

Every statement line is one interval's trade of the flat, with the entries it rests on
(``refs``: ``<author hex>:<seq>`` of the flat's meters and receipts) and the interval's
totals, so anyone holding the feeds recomputes it (``verify-statement``). Times are in
the currency's time zone. ``value_change`` is what value over time and rounding did to
the holdings: closing − opening − the sum of the lines' amounts.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Final

from sidecar.apps.wat.book import Interval, piece
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.spec import Currency
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.kinds import periods

COLUMNS: Final = (
    "start",
    "end",
    "kind",
    "mwh",
    "ren_mwh",
    "price",
    "amount",
    "version",
    "exported",
    "imported",
    "matched",
    "paid",
    "refs",
)


def local(at_ms: int, tz: str) -> str:
    """An instant as ISO 8601 in the building's zone."""
    return datetime.fromtimestamp(at_ms / 1000, periods.zone(tz)).isoformat()


def month_span(month: str, tz: str) -> tuple[int, int]:
    """``YYYY-MM`` as [start, end) instants of that month in ``tz``."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = datetime(year, number, 1, tzinfo=periods.zone(tz))
    except ValueError as err:
        raise ValueError(f"month {month!r} is not YYYY-MM") from err
    start = int(first.timestamp() * 1000)
    return start, periods.floor(3, start + 32 * 86_400_000, tz)


def _lines(interval: Interval, author: bytes) -> list[JsonObject]:
    matched = interval.matched
    totals: JsonObject = {
        "exported": matched.exported,
        "imported": matched.imported,
        "matched": matched.matched,
        "paid": matched.paid,
    }
    refs: list[JsonValue] = [m.source.ref() for m in interval.meters.get(author, [])]
    lines: list[JsonObject] = []
    trade = matched.trades.get(author)
    if trade is not None:
        sold = trade.sold > 0
        lines.append(
            {
                "kind": "sold" if sold else "bought",
                "mwh": trade.sold if sold else trade.bought,
                "ren_mwh": trade.ren,
                "price": interval.price,
                "amount": trade.received if sold else -trade.paid,
                "refs": refs,
                **totals,
            }
        )
    for receipt, amount in interval.receipts:
        if author not in {receipt.giver, receipt.receiver}:
            continue
        gave = receipt.giver == author
        lines.append(
            {
                "kind": "bus_out" if gave else "bus_in",
                "mwh": receipt.mwh,
                "ren_mwh": 0,
                "price": amount * 1_000_000 // receipt.mwh if receipt.mwh else 0,
                "amount": amount if gave else -amount,
                "refs": [receipt.source.ref()],
                **totals,
            }
        )
    for line in lines:
        line["start"] = interval.start
        line["end"] = interval.end
        line["version"] = interval.version
    return lines


def statement(
    settlement: Settlement, author: bytes, start: int, end: int
) -> JsonObject:
    """The statement of ``author`` for ``[start, end)``, as settled by now."""
    book = settlement.book
    currency = settlement.currency(max(start, end - 1)) or _first(settlement)
    tz = currency.tz
    lines = [
        line
        for interval in book.intervals
        if start <= interval.start and interval.end <= end
        for line in _lines(interval, author)
    ]
    opening, closing = book.value_at(author, start), book.value_at(author, end)
    amounts = [_int(line["amount"]) for line in lines]
    for line in lines:
        line["start"] = local(_int(line["start"]), tz)
        line["end"] = local(_int(line["end"]), tz)
    settled = book.settled_until or 0
    member = settlement.rosters.at(start).member(author)
    return {
        "building": currency.building,
        "flat": member.flat if member is not None else "",
        "author": author.hex(),
        "currency": currency.name,
        "unit": currency.unit,
        "decimals": currency.decimals,
        "tz": tz,
        "from": local(start, tz),
        "to": local(end, tz),
        "settled_until": local(min(settled, end), tz),
        "opening": opening,
        "earned": sum(a for a in amounts if a > 0),
        "spent": -sum(a for a in amounts if a < 0),
        "value_change": closing - opening - sum(amounts),
        "closing": closing,
        "lines": list(lines),
    }


def to_csv(doc: JsonObject) -> str:
    """A statement's lines as CSV (amounts in base units, energy in mWh)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    lines = doc["lines"]
    assert isinstance(lines, list)
    for line in lines:
        assert isinstance(line, dict)
        row = [line[column] for column in COLUMNS]
        row[-1] = " ".join(str(ref) for ref in line["refs"])  # type: ignore[union-attr]
        writer.writerow(row)
    writer.writerow(["opening", doc["opening"]])
    writer.writerow(["value_change", doc["value_change"]])
    writer.writerow(["closing", doc["closing"]])
    return out.getvalue()


def report(settlement: Settlement, start: int, end: int) -> list[JsonObject]:
    """Per flat over ``[start, end)``: metered, neighbours, bus and grid energy, WAT."""
    rows: dict[bytes, dict[str, int]] = {}
    keys = (
        "in_mwh",
        "out_mwh",
        "bought_mwh",
        "paid",
        "sold_mwh",
        "received",
        "bus_in_mwh",
        "bus_paid",
        "bus_out_mwh",
        "bus_received",
        "grid_import_mwh",
        "grid_export_mwh",
        "absent_intervals",
    )
    for interval in settlement.book.intervals:
        if not (start <= interval.start and interval.end <= end):
            continue
        for author in interval.absent:
            rows.setdefault(author, dict.fromkeys(keys, 0))["absent_intervals"] += 1
        for author, reading in interval.readings.items():
            row = rows.setdefault(author, dict.fromkeys(keys, 0))
            trade = interval.matched.trades.get(author)
            sold = trade.sold if trade else 0
            bought = trade.bought if trade else 0
            row["sold_mwh"] += sold
            row["bought_mwh"] += bought
            row["received"] += trade.received if trade else 0
            row["paid"] += trade.paid if trade else 0
            net = reading.grid_out - reading.grid_in
            row["grid_export_mwh"] += max(net, 0) - sold
            row["grid_import_mwh"] += max(-net, 0) - bought
        for author, meters in interval.meters.items():
            row = rows[author]
            for meter in meters:
                row["in_mwh"] += piece(
                    meter.grid_in, meter, interval.start, interval.end
                )
                row["out_mwh"] += piece(
                    meter.grid_out, meter, interval.start, interval.end
                )
        for receipt, amount in interval.receipts:
            rows.setdefault(receipt.receiver, dict.fromkeys(keys, 0))
            rows.setdefault(receipt.giver, dict.fromkeys(keys, 0))
            rows[receipt.receiver]["bus_in_mwh"] += receipt.mwh
            rows[receipt.receiver]["bus_paid"] += amount
            rows[receipt.giver]["bus_out_mwh"] += receipt.mwh
            rows[receipt.giver]["bus_received"] += amount
    result: list[JsonObject] = []
    for author, row in sorted(rows.items()):
        member = settlement.rosters.at(start).member(author)
        entry: JsonObject = {
            "flat": member.flat if member else "",
            "author": author.hex(),
        }
        entry.update(row)
        result.append(entry)
    return result


def _first(settlement: Settlement) -> Currency:
    versions = settlement.inputs.currencies.versions
    if not versions:
        raise ValueError("no currency has been adopted in this ledger")
    return versions[0]


def _int(value: JsonValue) -> int:
    assert isinstance(value, int)
    return value
