"""The node's side of coordination: its flat's setpoints, the availability it publishes.

docs/COORDINATION.md sections 7-9. A :class:`Coordinator` reads the ledger through a
:class:`LedgerView` and a millisecond clock; it does no I/O of its own. Once per
coordination round the node calls :meth:`Coordinator.step` and sends the message it
returns (if any) to its Home Assistant, and publishes the body that
:meth:`Coordinator.availability_content` makes from the newest ``availability``
message Home Assistant sent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from sidecar.coordination import allocation
from sidecar.coordination.allocation import Availability, Cancel, Dispatch, Plan
from sidecar.coordination.bus.support import SupportPlan, plan_support
from sidecar.coordination.intake import availability_content
from sidecar.ledger.canonical import JsonObject

GROUP: Final = "group"
LOCAL_FALLBACK: Final = "local_fallback"


class SignedEntry(Protocol):
    """What the coordinator reads of an entry (a ledger entry fits)."""

    @property
    def author(self) -> bytes:
        """The author id, 32 bytes."""

    @property
    def id(self) -> bytes:
        """The entry id, 32 bytes."""

    @property
    def content(self) -> JsonObject:
        """The body, already checked against its kind's schema."""


class LedgerView(Protocol):
    """Read-only access to what the node's ledger holds, for coordination."""

    def members(self) -> Collection[bytes]:
        """The author ids of the roster's members, this node included."""

    def availability(self, author: bytes, at_ms: int) -> SignedEntry | None:
        """The author's newest ``availability`` entry with ``ts`` ≤ ``at_ms``."""

    def dispatches(self) -> Iterable[SignedEntry]:
        """``dispatch`` entries; at least every one whose ``end`` is still ahead."""

    def cancels(self) -> Iterable[SignedEntry]:
        """``dispatch_cancel`` entries; at least those naming the dispatches above."""

    def mesh_up(self) -> bool:
        """Whether the node is connected to its group (some peer online, or alone)."""

    def own_grid_w(self) -> int | None:
        """The flat's grid power from its newest sample (+ import), None if unknown."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The ``[coordination]`` configuration, with ``[limits]`` values it relies on."""

    round_ms: int = 1000
    stale_ms: int = allocation.DEFAULT_STALE_MS
    revert_s: int = 5
    local_peak_w: int | None = None
    max_power_w: int = 20_000
    max_clock_skew_ms: int = 30_000

    def __post_init__(self) -> None:
        """Refuse settings that would break the round logic."""
        if not 100 <= self.round_ms <= 60_000:
            raise ValueError("round_ms must be 100..60000")
        if self.stale_ms < self.round_ms:
            raise ValueError("stale_ms must be at least one round")
        if self.revert_s * 1000 <= self.round_ms:
            raise ValueError("revert_s must be longer than a round")
        if self.local_peak_w is not None and self.local_peak_w < 0:
            raise ValueError("local_peak_w must be ≥ 0")
        if self.max_power_w <= 0:
            raise ValueError("max_power_w must be > 0")


