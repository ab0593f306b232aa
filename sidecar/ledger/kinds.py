"""Body schemas of every kind, with the arithmetic the schemas impose.

PROTOCOL.md section 7: the common members, ``flow`` (balance and allocation rules),
``rollup``, and the statements ``checkpoint`` and ``cosign``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Final, cast

from sidecar.coordination import kinds as coordination_kinds
from sidecar.ledger.canonical import MAX_INT, CanonicalError, JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import hex32 as _hex32
from sidecar.ledger.schema import integer as _int
from sidecar.ledger.schema import member_object as _object
from sidecar.ledger.schema import text as _str
from sidecar.mesh import roster

VERSION: Final = 1
PPM: Final = 1_000_000
FLOW: Final = "flow"
ROLLUP: Final = "rollup"
CHECKPOINT: Final = "checkpoint"
COSIGN: Final = "cosign"
WITNESSED: Final = "witnessed"
# Routine entries that retention deletes once a rollup counts them; the others
# (rosters, dispatches, receipts) are kept for good.
FOLDED_KINDS: Final = frozenset({FLOW, WITNESSED, coordination_kinds.AVAILABILITY})
MAX_WITNESSED: Final = 64
STATEMENT_KINDS: Final = frozenset({CHECKPOINT, COSIGN})
# Kinds whose schema checks the type of every member, so a body that passes is already
# known to hold only values canonical JSON allows.
FULLY_CHECKED_KINDS: Final = (
    frozenset({FLOW, ROLLUP, CHECKPOINT, COSIGN, WITNESSED})
    | coordination_kinds.FULLY_CHECKED
)
ROLLUP_PERIODS_MS: Final = {1: 3_600_000, 2: 86_400_000}
TOP_LEVEL: Final = max(ROLLUP_PERIODS_MS)
ENDPOINTS: Final = ("pv", "battery", "grid", "home")
MAX_TRANSFERS: Final = 16
TOLERANCE_MIN_MWH: Final = 10
TOLERANCE_PPM: Final = 20_000

_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_ROLLUP_KEY = re.compile(r"rollup_[0-9]+\Z")
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
    "balance",
    "transfers",
}
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
}
_ROLLUP_REQUIRED = _ROLLUP_KEYS - {"flows_start", "flows_end"}
_TOTAL_KEYS = frozenset({"from", "to", "mwh", "ren_mwh"})
_CHECKPOINT_KEYS = _COMMON | {"size", "root"}
_COSIGN_KEYS = _COMMON | {"log", "size", "root"}
_WITNESSED_KEYS = _COMMON | {"logs"}
_WITNESSED_LOG_KEYS = frozenset({"log", "size", "root"})


@dataclass(frozen=True, slots=True)
class Totals:
    """The six energy totals of one interval, mWh."""

    pv: int
    grid_in: int
    bat_out: int
    home: int
    bat_in: int
    grid_out: int

    @property
    def supplied(self) -> int:
        """Energy made available in the interval: PV, import and discharge."""
        return self.pv + self.grid_in + self.bat_out

    @property
    def error(self) -> int:
        """In − out − storage change."""
        return self.supplied - self.home - self.bat_in - self.grid_out


def tolerance(totals: Totals) -> int:
    """The balance tolerance: 10 mWh or 2 % of the energy supplied."""
    return max(TOLERANCE_MIN_MWH, totals.supplied * TOLERANCE_PPM // PPM)


def balance(totals: Totals, *, metered: bool) -> JsonObject:
    """The ``balance`` member of a flow for these totals."""
    err = totals.error
    tol = tolerance(totals)
    return {
        "pv": totals.pv,
        "grid_in": totals.grid_in,
        "bat_out": totals.bat_out,
        "home": totals.home,
        "bat_in": totals.bat_in,
        "grid_out": totals.grid_out,
        "err": err,
        "tol": tol,
        "ok": 1 if abs(err) <= tol else 0,
        "metered": 1 if metered else 0,
    }


def allocate(totals: Totals) -> list[tuple[str, str, int]]:
    """Split the totals into (from, to, mWh) transfers.

    PV goes first to the home, then to the battery, then to the grid; the battery to
    the home, then the grid; the grid to the home, then the battery. Renewable energy
    is credited to consumption first.
    """
    home, battery, grid = totals.home, totals.bat_in, totals.grid_out
    result: list[tuple[str, str, int]] = []
    # Written out step by step: this runs for every interval of every flat.
    left = totals.pv
    if left:
        if moved := min(left, home):
            result.append(("pv", "home", moved))
            left -= moved
            home -= moved
        if moved := min(left, battery):
            result.append(("pv", "battery", moved))
            left -= moved
            battery -= moved
        if moved := min(left, grid):
            result.append(("pv", "grid", moved))
            grid -= moved
    left = totals.bat_out
    if left:
        if moved := min(left, home):
            result.append(("battery", "home", moved))
            left -= moved
            home -= moved
        if moved := min(left, grid):
            result.append(("battery", "grid", moved))
    left = totals.grid_in
    if left:
        if moved := min(left, home):
            result.append(("grid", "home", moved))
            left -= moved
        if moved := min(left, battery):
            result.append(("grid", "battery", moved))
    return result


def rollup_key(level: object) -> str:
    """The count key of a rollup of ``level`` (1 hourly, 2 daily): ``rollup_1``."""
    return f"{ROLLUP}_{level}"


def count_key(kind: str, body: JsonObject) -> str:
    """How an entry is counted in rollups and stored: its kind, rollups with level."""
    if kind == ROLLUP:
        return rollup_key(body["level"])
    return kind


def foldable(rollup_level: int, key: str) -> bool:
    """Whether a rollup of this level may stand in for entries of this count key."""
    if key in FOLDED_KINDS:
        return True
    match = _ROLLUP_KEY.match(key)
    return match is not None and int(key[7:]) < rollup_level


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
    if _ROLLUP_KEY.match(kind):
        raise BodyError("bad_kind", f"{kind!r} is reserved for counting rollups")
    if kind == FLOW:
        check_flow(body)
    elif kind == ROLLUP:
        check_rollup(body, seq, refs)
    elif kind in {WITNESSED, roster.ROSTER}:
        if refs:
            raise BodyError("bad_refs", f"a {kind} entry has no refs")
        if kind == WITNESSED:
            check_witnessed(body)
        else:
            roster.check_entry_body(body)
    elif kind in coordination_kinds.KINDS:
        coordination_kinds.check_body(body, refs)


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
    period = ROLLUP_PERIODS_MS[level]
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    if start % period or end % period or start >= end:
        raise BodyError(
            "bad_member", f"start/end must be ordered multiples of {period} ms"
        )
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


def encode_flow(body: JsonObject) -> bytes:
    """Canonical bytes of a flow body built by this node, without the generic encoder.

    A node writes one flow per interval per flat and a building replays them at tens of
    thousands per second, so the generic encoder's sorting and per-value dispatch show
    up next to the signature. The members and their order are fixed by the schema, so a
    template writes the same bytes in a third of the time; the tests compare the two on
    generated bodies.
    """
    b = cast(dict[str, Any], body)
    text = _quoted
    bal = b["balance"]
    parts = [
        f'{{"balance":{{"bat_in":{bal["bat_in"]},"bat_out":{bal["bat_out"]},'
        f'"err":{bal["err"]},"grid_in":{bal["grid_in"]},"grid_out":{bal["grid_out"]},'
        f'"home":{bal["home"]},"metered":{bal["metered"]},"ok":{bal["ok"]},'
        f'"pv":{bal["pv"]},"tol":{bal["tol"]}}}'
    ]
    if "bat_ren" in b:
        parts.append(f',"bat_ren":{b["bat_ren"]}')
    parts.append(f',"building":{text(b["building"])},"end":{b["end"]}')
    if "gap" in b:
        parts.append(f',"gap":{b["gap"]}')
    parts.append(',"kind":"flow"')
    if "living" in b:
        parts.append(f',"living":{b["living"]}')
    loc = b["loc"]
    parts.append(f',"loc":{{"flat":{text(loc["flat"])},"floor":{text(loc["floor"])}}}')
    if "mhz" in b:
        parts.append(f',"mhz":{b["mhz"]}')
    if "mv" in b:
        parts.append(f',"mv":{b["mv"]}')
    parts.append(f',"samples":{b["samples"]}')
    if "serial" in b:
        parts.append(f',"serial":{text(b["serial"])}')
    if "soc" in b:
        parts.append(f',"soc":{b["soc"]}')
    parts.append(f',"start":{b["start"]},"transfers":[')
    parts.append(
        ",".join(
            [
                f'{{"from":{text(t["from"])},"mwh":{t["mwh"]},"ren":{t["ren"]},'
                f'"to":{text(t["to"])}}}'
                for t in b["transfers"]
            ]
        )
    )
    parts.append(f'],"ts":{b["ts"]},"v":{b["v"]}}}')
    try:
        return "".join(parts).encode()
    except UnicodeEncodeError as err:
        raise CanonicalError(
            "lone_surrogate", "a string holds an unpaired surrogate"
        ) from err


# The endpoint names recur in every flow; their JSON text never changes.
_QUOTED_ENDPOINTS: Final = {name: encode_basestring(name) for name in ENDPOINTS}


def _quoted(value: str) -> str:
    return _QUOTED_ENDPOINTS.get(value) or encode_basestring(value)
