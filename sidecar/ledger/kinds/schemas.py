"""Body schemas of every kind: the format's own, and those registered from above.

PROTOCOL.md section 7: the common members, ``flow`` (with the arithmetic of
:mod:`.energy`), ``rollup``, ``witnessed``, and the statements ``checkpoint`` and
``cosign``. Kinds defined by the parts built on the ledger (roster changes,
coordination) bring their own schema with :func:`register`; the ledger checks them
without knowing them. A kind nobody registered is only checked for the common members.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from sidecar.ledger.canonical import MAX_INT, JsonObject
from sidecar.ledger.kinds import folding, periods
from sidecar.ledger.kinds.energy import PPM, Totals, allocate, balance
from sidecar.ledger.kinds.names import (
    CHECKPOINT,
    COSIGN,
    FLOW,
    ROLLUP,
    STATEMENT_KINDS,
    TOP_LEVEL,
    VERSION,
    WITNESSED,
    rollup_level,
)
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import hex32 as _hex32
from sidecar.ledger.schema import integer as _int
from sidecar.ledger.schema import member_object as _object
from sidecar.ledger.schema import text as _str

type BodyCheck = Callable[[JsonObject, int], None]
"""Raises unless a body (given with its number of refs) is valid for its kind."""

MAX_WITNESSED: Final = 64
MAX_TRANSFERS: Final = 16

_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_BUILDING = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_COMMON = frozenset({"v", "kind", "building", "ts"})
_FLOW_KEYS = _COMMON | {
    "start",
    "end",
    "loc",
    "serial",
    "mhz",
    "mv",
    "soc",
    "bat_ren",
    "living",
    "samples",
    "gap",
    "quality",
    "reconciles",
    "balance",
    "transfers",
}
# A flow without ``quality`` is measured; "measured" itself is never written.
FLOW_QUALITIES: Final = ("estimated", "reconciled")
_FLOW_REQUIRED = frozenset({"start", "end", "loc", "samples", "balance", "transfers"})
_BALANCE_TOTALS = ("pv", "grid_in", "bat_out", "home", "bat_in", "grid_out")
_BALANCE_KEYS = frozenset({*_BALANCE_TOTALS, "err", "tol", "ok", "metered"})
_TRANSFER_KEYS = frozenset({"from", "to", "mwh", "ren"})
_ROLLUP_KEYS = _COMMON | {
    "level",
    "start",
    "end",
    "first",
    "last",
    "root",
    "counts",
    "totals",
    "unbalanced",
    "flows_start",
    "flows_end",
    "tz",
    "soc",
}
_ROLLUP_REQUIRED = _ROLLUP_KEYS - {"flows_start", "flows_end", "tz", "soc"}
_TOTAL_KEYS = frozenset({"from", "to", "mwh", "ren_mwh"})
_CHECKPOINT_KEYS = _COMMON | {"size", "root"}
_COSIGN_KEYS = _COMMON | {"log", "size", "root"}
_WITNESSED_KEYS = _COMMON | {"logs"}
_WITNESSED_LOG_KEYS = frozenset({"log", "size", "root"})
_OWN_KINDS: Final = frozenset({FLOW, ROLLUP, WITNESSED}) | STATEMENT_KINDS
_registered: dict[str, BodyCheck] = {}
# Kinds whose schema checks the type of every member, so a body that passes is already
# known to hold only values canonical JSON allows.
_fully_checked: set[str] = set(_OWN_KINDS)


def register(kind: str, check: BodyCheck, *, fully_checked: bool, folded: bool) -> None:
    """Give the ledger the schema of a kind defined above it.

    ``fully_checked``: ``check`` checks the type of every member. ``folded``: the kind
    is routine, and retention deletes it once a rollup counts it.
    """
    if kind in _OWN_KINDS or not _KIND.match(kind) or rollup_level(kind) is not None:
        raise ValueError(f"{kind!r} cannot be registered")
    _registered[kind] = check
    if fully_checked:
        _fully_checked.add(kind)
    if folded:
        folding.fold(kind)


def registered_kinds() -> frozenset[str]:
    """The kinds registered from above the ledger format."""
    return frozenset(_registered)


def fully_checked(kind: object) -> bool:
    """Whether the schema of ``kind`` checks the type of every member of a body."""
    return kind in _fully_checked


def check_statement_body(body: JsonObject) -> None:
    """Validate a statement's body (checkpoint or cosign)."""
    kind = _common(body)
    if kind == CHECKPOINT:
        _exact_keys(body, _CHECKPOINT_KEYS, _CHECKPOINT_KEYS)
        _int(body, "size", 0, MAX_INT)
        _hex32(body, "root")
    elif kind == COSIGN:
        _exact_keys(body, _COSIGN_KEYS, _COSIGN_KEYS)
        _hex32(body, "log")
        _int(body, "size", 0, MAX_INT)
        _hex32(body, "root")
    else:
        raise BodyError("bad_kind", f"{kind!r} is not a statement kind")


