"""What a flat's devices can do: the ``capabilities`` of Home Assistant's availability.

docs/COORDINATION.md section 4. Home Assistant reports four flags and how often an
unchanged hold may be rewritten; the availability entry keeps them as two integers,
``caps`` (a bit per flag) and ``write_interval_ms``. A flat whose availability has no
``caps`` (an older integration) is read as able to do everything, as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData

# Bits of ``caps``, in the order the flags are listed in the message.
FLAGS: Final = ("read", "control_power", "switch_living_room", "revert_timer")
READ: Final = 1
CONTROL_POWER: Final = 2
SWITCH_LIVING_ROOM: Final = 4
REVERT_TIMER: Final = 8
ALL_CAPS: Final = READ | CONTROL_POWER | SWITCH_LIVING_ROOM | REVERT_TIMER
# An hour: beyond it a device is not one the group can lean on at all.
MAX_WRITE_INTERVAL_MS: Final = 3_600_000
_KEYS: Final = frozenset({*FLAGS, "min_write_interval_s"})


class CapabilitiesRejected(InvalidData):
    """A ``capabilities`` member that cannot become entry members."""


def capabilities_content(value: object) -> JsonObject:
    """``caps`` and ``write_interval_ms`` from the message's ``capabilities`` object.

    Every flag is required and must be a boolean; ``min_write_interval_s`` is seconds,
    0 to 3600, rounded up to whole milliseconds (a device is never written sooner than
    it said). A member at its default (all flags, 0 s) is left out. Raises
    :class:`CapabilitiesRejected` with reason ``bad_value``, ``missing_value``,
    ``not_a_number`` or ``out_of_range``.
    """
    if not isinstance(value, Mapping):
        raise CapabilitiesRejected("bad_value", "'capabilities' must be an object")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise CapabilitiesRejected(
            "bad_value", f"'capabilities' has unknown members {unknown}"
        )
    caps = 0
    for bit, key in enumerate(FLAGS):
        if key not in value:
            raise CapabilitiesRejected(
                "missing_value", f"capabilities {key!r} is required"
            )
        flag = value[key]
        if not isinstance(flag, bool):
            raise CapabilitiesRejected(
                "bad_value", f"capabilities {key!r} must be true or false"
            )
        caps |= int(flag) << bit
    interval = value.get("min_write_interval_s", 0)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise CapabilitiesRejected(
            "not_a_number", "capabilities 'min_write_interval_s' must be a number"
        )
    most_s = MAX_WRITE_INTERVAL_MS // 1000
    if not math.isfinite(interval) or not 0 <= interval <= most_s:
        raise CapabilitiesRejected(
            "out_of_range", f"capabilities 'min_write_interval_s' must be 0-{most_s}"
        )
    # A member at its default is left out: the entry is then the one an older node
    # writes and reads, which keeps a building with nodes of both ages in agreement.
    content: JsonObject = {}
    if caps != ALL_CAPS:
        content["caps"] = caps
    if interval > 0:
        content["write_interval_ms"] = math.ceil(interval * 1000)
    return content
