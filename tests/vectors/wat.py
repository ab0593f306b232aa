"""Write the WAT vectors (PROTOCOL.md sections 7.10 and 7.11) to ``wat.json``.

Run from the repository root: ``python -m tests.vectors.wat``. The keys are the
published test keys of :mod:`tests.vectors.generate`; signatures are deterministic, so
the file is reproduced byte for byte (tests/sidecar/wat/test_wat_vectors.py checks it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sidecar.apps.wat import adoption, kinds, spec
from sidecar.apps.wat.matching import Reading, match
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster
from tests.vectors.generate import BUILDING, KEY, NEWCOMER, THIRD, WITNESS

HERE = Path(__file__).resolve().parent
EFFECTIVE = 1_796_050_800_000  # 2026-12-01 00:00 Asia/Tokyo


def _entry(kind: str, members: JsonObject, ts: int) -> JsonObject:
    content: JsonObject = {"v": 1, "kind": kind, "building": BUILDING, "ts": ts}
    content.update(members)
    entry = etp.make_entry(KEY, 1, bytes(32), (), content, deterministic=True)
    return etp.entry_to_wire(entry)


def _approvals(currency: spec.Currency, *keys: Identity) -> list[JsonValue]:
    return [adoption.approve(key, currency, deterministic=True) for key in keys]


def adoption_cases(currency: spec.Currency) -> dict[str, Any]:
    """Proposals a node with the three-member roster refuses, each with its reason."""
    roster = Roster(
        BUILDING,
        1,
        tuple(
            Member(f"{101 + i}", "1", key.public_key, f"127.0.0.1:{9001 + i}")
            for i, key in enumerate((KEY, WITNESS, THIRD))
        ),
    )
    everyone = (KEY, WITNESS, THIRD)
    other = dataclasses.replace(currency, prices=spec.Prices(1, 2, 3))
    elsewhere = dataclasses.replace(currency, building="bldg-02")
    second = dataclasses.replace(currency, version=2, prev=bytes(32))
    cases = [
        ("interval_min does not divide a day", "bad_currency", None, []),
        ("effective is not in the future", "effective_passed", currency, []),
        ("the first version must be version 1", "not_next", second, everyone),
        ("a proposal for another building", "wrong_building", elsewhere, everyone),
        ("an approval by a non-member", "non_member", currency, (KEY, NEWCOMER)),
        ("one member of three", "no_majority", currency, (KEY,)),
    ]
    rows: list[JsonObject] = []
    for why, reason, proposed, keys in cases:
        now = EFFECTIVE if reason == "effective_passed" else EFFECTIVE - 60_000
        document = (
            dict(currency.document(), interval_min=7)
            if proposed is None
            else proposed.document()
        )
        approvals = [] if proposed is None else _approvals(proposed, *keys)
        rows.append(
            {
                "why": why,
                "reason": reason,
                "now": now,
                "proposal": document,
                "approvals": approvals or _approvals(currency, *everyone),
            }
        )
    # Flat 101's signature over another document's digest.
    forged = _approvals(other, KEY) + _approvals(currency, WITNESS)
    rows.append(
        {
            "why": "an approval signed over another document",
            "reason": "forged",
            "now": EFFECTIVE - 60_000,
            "proposal": currency.document(),
            "approvals": forged,
        }
    )
    return {"roster": roster.document(), "refused": rows}


def lent_example(currency: spec.Currency) -> dict[str, Any]:
    """A lot of 20 000 base units earned at the end of the first interval."""
    assert currency.lent is not None
    earned = EFFECTIVE + 1_800_000
    hours = (0, 1, 10, 23, 24, 30)
    return {
        "amount": 20_000,
        "earned": earned,
        "worth": [
            [
                earned + h * 3_600_000,
                currency.lent.worth(20_000, earned, earned + h * 3_600_000),
            ]
            for h in hours
        ],
    }


def vectors() -> dict[str, Any]:
    """Every WAT vector."""
    currency = spec.default(BUILDING, EFFECTIVE)
    approvals: list[JsonValue] = [
        adoption.approve(key, currency, deterministic=True)
        for key in (KEY, WITNESS, THIRD)
    ]
    body = kinds.entry_body(currency, approvals)
    meter = kinds.meter_body(
        EFFECTIVE, EFFECTIVE + 1_800_000, (0, 3_000_000, 2_400_000), 2, 1801
    )
    readings = {
        b"\x01" * 32: Reading(0, 3_000_000, 2_400_000),
        b"\x02" * 32: Reading(2_000_000, 0, 0),
        b"\x03" * 32: Reading(4_000_000, 500_000, 0),
    }
    result = match(readings, currency.prices.local, dict.fromkeys(readings, 10**9))
    return {
        "description": "WAT: the currency document, its digest and approvals, a "
        "currency and a wat_meter entry, invalid bodies with their reasons, proposals "
        "refused with their reasons (7.10.2), a lent lot's worth over time (7.10.3) "
        "and the worked example of docs/WAT.md settled by PROTOCOL.md 7.10.4.",
        "currency": {
            "document": currency.document(),
            "digest": currency.digest.hex(),
            "approvals": approvals,
            "entry": _entry(kinds.CURRENCY, body, EFFECTIVE - 60_000),
        },
        "meter": {"entry": _entry(kinds.METER, meter, EFFECTIVE + 1_801_000)},
        "adoption": adoption_cases(currency),
        "lent": lent_example(currency),
        "invalid": [
            {
                "kind": kinds.METER,
                "why": "ren_out above grid_out",
                "reason": "bad_member",
                "body": dict(meter, ren_out=4_000_000),
            },
            {
                "kind": kinds.METER,
                "why": "an unknown member",
                "reason": "unknown_member",
                "body": dict(meter, note=1),
            },
            {
                "kind": kinds.CURRENCY,
                "why": "interval_min does not divide a day",
                "reason": "bad_member",
                "body": dict(body, interval_min=7),
            },
            {
                "kind": kinds.CURRENCY,
                "why": "no approvals",
                "reason": "bad_member",
                "body": dict(body, approvals=[]),
            },
        ],
        "interval": {
            "price": currency.prices.local,
            "readings": {
                key.hex(): [r.grid_in, r.grid_out, r.ren_out]
                for key, r in readings.items()
            },
            "trades": {
                key.hex(): [t.sold, t.bought, t.ren, t.received, t.paid]
                for key, t in sorted(result.trades.items())
            },
            "totals": [result.exported, result.imported, result.matched, result.paid],
        },
    }


def text() -> str:
    """The file's exact contents."""
    return json.dumps(vectors(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    (HERE / "wat.json").write_text(text(), encoding="utf-8")