def check_entry_body(body: JsonObject, seq: int, refs: int) -> None:
    """Validate an entry's body; rollups also check ``seq`` and the number of refs."""
    kind = _common(body)
    if kind in STATEMENT_KINDS:
        raise BodyError("bad_kind", f"{kind!r} is a statement kind, not an entry kind")
    if rollup_level(kind) is not None:
        raise BodyError("bad_kind", f"{kind!r} is reserved for counting rollups")
    if kind == FLOW:
        check_flow(body)
    elif kind == ROLLUP:
        check_rollup(body, seq, refs)
    elif kind == WITNESSED:
        if refs:
            raise BodyError("bad_refs", f"a {kind} entry has no refs")
        check_witnessed(body)
    elif (check := _registered.get(kind)) is not None:
        check(body, refs)


def check_witnessed(body: JsonObject) -> None:
    """Validate a ``witnessed`` body: majority-cosigned tree heads its author knows."""
    _exact_keys(body, _WITNESSED_KEYS, _WITNESSED_KEYS)
    logs = body["logs"]
    if not isinstance(logs, list) or not 1 <= len(logs) <= MAX_WITNESSED:
        raise BodyError("bad_member", f"logs is a list of 1-{MAX_WITNESSED}")
    previous = ""
    for item in logs:
        if not isinstance(item, dict):
            raise BodyError("bad_member", "a witnessed log is an object")
        _exact_keys(item, _WITNESSED_LOG_KEYS, _WITNESSED_LOG_KEYS)
        log = _hex32(item, "log")
        if log <= previous:
            raise BodyError("bad_member", "logs are sorted by log id, without repeats")
        previous = log
        _int(item, "size", 1, MAX_INT)
        _hex32(item, "root")


def _common(body: JsonObject) -> str:
    for key in ("v", "kind", "building", "ts"):
        if key not in body:
            raise BodyError("missing_member", f"{key!r} is required")
    version = body["v"]
    if type(version) is not int or version != VERSION:
        raise BodyError("bad_version", f"v must be {VERSION}, got {version!r}")
    kind = body["kind"]
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise BodyError("bad_kind", f"kind {kind!r} is not [a-z][a-z0-9_]{{0,31}}")
    building = body["building"]
    if not isinstance(building, str) or not _BUILDING.match(building):
        raise BodyError("bad_member", "building must be 1-64 of A-Z a-z 0-9 . _ -")
    _int(body, "ts", 0, MAX_INT)
    return kind


def check_flow(body: JsonObject) -> None:
    """Validate a ``flow`` body, including its balance and allocation arithmetic."""
    _exact_keys(body, _FLOW_KEYS, _FLOW_REQUIRED)
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    if start >= end:
        raise BodyError("bad_member", f"start {start} is not before end {end}")
    loc = _object(body, "loc")
    _exact_keys(loc, frozenset({"floor", "flat"}), frozenset({"floor", "flat"}))
    _str(loc, "floor", 16)
    _str(loc, "flat", 16)
    if "serial" in body:
        _str(body, "serial", 64)
    for key, high in (
        ("mhz", 100_000),
        ("mv", 1_000_000),
        ("soc", PPM),
        ("bat_ren", PPM),
    ):
        if key in body:
            _int(body, key, 0, high)
    if "living" in body:
        _int(body, "living", 0, MAX_INT)
    _int(body, "samples", 0, MAX_INT)
    if "gap" in body:
        _int(body, "gap", 1, 1)
    if "quality" in body and body["quality"] not in FLOW_QUALITIES:
        raise BodyError("bad_member", f"quality is one of {', '.join(FLOW_QUALITIES)}")
    if "reconciles" in body and _int(body, "reconciles", 0, MAX_INT) > start:
        raise BodyError("bad_member", "reconciles is a time not after the flow's start")
    if body.get("quality") == "reconciled" and "reconciles" not in body:
        raise BodyError("missing_member", "a reconciled flow says what it reconciles")
    bal = _object(body, "balance")
    _exact_keys(bal, _BALANCE_KEYS, _BALANCE_KEYS)
    values = [_int(bal, key, 0, MAX_INT) for key in _BALANCE_TOTALS]
    metered = _int(bal, "metered", 0, 1)
    totals = Totals(*values)
    _int(bal, "err", -MAX_INT, MAX_INT)
    _int(bal, "tol", 0, MAX_INT)
    _int(bal, "ok", 0, 1)
    if balance(totals, metered=metered == 1) != bal:
        raise BodyError(
            "balance_mismatch", "err, tol or ok do not follow from the six totals"
        )
    transfers = body["transfers"]
    if not isinstance(transfers, list) or len(transfers) > MAX_TRANSFERS:
        raise BodyError("bad_member", f"transfers is a list of at most {MAX_TRANSFERS}")
    stated: list[tuple[str, str, int]] = []
    for item in transfers:
        if not isinstance(item, dict):
            raise BodyError("bad_member", "a transfer is an object")
        _exact_keys(item, _TRANSFER_KEYS, _TRANSFER_KEYS)
        _int(item, "ren", 0, PPM)
        stated.append(
            (
                _str(item, "from", 64),
                _str(item, "to", 64),
                _int(item, "mwh", 1, MAX_INT),
            )
        )
    if stated != allocate(totals):
        raise BodyError(
            "allocation_mismatch", "transfers are not the allocation of the totals"
        )


