"""From Home Assistant's coordination messages to the bodies of entries.

docs/COORDINATION.md sections 4 and 5. Home Assistant sends floats and percentages as
it reads them; an entry holds bounded integers. A message that cannot become an entry
is refused with a reason, and nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from sidecar.coordination import allocation
from sidecar.coordination.capabilities import (
    CapabilitiesRejected,
    capabilities_content,
)
from sidecar.coordination.kinds import (
    DIRECTIONS,
    DISCHARGE,
    MAX_DISPATCH_MS,
    MAX_FLAT_ENERGY_WH,
    MAX_GROUP_W,
    MAX_REASON_CHARS,
    MODE_METER_LIMIT,
    MODE_POWER,
)
from sidecar.ledger.bounds import OutOfBounds, number
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData

PCT_TO_PPM: Final = 10_000
# The widest number an availability member may hold before the checks for its field
# (PROTOCOL.md §12.10): beyond it, ``out_of_range``.
MAX_AVAILABILITY_NUMBER: Final = MAX_GROUP_W


class AvailabilityRejected(InvalidData):
    """An ``availability`` message from Home Assistant that cannot be published."""


class DispatchRejected(InvalidData):
    """A ``dispatch_request`` from Home Assistant that cannot become an entry."""


def availability_content(
    message: Mapping[str, object],
    *,
    now_ms: int,
    max_power_w: int,
    stale_ms: int = allocation.DEFAULT_STALE_MS,
    max_skew_ms: int = 30_000,
) -> JsonObject:
    """Convert Home Assistant's ``availability`` message to the entry's members.

    Floats become integers (energy and power limits rounded down, so a flat never
    offers more than it has; battery power, SoC and share to the nearest). Energy
    below the reserve counts as none. Raises :class:`AvailabilityRejected` with reason
    ``missing_ts``, ``stale``, ``in_future``, ``missing_value``, ``not_a_number``,
    ``bad_value``, ``out_of_range`` or ``power_limit``. ``capabilities``, when sent,
    becomes ``caps`` and ``write_interval_ms`` (:mod:`.capabilities`).
    """
    ts = message.get("ts")
    if type(ts) is not int:
        raise AvailabilityRejected("missing_ts", "'ts' must be an integer (ms)")
    if ts < now_ms - stale_ms:
        raise AvailabilityRejected(
            "stale", f"'ts' is {now_ms - ts} ms old, more than {stale_ms} ms"
        )
    if ts > now_ms + max_skew_ms:
        raise AvailabilityRejected(
            "in_future", f"'ts' is {ts - now_ms} ms ahead of this node's clock"
        )
    participate = message.get("participate")
    if participate is None:
        raise AvailabilityRejected("missing_value", "'participate' is required")
    if not isinstance(participate, bool):
        raise AvailabilityRejected("bad_value", "'participate' must be true or false")
    energy = _number(message, "energy_wh")
    if abs(energy) > MAX_FLAT_ENERGY_WH:
        raise AvailabilityRejected(
            "out_of_range", f"'energy_wh' beyond ±{MAX_FLAT_ENERGY_WH} Wh"
        )
    content: JsonObject = {"energy_wh": max(0, math.floor(energy))}
    for key in ("max_discharge_w", "max_charge_w"):
        value = _number(message, key)
        if value < 0:
            raise AvailabilityRejected("out_of_range", f"{key!r} is negative")
        if value > max_power_w:
            raise AvailabilityRejected(
                "power_limit", f"{key!r} is above the flat's {max_power_w} W"
            )
        content[key] = math.floor(value)
    battery = _number(message, "battery_w")
    if abs(battery) > max_power_w:
        raise AvailabilityRejected(
            "power_limit", f"'battery_w' is beyond ±{max_power_w} W"
        )
    content["battery_w"] = round(battery)
    content["participate"] = 1 if participate else 0
    share = 100.0
    if "max_share_pct" in message:
        share = _number(message, "max_share_pct")
    if not 0 <= share <= 100:
        raise AvailabilityRejected("out_of_range", "'max_share_pct' must be 0-100")
    content["max_share_ppm"] = round(share * PCT_TO_PPM)
    if "soc_pct" in message:
        soc = _number(message, "soc_pct")
        if not 0 <= soc <= 100:
            raise AvailabilityRejected("out_of_range", "'soc_pct' must be 0-100")
        content["soc"] = round(soc * PCT_TO_PPM)
    for key in ("outage", "bus"):
        if key in message:
            flag = message[key]
            if not isinstance(flag, bool):
                raise AvailabilityRejected(
                    "bad_value", f"{key!r} must be true or false"
                )
            content[key] = 1 if flag else 0
    if "living_w" in message:
        living = _number(message, "living_w")
        if not 0 <= living <= max_power_w:
            raise AvailabilityRejected(
                "out_of_range", f"'living_w' must be 0-{max_power_w}"
            )
        content["living_w"] = round(living)
    if "capabilities" in message:
        try:
            content.update(capabilities_content(message["capabilities"]))
        except CapabilitiesRejected as err:
            raise AvailabilityRejected(err.reason, err.detail) from err
    return content


def dispatch_content(
    request: Mapping[str, object],
    *,
    now_ms: int,
    group_w: int,
    replaces: bytes | None = None,
) -> JsonObject:
    """Convert Home Assistant's ``dispatch_request`` to the entry's members.

    The window starts now and lasts ``duration_s``; a ``meter_limit`` request records
    ``group_w``, what the group delivered when the meter was read. Raises
    :class:`DispatchRejected` with reason ``bad_request``.
    """
    direction = request.get("direction")
    if direction not in DIRECTIONS:
        raise DispatchRejected(
            "bad_request", f"'direction' must be one of {DIRECTIONS}"
        )
    duration = request.get("duration_s")
    if type(duration) is not int or not 1 <= duration <= MAX_DISPATCH_MS // 1000:
        raise DispatchRejected(
            "bad_request",
            f"'duration_s' must be an integer 1..{MAX_DISPATCH_MS // 1000}",
        )
    reason = request.get("reason")
    if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_REASON_CHARS:
        raise DispatchRejected(
            "bad_request", f"'reason' must be 1-{MAX_REASON_CHARS} characters"
        )
    content: JsonObject = {
        "direction": str(direction),
        "start": now_ms,
        "end": now_ms + duration * 1000,
        "reason": reason,
    }
    mode = request.get("mode")
    if mode == MODE_POWER:
        content["mode"] = MODE_POWER
        content["target_w"] = _group_w(request, "target_w", 1)
    elif mode == MODE_METER_LIMIT:
        content["mode"] = MODE_METER_LIMIT
        content["limit_w"] = _group_w(request, "limit_w", -MAX_GROUP_W)
        content["meter_w"] = _group_w(request, "meter_w", -MAX_GROUP_W)
        if abs(group_w) > MAX_GROUP_W:
            raise DispatchRejected("bad_request", "'group_w' is out of range")
        content["group_w"] = group_w if direction == DISCHARGE else -group_w
    else:
        raise DispatchRejected(
            "bad_request", f"'mode' must be {MODE_POWER!r} or {MODE_METER_LIMIT!r}"
        )
    if replaces is not None:
        content["replaces"] = replaces.hex()
    return content


def _group_w(request: Mapping[str, object], key: str, low: int) -> int:
    try:
        return round(number(request.get(key), low, MAX_GROUP_W, key))
    except OutOfBounds as err:
        raise DispatchRejected(
            "bad_request", f"{key!r} must be a number in {low}..{MAX_GROUP_W} W"
        ) from err


def _number(message: Mapping[str, object], key: str) -> float:
    if key not in message:
        raise AvailabilityRejected("missing_value", f"{key!r} is required")
    bound = MAX_AVAILABILITY_NUMBER
    try:
        return number(message[key], -bound, bound, repr(key))
    except OutOfBounds as err:
        detail = f"{key!r} must be a finite number"
        if err.reason == "out_of_range":
            detail = f"{key!r} is beyond ±{bound}"
        raise AvailabilityRejected(err.reason, detail) from err