class Coordinator:
    """Turns the ledger's coordination entries into this flat's setpoint, each round."""

    def __init__(
        self,
        author: bytes,
        view: LedgerView,
        clock: Callable[[], int],
        settings: Settings | None = None,
    ) -> None:
        self.author = author
        self.view = view
        self.clock = clock
        self.settings = settings or Settings()
        self._mesh_seen_ms: int | None = None
        self._planned_at = 0
        self._bus_active = False
        self._active: bytes | None = None
        self._dispatch_cache: dict[bytes, Dispatch] = {}
        self._cancel_cache: dict[bytes, Cancel] = {}

    @property
    def active_event(self) -> bytes | None:
        """The event this flat is following now (its last setpoint was active)."""
        return self._active

    def round_start(self, now_ms: int) -> int:
        """Start of the round ``now_ms`` falls in (rounds count from the epoch)."""
        return now_ms // self.settings.round_ms * self.settings.round_ms

    def plan(self, at_ms: int) -> Plan:
        """The group's plan for the round starting at ``at_ms``, from the view."""
        return allocation.plan(
            self.view.members(),
            self._offers(at_ms),
            self._dispatches(),
            self._cancels(),
            at_ms=at_ms,
            stale_ms=self.settings.stale_ms,
        )

    def running_event(self, now_ms: int | None = None) -> bytes | None:
        """The id of the event the group follows in the current round, if any.

        What a ``dispatch_cancel`` with ``"event": null`` names.
        """
        at = self.round_start(self.clock() if now_ms is None else now_ms)
        event = self.plan(at).event
        return None if event is None else event.event

    def mesh_lost(self, now_ms: int) -> bool:
        """Whether the mesh has been down for longer than the staleness bound.

        Call once per round (``step`` does). Until the mesh is first seen, the time of
        the first call stands in for it, so a node that has just started waits one
        staleness bound before it gives up on its peers.
        """
        if self.view.mesh_up() or self._mesh_seen_ms is None:
            self._mesh_seen_ms = now_ms
        return now_ms - self._mesh_seen_ms > self.settings.stale_ms

    def step(self, at_ms: int | None = None) -> dict[str, object] | None:
        """The ``setpoint`` message for Home Assistant this round, or None.

        Active while an event runs that this flat takes part in; one inactive message
        when that stops; nothing otherwise. ``at_ms`` plans for another instant than
        the round's start: a new request's own start, so that flats need not wait
        for the next round (every node still plans from the same signed inputs).
        """
        now = self.clock()
        # Never plan for an earlier instant than already planned for: a request
        # acted on mid-round still holds for the rest of that round.
        at = max(self.round_start(now) if at_ms is None else at_ms, self._planned_at)
        self._planned_at = at
        lost = self.mesh_lost(now)
        current = self.plan(at)
        event = current.event
        if event is None:
            if self._active is None:
                return None
            cancelled = self._active in allocation.cancelled_events(self._cancels(), at)
            return self._end("cancelled" if cancelled else "ended")
        if lost:
            return self._fallback(current, event, at)
        if self.author not in current.setpoints:
            return self._end("not_allocated") if self._active is not None else None
        w = current.setpoints[self.author]
        self._active = event.event
        return {
            "type": "setpoint",
            "active": True,
            "event": event.event.hex(),
            "mode": GROUP,
            "w": w,
            "revert_s": self.settings.revert_s,
            "share_ppm": current.share_ppm(self.author),
            "target_w": current.target_w,
            "achieved_w": current.achieved_w,
            "participants": len(current.setpoints),
            "reason": event.reason,
            "until": event.end,
            "at": at,
        }

    def bus_step(self) -> tuple[SupportPlan, dict[str, object] | None]:
        """The round's outage support plan and the ``bus_setpoint`` message, if any.

        Active while the plan has this flat give or receive; one inactive message when
        that stops.
        """
        plan = plan_support(self._fresh(self.round_start(self.clock())))
        w = plan.setpoints.get(self.author, 0)
        if not w and not self._bus_active:
            return plan, None
        self._bus_active = bool(w)
        return plan, {
            "type": "bus_setpoint",
            "active": bool(w),
            "w": w,
            "revert_s": self.settings.revert_s,
            "reason": "outage_support",
            "event": None,
        }

    def group_w(self, now_ms: int | None = None) -> int:
        """What the participating flats deliver now (+ discharge), for ``group_w``.

        The sum of ``battery_w`` over fresh availabilities of participating members.
        """
        at = self.round_start(self.clock() if now_ms is None else now_ms)
        return allocation.group_battery_w(self._fresh(at))

    def availability_content(self, message: Mapping[str, object]) -> JsonObject:
        """The members of the ``availability`` entry to publish this round."""
        return availability_content(
            message,
            now_ms=self.clock(),
            max_power_w=self.settings.max_power_w,
            stale_ms=self.settings.stale_ms,
            max_skew_ms=self.settings.max_clock_skew_ms,
        )

    def _offers(self, at_ms: int) -> list[Availability]:
        """Each member's availability in force at ``at_ms``, in author order."""
        return [
            Availability.from_body(author, entry.content)
            for author in sorted(set(self.view.members()))
            if (entry := self.view.availability(author, at_ms)) is not None
        ]

    def _fresh(self, at_ms: int) -> list[Availability]:
        """The offers at ``at_ms`` that are recent enough to count."""
        return allocation.fresh(
            self._offers(at_ms), self.view.members(), at_ms, self.settings.stale_ms
        )

    def _fallback(
        self, current: Plan, event: Dispatch, at: int
    ) -> dict[str, object] | None:
        own_entry = self.view.availability(self.author, at)
        own = (
            None
            if own_entry is None
            else Availability.from_body(self.author, own_entry.content)
        )
        if own is not None and not at - self.settings.stale_ms <= own.ts <= at:
            own = None
        if own is None or not own.participate:
            return self._end("not_allocated") if self._active is not None else None
        w = local_discharge_w(own, self.view.own_grid_w(), self.settings.local_peak_w)
        self._active = event.event
        return {
            "type": "setpoint",
            "active": True,
            "event": event.event.hex(),
            "mode": LOCAL_FALLBACK,
            "w": w,
            "revert_s": self.settings.revert_s,
            "share_ppm": 0,
            "target_w": current.target_w,
            "achieved_w": own.battery_w,
            "participants": 1,
            "reason": event.reason,
            "until": event.end,
            "at": at,
        }

    def _end(self, reason: str) -> dict[str, object]:
        event = self._active
        self._active = None
        return {
            "type": "setpoint",
            "active": False,
            "event": None if event is None else event.hex(),
            "w": 0,
            "reason": reason,
        }

    def _dispatches(self) -> list[Dispatch]:
        self._dispatch_cache, result = _parse_cached(
            self.view.dispatches(), self._dispatch_cache, Dispatch.from_body
        )
        return result

    def _cancels(self) -> list[Cancel]:
        self._cancel_cache, result = _parse_cached(
            self.view.cancels(), self._cancel_cache, Cancel.from_body
        )
        return result


def _parse_cached[T: (Dispatch, Cancel)](
    entries: Iterable[SignedEntry],
    cache: dict[bytes, T],
    parse: Callable[[bytes, bytes, JsonObject], T],
) -> tuple[dict[bytes, T], list[T]]:
    """Entries read into values, each parsed once; the cache, trimmed, and the values.

    The cache is rebuilt from the live entries once it holds many that are gone.
    """
    result = []
    for entry in entries:
        parsed = cache.get(entry.id)
        if parsed is None:
            parsed = parse(entry.id, entry.author, entry.content)
            cache[entry.id] = parsed
        result.append(parsed)
    if len(cache) > 2 * len(result) + 64:
        cache = {item.id: item for item in result}
    return cache, result


def local_discharge_w(
    own: Availability, grid_w: int | None, local_peak_w: int | None
) -> int:
    """Local rules without the mesh: keep the reserve, shave the flat's own peak.

    Discharge what the flat imports above ``local_peak_w``, within its discharge
    limit; nothing when its energy above the reserve is used up, when the peak rule is
    not configured, or when its grid power is unknown.
    """
    if own.energy_wh <= 0 or grid_w is None or local_peak_w is None:
        return 0
    return max(0, min(grid_w - local_peak_w, own.max_discharge_w))
