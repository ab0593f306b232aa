"""``battery_state`` entries: what the battery reports of itself, kept in the ledger.

PROTOCOL.md section 7.8. Flows carry the battery's energy and SoC; its own view of its
health (state of health, cycle count, highest and lowest cell voltage) and its raw
lifetime counters are stated in a ``battery_state`` entry: once an hour while samples
carry them, and at once when a counter reads lower than the last one stated, the
reported SoH moves by a whole percent, or a cell voltage is outside the normal range.
Battery traceability reads them (docs/BATTERY.md). They are kept for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.bounds import OutOfBounds, number
from sidecar.ledger.canonical import MAX_INT, JsonObject
from sidecar.ledger.schema import BodyError
from sidecar.ledger.schema import exact_keys as _exact_keys
from sidecar.ledger.schema import integer as _int
from sidecar.ledger.schema import text as _str

BATTERY_STATE: Final = "battery_state"
HOUR_MS: Final = 3_600_000
# Outside this band a lithium iron phosphate cell is over- or under-charged; cells
# further apart than the spread are out of balance (docs/BATTERY.md).
CELL_LOW_MV: Final = 2_800
CELL_HIGH_MV: Final = 3_650
CELL_SPREAD_MV: Final = 50
SOH_STEP_PPM: Final = 10_000
# A cell outside its band is stated again at most this often.
EVENT_REPEAT_MS: Final = 60_000

_VALUES: Final = ("soh", "cycles", "cell_mv_max", "cell_mv_min", "in_wh", "out_wh")
_KEYS: Final = frozenset({"v", "kind", "building", "ts", "serial", *_VALUES})
_REQUIRED: Final = frozenset({"v", "kind", "building", "ts"})
# Sample key → (body member, low, high, scale).
_FROM_SAMPLE: Final = {
    "soh_pct": ("soh", 0.0, 100.0, 10_000),
    "battery_cycles": ("cycles", 0.0, 1e9, 1),
    "cell_v_max": ("cell_mv_max", 0.0, 10.0, 1000),
    "cell_v_min": ("cell_mv_min", 0.0, 10.0, 1000),
    "battery_in_wh": ("in_wh", 0.0, 1e12, 1),
    "battery_out_wh": ("out_wh", 0.0, 1e12, 1),
}
SAMPLE_KEYS: Final = frozenset(_FROM_SAMPLE)


def register() -> None:
    """Give the ledger format the schema of ``battery_state`` (kept, not folded)."""
    kinds.register(BATTERY_STATE, check_body, fully_checked=True, folded=False)


def check_body(body: JsonObject, refs: int) -> None:
    """Validate a ``battery_state`` body: at least one value, each an integer."""
    _exact_keys(body, _KEYS, _REQUIRED)
    if refs != 0:
        raise BodyError("bad_refs", "a battery_state entry has no refs")
    if "serial" in body:
        _str(body, "serial", 64)
    present = [name for name in _VALUES if name in body]
    if not present:
        raise BodyError("missing_member", "a battery_state states at least one value")
    for name in present:
        _int(body, name, 0, 1_000_000 if name == "soh" else MAX_INT)


def cell_event(state: Mapping[str, object]) -> bool:
    """Whether the cell voltages stated are outside the normal band or spread."""
    high, low = state.get("cell_mv_max"), state.get("cell_mv_min")
    if isinstance(high, int) and high > CELL_HIGH_MV:
        return True
    if isinstance(low, int) and low < CELL_LOW_MV:
        return True
    return (
        isinstance(high, int) and isinstance(low, int) and high - low > CELL_SPREAD_MV
    )


def values(message: Mapping[str, object]) -> JsonObject:
    """The battery's own values in a ``sample`` message, as body members.

    A value that is not a number in its range is left out: the sample checks have
    already refused and counted it.
    """
    found: JsonObject = {}
    for key, (name, low, high, scale) in _FROM_SAMPLE.items():
        if key not in message:
            continue
        try:
            value = number(message[key], low, high, key)
        except OutOfBounds:
            continue
        found[name] = int(value * scale + 0.5) if scale > 1 else int(value)
    return found


class BatteryStates:
    """Decides, sample by sample, when a ``battery_state`` entry is due."""

    def __init__(self) -> None:
        self.last: JsonObject | None = None
        self.last_ts = 0

    def take(
        self, message: Mapping[str, object], ts: int, serial: str | None
    ) -> JsonObject | None:
        """The members of the ``battery_state`` entry to write now, if one is due."""
        state = values(message)
        if not state:
            return None
        if not self._due(state, ts):
            return None
        self.last, self.last_ts = state, ts
        return state if serial is None else {"serial": serial, **state}

    def _due(self, state: JsonObject, ts: int) -> bool:
        last = self.last
        if last is None or ts // HOUR_MS != self.last_ts // HOUR_MS:
            return True
        for counter in ("in_wh", "out_wh"):
            now, before = state.get(counter), last.get(counter)
            if isinstance(now, int) and isinstance(before, int) and now < before:
                return True
        soh, before_soh = state.get("soh"), last.get("soh")
        if (
            isinstance(soh, int)
            and isinstance(before_soh, int)
            and abs(soh - before_soh) >= SOH_STEP_PPM
        ):
            return True
        return cell_event(state) and ts - self.last_ts >= EVENT_REPEAT_MS
