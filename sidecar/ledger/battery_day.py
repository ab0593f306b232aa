"""``battery_day`` entries: a battery's day, summed, kept in the ledger for good.

PROTOCOL.md section 7.12. Retention deletes flows once their rollups are old enough;
battery traceability needs the battery's whole life. So once a local day of the
building's zone has closed, the node states that day's battery sums in one signed
entry of its own feed that is never folded: energy charged and discharged, the SoC
range, the charge, discharge and rest segments the capacity and efficiency estimators
use, the SoC step seen so far, the reported SoH and the anomalies of that day. Figures
of a summarised day are computed from the summary, never from its flows, so a node that
still holds the flows and one that pruned them state the same numbers.
"""

from __future__ import annotations

from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.canonical import MAX_INT, JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import integer as _int
from sidecar.ledger.schema import text as _str

BATTERY_DAY: Final = "battery_day"
PPM: Final = 1_000_000
# The day's integer sums (docs/BATTERY.md), every one required.
SUMS: Final = (
    "charged",
    "discharged",
    "estimated_in",
    "estimated_out",
    "up_swing",
    "up_energy",
    "ups",
    "down_swing",
    "down_energy",
    "downs",
    "rest_drop",
    "rest_soc_ms",
    "rest_ms",
    "rests",
)
_SIGNED: Final = frozenset({"rest_drop"})  # the SoC may rise at rest
_REQUIRED: Final = frozenset(
    {"v", "kind", "building", "ts", "start", "end", "first_seq", "soc_step", *SUMS}
)
_OPTIONAL: Final = frozenset({"serial", "soc_min", "soc_max", "soh", "anomalies"})
_KEYS: Final = _REQUIRED | _OPTIONAL


def register() -> None:
    """Give the ledger format the schema of ``battery_day`` (kept, not folded)."""
    kinds.register(BATTERY_DAY, check_body, fully_checked=True, folded=False)


def check_body(body: JsonObject, refs: int) -> None:
    """Validate a ``battery_day`` body: the day's bounds and every sum an integer."""
    _exact_keys(body, _KEYS, _REQUIRED)
    if refs > 1:
        raise BodyError(
            "bad_refs", "a battery_day refs at most the previous one of its battery"
        )
    if "serial" in body:
        _str(body, "serial", 64)
    start = _int(body, "start", 0, MAX_INT)
    end = _int(body, "end", 0, MAX_INT)
    ts = body["ts"]
    if not start < end or type(ts) is not int or ts < end:
        raise BodyError(
            "bad_member", "a battery_day needs start < end <= ts: a closed day"
        )
    _int(body, "first_seq", 1, MAX_INT)
    _int(body, "soc_step", 1, PPM)
    for name in SUMS:
        _int(body, name, -MAX_INT if name in _SIGNED else 0, MAX_INT)
    if "soh" in body:
        _int(body, "soh", 0, PPM)
    if ("soc_min" in body) != ("soc_max" in body):
        raise BodyError("missing_member", "soc_min and soc_max come together")
    if "soc_min" in body:
        low, high = _int(body, "soc_min", 0, PPM), _int(body, "soc_max", 0, PPM)
        if low > high:
            raise BodyError("bad_member", "soc_min is above soc_max")
    if "anomalies" in body:
        _int(body, "anomalies", 0, MAX_INT)
