"""Body schemas of the coordination kinds: availability, dispatch, cancel, receipt.

docs/COORDINATION.md section 3. Like the schemas in :mod:`sidecar.ledger.kinds`,
every member is named, typed and bounded; anything else is refused with a
:class:`BodyError` carrying the same reason codes as :mod:`sidecar.ledger.kinds`
(``missing_member``, ``unknown_member``, ``bad_member``, ``bad_kind``).

The ledger format does not know these kinds: :func:`register` gives it their schemas,
and the sidecar registers them when it is imported.
"""

from __future__ import annotations

from typing import Final

from sidecar.coordination.capabilities import ALL_CAPS, MAX_WRITE_INTERVAL_MS
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.canonical import MAX_INT, JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import hex32 as _hex32
from sidecar.ledger.schema import integer as _int
from sidecar.ledger.schema import text as _str

AVAILABILITY: Final = "availability"
DISPATCH: Final = "dispatch"
DISPATCH_CANCEL: Final = "dispatch_cancel"
RECEIPT: Final = "receipt"
TRANSFER: Final = "transfer"
KINDS: Final = frozenset({AVAILABILITY, DISPATCH, DISPATCH_CANCEL, RECEIPT, TRANSFER})
# Every member of these kinds is type-checked here, so the ledger may skip its generic
# walk over their values.
FULLY_CHECKED: Final = KINDS

DISCHARGE: Final = "discharge"
CHARGE: Final = "charge"
DIRECTIONS: Final = (DISCHARGE, CHARGE)
MODE_POWER: Final = "power"
MODE_METER_LIMIT: Final = "meter_limit"
MODES: Final = (MODE_POWER, MODE_METER_LIMIT)

PPM: Final = 1_000_000
# Plausibility bounds. One flat: a battery of at most 10 MWh and 1 MW; the building
# meter and group targets: at most 100 MW either way.
MAX_FLAT_ENERGY_WH: Final = 10_000_000
MAX_FLAT_POWER_W: Final = 1_000_000
MAX_GROUP_W: Final = 100_000_000
MAX_DISPATCH_MS: Final = 86_400_000
MAX_REASON_CHARS: Final = 64

_COMMON: Final = frozenset({"v", "kind", "building", "ts"})
_AVAILABILITY_REQUIRED: Final = _COMMON | {
    "energy_wh",
    "max_discharge_w",
    "max_charge_w",
    "battery_w",
    "participate",
    "max_share_ppm",
}
# Outage members: the grid is out, the flat's bus is closed, its living room's draw;
# then what the flat's devices can do (coordination.capabilities).
_AVAILABILITY_KEYS: Final = _AVAILABILITY_REQUIRED | {
    "soc",
    "outage",
    "bus",
    "living_w",
    "caps",
    "write_interval_ms",
}
_DISPATCH_BASE: Final = _COMMON | {"direction", "mode", "start", "end", "reason"}
_DISPATCH_MODE_KEYS: Final = {
    MODE_POWER: frozenset({"target_w"}),
    MODE_METER_LIMIT: frozenset({"limit_w", "meter_w", "group_w"}),
}
_CANCEL_KEYS: Final = _COMMON | {"event"}
_RECEIPT_KEYS: Final = _COMMON | {"from", "mwh", "start", "end"}
_TRANSFER_KEYS: Final = _COMMON | {"to", "mwh", "start", "end"}


def register() -> None:
    """Give the ledger format the schemas of the coordination kinds.

    Availabilities are routine: retention deletes them once a rollup counts them.
    """
    for kind in sorted(KINDS):
        ledger_kinds.register(
            kind,
            check_body,
            fully_checked=kind in FULLY_CHECKED,
            folded=kind == AVAILABILITY,
        )


