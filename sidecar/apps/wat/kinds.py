"""The WAT entry kinds: ``currency`` (an adopted document) and ``wat_meter``.

PROTOCOL.md sections 7.10 and 7.11. A ``currency`` entry is a currency document (without
its ``building``, which the entry's common member carries) plus the approvals that adopt
it, exactly as a ``roster`` entry carries a roster. A ``wat_meter`` entry is one flat's
own import and export over a span, summed from its own flows: what settlement reads, and
what stays when retention has folded the flows into rollups.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar.apps.wat import spec
from sidecar.apps.wat.spec import Currency, SpecError
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.canonical import MAX_INT, JsonObject, JsonValue
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import integer as _int

CURRENCY: Final = "currency"
METER: Final = "wat_meter"
MAX_APPROVALS: Final = 64
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")
_HEX64: Final = re.compile(r"[0-9a-f]{128}\Z")
_COMMON: Final = frozenset({"v", "kind", "building", "ts"})
_METER_KEYS: Final = _COMMON | {
    "start",
    "end",
    "grid_in",
    "grid_out",
    "ren_out",
    "first",
    "last",
}

type Approval = tuple[bytes, bytes]
"""An approving member's author id and its signature over the document's digest."""


def register() -> None:
    """Give the ledger format the schemas of both kinds; both are kept for good."""
    ledger_kinds.register(CURRENCY, _check_currency, fully_checked=False, folded=False)
    ledger_kinds.register(METER, _check_meter, fully_checked=True, folded=False)


def entry_body(proposed: Currency, approvals: list[JsonValue]) -> JsonObject:
    """The members of a ``currency`` entry (without the common members)."""
    body = proposed.document()
    del body["building"]
    body["approvals"] = sorted(
        approvals,
        key=lambda item: str(item["author"]) if isinstance(item, dict) else "",
    )
    return body


def from_entry_body(body: JsonObject) -> tuple[Currency, list[Approval]]:
    """The document and its approvals from a ``currency`` entry body."""
    doc = {k: v for k, v in body.items() if k not in _COMMON and k != "approvals"}
    doc["building"] = body.get("building", "")
    proposed = spec.parse(doc)
    raw = body.get("approvals")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_APPROVALS:
        raise SpecError("bad_currency", f"approvals is a list of 1-{MAX_APPROVALS}")
    approvals: list[Approval] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"author", "sig"}:
            raise SpecError("bad_currency", "an approval is {author, sig}")
        author, sig = item["author"], item["sig"]
        if not isinstance(author, str) or not _HEX32.match(author):
            raise SpecError("bad_currency", "an approval's author is 64 hex digits")
        if not isinstance(sig, str) or not _HEX64.match(sig):
            raise SpecError("bad_currency", "an approval's sig is 128 hex digits")
        approvals.append((bytes.fromhex(author), bytes.fromhex(sig)))
    return proposed, approvals


def _check_currency(body: JsonObject, refs: int) -> None:
    if refs:
        raise BodyError("bad_refs", f"a {CURRENCY} entry has no refs")
    try:
        from_entry_body(body)
    except SpecError as err:
        raise BodyError("bad_member", str(err)) from err


def meter_body(
    start: int, end: int, totals: tuple[int, int, int], first: int, last: int
) -> JsonObject:
    """The members of a ``wat_meter`` entry (without the common members)."""
    grid_in, grid_out, ren_out = totals
    return {
        "start": start,
        "end": end,
        "grid_in": grid_in,
        "grid_out": grid_out,
        "ren_out": ren_out,
        "first": first,
        "last": last,
    }


def _check_meter(body: JsonObject, refs: int) -> None:
    if refs:
        raise BodyError("bad_refs", f"a {METER} entry has no refs")
    check_meter(body)


def check_meter(body: JsonObject) -> None:
    """Validate a ``wat_meter`` body."""
    _exact_keys(body, _METER_KEYS, _METER_KEYS)
    start = _int(body, "start", 0, MAX_INT)
    if _int(body, "end", 0, MAX_INT) <= start:
        raise BodyError("bad_member", "start is not before end")
    _int(body, "grid_in", 0, MAX_INT)
    if _int(body, "ren_out", 0, MAX_INT) > _int(body, "grid_out", 0, MAX_INT):
        raise BodyError("bad_member", "ren_out is part of grid_out")
    if _int(body, "first", 1, MAX_INT) > _int(body, "last", 1, MAX_INT):
        raise BodyError("bad_member", "first is not after last")
