"""Group allocation: which flat delivers how many watts of a dispatch.

docs/COORDINATION.md sections 4-6. Everything here is a pure function of signed,
integer inputs and the round's start time, so every node that holds the same entries
computes the same result, whatever order it received them in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sidecar.coordination.capabilities import ALL_CAPS, CONTROL_POWER
from sidecar.coordination.kinds import (
    CHARGE,
    DISCHARGE,
    MAX_GROUP_W,
    MODE_POWER,
    PPM,
)

DEFAULT_STALE_MS: Final = 3000
# A slow member's share moves in steps of this many watts (section 6.3), so that the
# small changes of every round do not rewrite a device that is written slowly.
STEADY_STEP_W: Final = 100


@dataclass(frozen=True, slots=True)
class Availability:
    """One flat's signed offer to the group (an ``availability`` entry)."""

    author: bytes
    ts: int
    energy_wh: int
    max_discharge_w: int
    max_charge_w: int
    battery_w: int
    participate: bool
    max_share_ppm: int
    soc_ppm: int | None = None
    outage: bool = False
    bus: bool = False
    living_w: int | None = None
    # What its devices can do (coordination.capabilities); all, when not said.
    caps: int = ALL_CAPS
    write_interval_ms: int = 0

    @classmethod
    def from_body(cls, author: bytes, body: Mapping[str, object]) -> Availability:
        """Read a body that passed :func:`coordination_kinds.check_availability`."""
        soc = body.get("soc")
        return cls(
            author=author,
            ts=_as_int(body["ts"]),
            energy_wh=_as_int(body["energy_wh"]),
            max_discharge_w=_as_int(body["max_discharge_w"]),
            max_charge_w=_as_int(body["max_charge_w"]),
            battery_w=_as_int(body["battery_w"]),
            participate=body["participate"] == 1,
            max_share_ppm=_as_int(body["max_share_ppm"]),
            soc_ppm=None if soc is None else _as_int(soc),
            outage=body.get("outage") == 1,
            bus=body.get("bus") == 1,
            living_w=None if "living_w" not in body else _as_int(body["living_w"]),
            caps=_as_int(body.get("caps", ALL_CAPS)),
            write_interval_ms=_as_int(body.get("write_interval_ms", 0)),
        )

    @property
    def controllable(self) -> bool:
        """Whether its battery's power can be set: only then is it a giver."""
        return bool(self.caps & CONTROL_POWER)

    def weight(self, direction: str) -> int:
        """What this flat's share is proportional to.

        Discharge: its energy above the reserve. Charge: its maximum charge power (the
        body says nothing about free capacity; a full battery reports 0 W).
        """
        return self.energy_wh if direction == DISCHARGE else self.max_charge_w

    def limit(self, direction: str) -> int:
        """The most this flat can deliver in ``direction``, W."""
        return self.max_discharge_w if direction == DISCHARGE else self.max_charge_w


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A request for group discharge or charge (a ``dispatch`` entry)."""

    id: bytes
    author: bytes
    ts: int
    direction: str
    mode: str
    start: int
    end: int
    reason: str
    target_w: int = 0
    limit_w: int = 0
    meter_w: int = 0
    group_w: int = 0
    replaces: bytes | None = None

    @classmethod
    def from_body(
        cls, entry_id: bytes, author: bytes, body: Mapping[str, object]
    ) -> Dispatch:
        """Read a body that passed :func:`coordination_kinds.check_dispatch`."""
        replaces = body.get("replaces")
        return cls(
            id=entry_id,
            author=author,
            ts=_as_int(body["ts"]),
            direction=str(body["direction"]),
            mode=str(body["mode"]),
            start=_as_int(body["start"]),
            end=_as_int(body["end"]),
            reason=str(body["reason"]),
            target_w=_as_int(body.get("target_w", 0)),
            limit_w=_as_int(body.get("limit_w", 0)),
            meter_w=_as_int(body.get("meter_w", 0)),
            group_w=_as_int(body.get("group_w", 0)),
            replaces=None if replaces is None else bytes.fromhex(str(replaces)),
        )

    @property
    def event(self) -> bytes:
        """The event this entry starts or updates: ``replaces``, else its own id."""
        return self.id if self.replaces is None else self.replaces

    @property
    def sign(self) -> int:
        """+1 for discharge, -1 for charge: the sign of battery power it asks for."""
        return 1 if self.direction == DISCHARGE else -1


@dataclass(frozen=True, slots=True)
class Cancel:
    """A ``dispatch_cancel`` entry."""

    id: bytes
    author: bytes
    ts: int
    event: bytes

    @classmethod
    def from_body(
        cls, entry_id: bytes, author: bytes, body: Mapping[str, object]
    ) -> Cancel:
        """Read a body that passed :func:`coordination_kinds.check_cancel`."""
        return cls(
            id=entry_id,
            author=author,
            ts=_as_int(body["ts"]),
            event=bytes.fromhex(str(body["event"])),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """The group's allocation for one round, as every node computes it."""

    at_ms: int
    event: Dispatch | None
    target_w: int = 0
    # Every eligible member's battery power, + discharging, − charging.
    setpoints: dict[bytes, int] = field(default_factory=dict)
    capacity_w: int = 0
    achieved_w: int = 0

    @property
    def total_w(self) -> int:
        """What the setpoints add up to (in the request's direction, ≥ 0)."""
        return sum(abs(w) for w in self.setpoints.values())

    def share_ppm(self, author: bytes) -> int:
        """The member's part of the building target, ppm (0 if not allocated)."""
        if self.target_w <= 0:
            return 0
        return min(PPM, abs(self.setpoints.get(author, 0)) * PPM // self.target_w)


def dispatch_target_w(dispatch: Dispatch) -> int:
    """The group power a dispatch asks for, W ≥ 0, in its direction.

    ``power``: ``target_w``. ``meter_limit``, discharge: bring the building's import
    down to ``limit_w``; without the group it would be ``meter_w + group_w``, so the
    group must deliver ``meter_w - limit_w + group_w``. Charge mirrors it: charge as
    much as keeps the import at or below ``limit_w``, ``limit_w - meter_w + group_w``.
    """
    if dispatch.mode == MODE_POWER:
        target = dispatch.target_w
    elif dispatch.direction == DISCHARGE:
        target = dispatch.meter_w - dispatch.limit_w + dispatch.group_w
    else:
        target = dispatch.limit_w - dispatch.meter_w + dispatch.group_w
    return min(MAX_GROUP_W, max(0, target))


def _newest_first(item: Dispatch) -> tuple[int, bytes]:
    return (-item.ts, item.id)


def cancelled_events(cancels: Iterable[Cancel], at_ms: int) -> set[bytes]:
    """Events cancelled by entries that count at ``at_ms`` (``ts`` ≤ ``at_ms``)."""
    return {cancel.event for cancel in cancels if cancel.ts <= at_ms}


def resolve(
    dispatches: Iterable[Dispatch], cancels: Iterable[Cancel], at_ms: int
) -> Dispatch | None:
    """The dispatch the group follows at ``at_ms``, or None.

    Only entries with ``ts`` ≤ ``at_ms`` count. Each event's current version is its
    newest entry (greatest ``ts``; equal ``ts``: smallest id); a cancelled event has
    none. Of the current versions whose window [start, end) holds ``at_ms``, the newest
    wins by the same order.
    """
    cancelled = cancelled_events(cancels, at_ms)
    current: dict[bytes, Dispatch] = {}
    for item in dispatches:
        if item.ts > at_ms or item.event in cancelled:
            continue
        held = current.get(item.event)
        if held is None or _newest_first(item) < _newest_first(held):
            current[item.event] = item
    running = [d for d in current.values() if d.start <= at_ms < d.end]
    return min(running, key=_newest_first, default=None)


def fresh(
    availabilities: Iterable[Availability],
    members: Collection[bytes],
    at_ms: int,
    stale_ms: int = DEFAULT_STALE_MS,
) -> list[Availability]:
    """The availabilities that count at ``at_ms``, one per member, sorted by author.

    One counts if its author is a member and ``at_ms - stale_ms`` ≤ ``ts`` ≤
    ``at_ms``. Of several by one author the newest counts (on equal ``ts``, the one
    with the greater body values, so the choice never depends on input order).
    """
    newest: dict[bytes, Availability] = {}
    for item in availabilities:
        if item.author not in members or not at_ms - stale_ms <= item.ts <= at_ms:
            continue
        held = newest.get(item.author)
        if held is None or _availability_order(item) > _availability_order(held):
            newest[item.author] = item
    return [newest[author] for author in sorted(newest)]


def _availability_order(item: Availability) -> tuple[int, ...]:
    return (
        item.ts,
        item.energy_wh,
        item.max_discharge_w,
        item.max_charge_w,
        item.battery_w,
        int(item.participate),
        item.max_share_ppm,
        -1 if item.soc_ppm is None else item.soc_ppm,
        item.caps,
        item.write_interval_ms,
    )


def eligible(
    availabilities: Iterable[Availability], direction: str, target_w: int
) -> list[tuple[bytes, int, int]]:
    """(author, weight, cap) of the members that take part, sorted by author.

    A member takes part if it participates, can control its battery's power (its
    ``caps`` say so, or it sent none), is not in a power cut (its battery
    carries its own living room; the bus plan may have it help neighbours), has a
    share limit above zero, and both its weight and its cap are above zero. Its cap
    is its power limit in the direction, and at most ``max_share_ppm`` of the target
    (rounded down).
    """
    result: list[tuple[bytes, int, int]] = []
    for item in availabilities:
        if (
            not item.participate
            or not item.controllable
            or item.outage
            or item.max_share_ppm <= 0
        ):
            continue
        weight = item.weight(direction)
        cap = min(item.limit(direction), target_w * item.max_share_ppm // PPM)
        if weight > 0 and cap > 0:
            result.append((item.author, weight, cap))
    result.sort()
    return result


def split(total: int, members: Iterable[tuple[bytes, int, int]]) -> dict[bytes, int]:
    """Share ``total`` W among (key, weight, cap) members; every key gets an entry.

    Water-filling: shares are proportional to weight; a member whose proportional
    share would reach its cap gets its cap, and the rest is shared again among the
    others until nobody is over. The uncapped shares are then rounded down and the
    watts left over go one each to the largest remainders, ties to the smaller key.
    The result sums to ``min(total, sum of caps)`` exactly. Members with weight or cap
    ≤ 0 get 0. Keys must be unique.
    """
    items = sorted(members)
    if len({key for key, _, _ in items}) != len(items):
        raise ValueError("split: keys must be unique")
    result = dict.fromkeys([key for key, _, _ in items], 0)
    open_items = [(k, w, c) for k, w, c in items if w > 0 and c > 0]
    if total <= 0 or not open_items:
        return result
    if total >= sum(c for _, _, c in open_items):
        result.update({k: c for k, _, c in open_items})
        return result
    left = total
    weight = sum(w for _, w, _ in open_items)
    while True:
        # A member saturates when cap ≤ left × w / weight; compared without division.
        full = [(k, w, c) for k, w, c in open_items if c * weight <= left * w]
        if not full:
            break
        for key, w, c in full:
            result[key] = c
            left -= c
            weight -= w
        open_items = [item for item in open_items if item not in full]
    # total < sum of caps, so some member is still open here and weight > 0.
    remainders: list[tuple[int, bytes]] = []
    for key, w, _ in open_items:
        share, rest = divmod(left * w, weight)
        result[key] = share
        remainders.append((-rest, key))
    leftover = left - sum(result[key] for key, _, _ in open_items)
    for _, key in sorted(remainders)[:leftover]:
        result[key] += 1
    return result


def allocate(
    target_w: int, availabilities: Iterable[Availability], direction: str
) -> dict[bytes, int]:
    """Each eligible member's battery power for a target: + discharge, − charge.

    ``availabilities`` should already be the fresh ones, one per author.
    """
    if direction not in (DISCHARGE, CHARGE):
        raise ValueError(f"direction must be {DISCHARGE!r} or {CHARGE!r}")
    current = list(availabilities)
    members = eligible(current, direction, target_w)
    sign = 1 if direction == DISCHARGE else -1
    return {
        key: sign * w for key, w in _steady_split(target_w, members, current).items()
    }


def _steady_split(
    total: int,
    members: list[tuple[bytes, int, int]],
    availabilities: Iterable[Availability],
) -> dict[bytes, int]:
    """:func:`split`, with a steady share for each slow member.

    A slow member (``write_interval_ms`` > 0) gets its proportional share rounded down
    to :data:`STEADY_STEP_W`; the fast members share the rest, so the total is the
    same as :func:`split`'s. If the fast members cannot carry the rest, or there are
    none, everyone is shared by :func:`split` alone.
    """
    plain = split(total, members)
    slow_keys = {item.author for item in availabilities if item.write_interval_ms > 0}
    slow = {
        key: plain[key] - plain[key] % STEADY_STEP_W
        for key in plain
        if key in slow_keys
    }
    fast = [item for item in members if item[0] not in slow_keys]
    if not slow or not fast:
        return plain
    rest = total - sum(slow.values())
    fast_shares = split(rest, fast)
    if sum(slow.values()) + sum(fast_shares.values()) < sum(plain.values()):
        return plain
    return slow | fast_shares


def group_battery_w(availabilities: Iterable[Availability]) -> int:
    """The battery power of the participating, controllable members, + discharging."""
    return sum(
        item.battery_w
        for item in availabilities
        if item.participate and item.controllable
    )


def plan(
    members: Collection[bytes],
    availabilities: Iterable[Availability],
    dispatches: Iterable[Dispatch],
    cancels: Iterable[Cancel],
    *,
    at_ms: int,
    stale_ms: int = DEFAULT_STALE_MS,
) -> Plan:
    """The group's plan for the round that starts at ``at_ms``.

    Requests and cancels count only when their author is a member.
    """
    event = resolve(
        (item for item in dispatches if item.author in members),
        (item for item in cancels if item.author in members),
        at_ms,
    )
    if event is None:
        return Plan(at_ms, None)
    current = fresh(availabilities, members, at_ms, stale_ms)
    target = dispatch_target_w(event)
    setpoints = allocate(target, current, event.direction)
    capacity = sum(cap for _, _, cap in eligible(current, event.direction, target))
    achieved = event.sign * group_battery_w(current)
    return Plan(
        at_ms=at_ms,
        event=event,
        target_w=target,
        setpoints=setpoints,
        capacity_w=capacity,
        achieved_w=achieved,
    )


def _as_int(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value