def check_rollup(body: JsonObject, seq: int, refs: int) -> None:
    """Validate a ``rollup`` body and its place in the feed."""
    _exact_keys(body, _ROLLUP_KEYS, _ROLLUP_REQUIRED)
    level = _int(body, "level", 1, TOP_LEVEL)
    tz = _str(body, "tz", 64) if "tz" in body else periods.UTC_NAME
    try:
        periods.zone(tz)
    except periods.ZoneError as err:
        raise BodyError("bad_member", str(err)) from err
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    # start is the previous same-level rollup's end, perhaps from another time zone.
    if start % periods.MINUTE_MS or start >= end:
        raise BodyError("bad_member", "start must be a whole minute before end")
    if not periods.is_boundary(level, end, tz):
        name = periods.NAMES[level]
        raise BodyError("bad_member", f"end must start a {name} in {tz}")
    if end > _int(body, "ts", 0, MAX_INT):
        raise BodyError(
            "bad_member", "a rollup cannot be written before its period ends"
        )
    first = _int(body, "first", 1, MAX_INT)
    last = _int(body, "last", 1, MAX_INT)
    if last != seq - 1 or first > last:
        raise BodyError(
            "bad_member", f"range {first}..{last} must end at seq {seq} - 1"
        )
    if refs != (0 if first == 1 else 1):
        raise BodyError(
            "bad_member", "refs names the previous same-level rollup, if there is one"
        )
    _hex32(body, "root")
    counts = _object(body, "counts")
    total = 0
    for key in counts:
        if not (_KIND.match(key)) or key in STATEMENT_KINDS or key == ROLLUP:
            raise BodyError("bad_member", f"counts key {key!r} is not a count key")
        total += _int(counts, key, 1, MAX_INT)
    if total != last - first + 1:
        raise BodyError(
            "bad_member", f"counts sum to {total}, range holds {last - first + 1}"
        )
    flows = _int(counts, FLOW, 1, MAX_INT) if FLOW in counts else 0
    if _int(body, "unbalanced", 0, MAX_INT) > flows:
        raise BodyError("bad_member", "more unbalanced flows than flows")
    for key in ("flows_start", "flows_end"):
        if (key in body) != (flows > 0):
            raise BodyError(
                "bad_member", f"{key} is present exactly when there are flows"
            )
    if "soc" in body:
        if not flows:
            raise BodyError("bad_member", "soc is stated only with flows")
        _int(body, "soc", 0, PPM)
    if flows and _int(body, "flows_start", 0, MAX_INT) >= _int(
        body, "flows_end", 0, MAX_INT
    ):
        raise BodyError("bad_member", "flows_start is not before flows_end")
    totals = body["totals"]
    if not isinstance(totals, list):
        raise BodyError("bad_member", "totals is a list")
    pairs: list[tuple[str, str]] = []
    for item in totals:
        if not isinstance(item, dict):
            raise BodyError("bad_member", "a total is an object")
        _exact_keys(item, _TOTAL_KEYS, _TOTAL_KEYS)
        mwh = _int(item, "mwh", 1, MAX_INT)
        _int(item, "ren_mwh", 0, mwh)
        pairs.append((_str(item, "from", 64), _str(item, "to", 64)))
    if pairs != sorted(set(pairs)):
        raise BodyError("bad_member", "totals are sorted by from, to and unique")