def check_body(body: JsonObject, refs: int) -> None:
    """Validate the body of a coordination entry; ``refs`` is its number of refs.

    The common members (``v``, ``kind``, ``building``, ``ts``) are expected to have
    been checked by :func:`sidecar.ledger.kinds.check_entry_body`; ``ts`` is checked
    again because the coordination rules compare it.
    """
    kind = body.get("kind")
    _int(body, "ts", 0, MAX_INT)
    if kind == AVAILABILITY:
        check_availability(body)
    elif kind == DISPATCH:
        check_dispatch(body)
    elif kind == DISPATCH_CANCEL:
        check_cancel(body)
    elif kind == RECEIPT:
        check_receipt(body)
    elif kind == TRANSFER:
        check_transfer(body)
    else:
        raise BodyError("bad_kind", f"{kind!r} is not a coordination kind")
    if kind != RECEIPT and refs != 0:
        raise BodyError("bad_refs", f"a {kind} entry has no refs")
    if kind == RECEIPT and refs != 1:
        raise BodyError("bad_refs", "a receipt has exactly one ref: the sender's entry")


def check_availability(body: JsonObject) -> None:
    """Validate an ``availability`` body (what one flat offers the group now)."""
    _exact_keys(body, _AVAILABILITY_KEYS, _AVAILABILITY_REQUIRED)
    _int(body, "energy_wh", 0, MAX_FLAT_ENERGY_WH)
    _int(body, "max_discharge_w", 0, MAX_FLAT_POWER_W)
    _int(body, "max_charge_w", 0, MAX_FLAT_POWER_W)
    _int(body, "battery_w", -MAX_FLAT_POWER_W, MAX_FLAT_POWER_W)
    if "soc" in body:
        _int(body, "soc", 0, PPM)
    _int(body, "participate", 0, 1)
    _int(body, "max_share_ppm", 0, PPM)
    for key in ("outage", "bus"):
        if key in body:
            _int(body, key, 0, 1)
    if "living_w" in body:
        _int(body, "living_w", 0, MAX_FLAT_POWER_W)
    if "caps" in body:
        _int(body, "caps", 0, ALL_CAPS)
    if "write_interval_ms" in body:
        _int(body, "write_interval_ms", 0, MAX_WRITE_INTERVAL_MS)


def check_dispatch(body: JsonObject) -> None:
    """Validate a ``dispatch`` body (a request for group discharge or charge)."""
    if "mode" not in body:
        raise BodyError("missing_member", "'mode' is required")
    mode = body["mode"]
    if not isinstance(mode, str) or mode not in _DISPATCH_MODE_KEYS:
        raise BodyError("bad_member", f"'mode' must be one of {MODES}")
    mode_keys = _DISPATCH_MODE_KEYS[mode]
    required = _DISPATCH_BASE | mode_keys
    _exact_keys(body, required | {"replaces"}, required)
    if body["direction"] not in DIRECTIONS:
        raise BodyError("bad_member", f"'direction' must be one of {DIRECTIONS}")
    if mode == MODE_POWER:
        _int(body, "target_w", 1, MAX_GROUP_W)
    else:
        for key in ("limit_w", "meter_w", "group_w"):
            _int(body, key, -MAX_GROUP_W, MAX_GROUP_W)
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    if not 0 < end - start <= MAX_DISPATCH_MS:
        raise BodyError(
            "bad_member",
            f"end must be after start by at most {MAX_DISPATCH_MS} ms",
        )
    _str(body, "reason", MAX_REASON_CHARS)
    if "replaces" in body:
        _hex32(body, "replaces")


def check_cancel(body: JsonObject) -> None:
    """Validate a ``dispatch_cancel`` body."""
    _exact_keys(body, _CANCEL_KEYS, _CANCEL_KEYS)
    _hex32(body, "event")


def check_receipt(body: JsonObject) -> None:
    """Validate a ``receipt`` body (energy received from another flat)."""
    _exact_keys(body, _RECEIPT_KEYS, _RECEIPT_KEYS)
    _hex32(body, "from")
    # 0 is a receipt too: the receiver states it got nothing of what was sent.
    _int(body, "mwh", 0, MAX_INT)
    _interval(body)


def check_transfer(body: JsonObject) -> None:
    """Validate a ``transfer`` body (energy sent over the building bus to a flat)."""
    _exact_keys(body, _TRANSFER_KEYS, _TRANSFER_KEYS)
    _hex32(body, "to")
    _int(body, "mwh", 1, MAX_INT)
    _interval(body)


def _interval(body: JsonObject) -> None:
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    if start >= end:
        raise BodyError("bad_member", f"start {start} is not before end {end}")
