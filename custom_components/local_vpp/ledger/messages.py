"""The local API's messages as Home Assistant writes and reads them (PROTOCOL.md §12).

This module is the one typed definition of the local API on the integration's side:
every message type it speaks is a :class:`MessageType`, every message a frozen
dataclass. What the integration sends is turned into its wire object by :func:`build`
(a value that is ``None`` is left out, never sent as 0); what the sidecar sends is
read by a ``parse_*`` function, defensively: a member of the wrong type counts as not
said, and nothing but a refused hello raises. Plain Python, no Home Assistant.

``tests/vectors/local_api/`` holds the vectors both sides' tests check this against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from ..const import DEFAULT_GROUP_REVERT_S, MAX_GROUP_REVERT_S
from ..device.capabilities import Capabilities
from ..device.flat import MAX_BUS_SETPOINT_W

PROTOCOL_VERSION: Final = 1


class MessageType(StrEnum):
    """The ``type`` of every local-API message the integration sends or reads."""

    HELLO = "hello"
    SAMPLE = "sample"
    AVAILABILITY = "availability"
    DISPATCH_REQUEST = "dispatch_request"
    DISPATCH_CANCEL = "dispatch_cancel"
    WELCOME = "welcome"
    ENTRY = "entry"
    REJECTED = "rejected"
    ERROR = "error"
    MESH = "mesh"
    SETPOINT = "setpoint"
    BUS_SETPOINT = "bus_setpoint"
    DISPATCH = "dispatch"
    DISPATCH_CANCELLED = "dispatch_cancelled"


# The unsolicited messages this client handles, asked for in the hello. A sidecar
# from before the building bus refuses ``bus_setpoint`` with ``bad_request``: the
# hello is then said once more without it.
SUBSCRIBE: Final = (
    MessageType.MESH.value,
    MessageType.SETPOINT.value,
    MessageType.BUS_SETPOINT.value,
)
SUBSCRIBE_WITHOUT_BUS: Final = (MessageType.MESH.value, MessageType.SETPOINT.value)
INTEGRITY_OK: Final = "ok"


def _int(value: Any) -> int | None:
    # bool is an int to Python, never to the sidecar.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _revert_s(value: Any) -> int:
    """A revert timeout bounded to 1-60 s; the default when not said."""
    revert = _number(value)
    if revert is None:
        return DEFAULT_GROUP_REVERT_S
    return int(min(MAX_GROUP_REVERT_S, max(1, revert)))


def message_type(message: Mapping[str, Any]) -> MessageType | None:
    """The message's type, ``None`` for one this client does not know (ignored)."""
    kind = message.get("type")
    if isinstance(kind, str) and kind in MessageType:
        return MessageType(kind)
    return None


def reply_id(message: Mapping[str, Any]) -> int | None:
    """The ``id`` of the request a reply answers, if it carries one."""
    return _int(message.get("id"))


# -- what the integration sends --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """``hello``: the first message; an empty ``serial`` is not sent."""

    client: str
    serial: str | None = None
    subscribe: tuple[str, ...] = SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Sample:
    """``sample``: one poll's measurements (signs and units of section 12.2)."""

    ts: int
    pv_w: float | None = None
    pv_wh: float | None = None
    battery_w: float | None = None
    battery_in_wh: float | None = None
    battery_out_wh: float | None = None
    soc_pct: float | None = None
    stored_wh: float | None = None
    # The battery's own view of its health (section 12.2, battery_state entries).
    soh_pct: float | None = None
    battery_cycles: float | None = None
    cell_v_max: float | None = None
    cell_v_min: float | None = None
    grid_w: float | None = None
    grid_in_wh: float | None = None
    grid_out_wh: float | None = None
    frequency_hz: float | None = None
    voltage_v: float | None = None
    home_w: float | None = None
    home_wh: float | None = None
    living_w: float | None = None
    living_wh: float | None = None
    bus_w: float | None = None
    bus_out_wh: float | None = None
    bus_in_wh: float | None = None


@dataclass(frozen=True, slots=True)
class Availability:
    """``availability``: what this flat could give a group event, and outage state."""

    ts: int
    participate: bool
    max_share_pct: float
    soc_pct: float | None = None
    energy_wh: float | None = None
    max_discharge_w: float | None = None
    max_charge_w: float | None = None
    battery_w: float | None = None
    outage: bool | None = None
    bus: bool | None = None
    living_w: float | None = None
    # What the flat's devices can do; an older integration sends none.
    capabilities: Capabilities | None = None


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """``dispatch_request``: ``target_w`` for ``power``, ``limit_w``/``meter_w`` else.

    The link gives every request its ``id`` when it sends it.
    """

    direction: str
    mode: str
    duration_s: int
    reason: str
    target_w: int | None = None
    limit_w: int | None = None
    meter_w: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class DispatchCancel:
    """``dispatch_cancel``: the event to cancel, ``None`` for the one running now."""

    event: str | None
    id: int | None = None


type Outgoing = Hello | Sample | Availability | DispatchRequest | DispatchCancel


def _present(members: Mapping[str, Any]) -> dict[str, Any]:
    """The members that are not ``None``: the wire leaves those out."""
    return {key: value for key, value in members.items() if value is not None}


def _hello(m: Hello) -> dict[str, Any]:
    hello: dict[str, Any] = {
        "type": MessageType.HELLO.value,
        "protocol": PROTOCOL_VERSION,
        "client": m.client,
        "subscribe": list(m.subscribe),
    }
    if m.serial:
        hello["serial"] = m.serial
    return hello


def _sample(m: Sample) -> dict[str, Any]:
    return {"type": MessageType.SAMPLE.value, "ts": m.ts} | _present(
        {
            "pv_w": m.pv_w,
            "pv_wh": m.pv_wh,
            "battery_w": m.battery_w,
            "battery_in_wh": m.battery_in_wh,
            "battery_out_wh": m.battery_out_wh,
            "soc_pct": m.soc_pct,
            "stored_wh": m.stored_wh,
            "grid_w": m.grid_w,
            "grid_in_wh": m.grid_in_wh,
            "grid_out_wh": m.grid_out_wh,
            "frequency_hz": m.frequency_hz,
            "voltage_v": m.voltage_v,
            "home_w": m.home_w,
            "home_wh": m.home_wh,
            "living_w": m.living_w,
            "living_wh": m.living_wh,
            "bus_w": m.bus_w,
            "bus_out_wh": m.bus_out_wh,
            "bus_in_wh": m.bus_in_wh,
        }
    )


def _availability(m: Availability) -> dict[str, Any]:
    return (
        {"type": MessageType.AVAILABILITY.value, "ts": m.ts}
        | _present(
            {
                "soc_pct": m.soc_pct,
                "energy_wh": m.energy_wh,
                "max_discharge_w": m.max_discharge_w,
                "max_charge_w": m.max_charge_w,
                "battery_w": m.battery_w,
                "outage": m.outage,
                "bus": m.bus,
                "living_w": m.living_w,
            }
        )
        | {"participate": m.participate, "max_share_pct": m.max_share_pct}
        | _capabilities(m.capabilities)
    )


def _capabilities(caps: Capabilities | None) -> dict[str, Any]:
    if caps is None:
        return {}
    return {
        "capabilities": {
            "read": caps.read,
            "control_power": caps.control_power,
            "switch_living_room": caps.switch_living_room,
            "revert_timer": caps.revert_timer,
            "min_write_interval_s": float(caps.min_write_interval_s),
        }
    }


def _dispatch_request(m: DispatchRequest) -> dict[str, Any]:
    return {
        "type": MessageType.DISPATCH_REQUEST.value,
        "direction": m.direction,
        "mode": m.mode,
    } | _present(
        {
            "target_w": m.target_w,
            "limit_w": m.limit_w,
            "meter_w": m.meter_w,
            "duration_s": m.duration_s,
            "reason": m.reason,
            "id": m.id,
        }
    )


def _dispatch_cancel(m: DispatchCancel) -> dict[str, Any]:
    return {"type": MessageType.DISPATCH_CANCEL.value, "event": m.event} | _present(
        {"id": m.id}
    )


_BUILDERS: Final[dict[type[Any], Callable[[Any], dict[str, Any]]]] = {
    Hello: _hello,
    Sample: _sample,
    Availability: _availability,
    DispatchRequest: _dispatch_request,
    DispatchCancel: _dispatch_cancel,
}


def build(message: Outgoing) -> dict[str, Any]:
    """The wire object of a message the integration sends."""
    return _BUILDERS[type(message)](message)


# -- what the sidecar sends ------------------------------------------------------------


class HelloRefusedError(ValueError):
    """The sidecar answered the hello with something other than ``welcome``."""

    # What ``async_check_sidecar`` reports for it (a key of the config flows' errors).
    reason: Final = "sidecar_refused"

    def __init__(self, answer: object) -> None:
        """Keep the answer; the message names it."""
        super().__init__(f"sidecar refused the hello: {answer}")
        self.answer = answer


@dataclass(frozen=True, slots=True)
class Welcome:
    """``welcome``: who the sidecar is; what it did not say is ``None``."""

    protocol: int | None
    author: str | None
    building: str | None
    floor: str | None
    flat: str | None
    interval_ms: int | None
    next_seq: int | None
    sidecar: str | None


def parse_welcome(answer: object) -> Welcome:
    """Read the answer to a hello; :class:`HelloRefusedError` unless a ``welcome``."""
    if not isinstance(answer, Mapping) or answer.get("type") != MessageType.WELCOME:
        raise HelloRefusedError(answer)
    return Welcome(
        protocol=_int(answer.get("protocol")),
        author=_text(answer.get("author")),
        building=_text(answer.get("building")),
        floor=_text(answer.get("floor")),
        flat=_text(answer.get("flat")),
        interval_ms=_int(answer.get("interval_ms")),
        next_seq=_int(answer.get("next_seq")),
        sidecar=_text(answer.get("sidecar")),
    )


@dataclass(frozen=True, slots=True)
class SidecarError:
    """``error``: why the sidecar could not use a message (``id``: of a request)."""

    reason: str
    detail: str
    id: int | None


def parse_error(message: Mapping[str, Any]) -> SidecarError:
    """Read an ``error``; a missing reason is ``error``, a missing detail empty."""
    return SidecarError(
        reason=str(message.get("reason") or "error"),
        detail=str(message.get("detail") or ""),
        id=reply_id(message),
    )


def is_bad_request(answer: object) -> bool:
    """Whether a hello's answer is ``error`` ``bad_request`` (an older sidecar)."""
    return (
        isinstance(answer, Mapping)
        and answer.get("type") == MessageType.ERROR
        and answer.get("reason") == "bad_request"
    )


@dataclass(frozen=True, slots=True)
class EntryAck:
    """``entry``: a flow entry made from the samples is durable on the sidecar."""

    seq: int | None
    id: str | None
    kind: str | None
    start: int | None
    end: int | None
    ok: int | None
    transfers: int | None
    samples: int | None
    quality: str  # measured, estimated or reconciled
    estimated_today: int | None  # the sidecar's tally of today's flows
    reconciled_today: int | None
    estimating_since: int | None  # ms; set while the flat's ledger estimates


def parse_entry(message: Mapping[str, Any]) -> EntryAck:
    """Read an ``entry`` acknowledgement."""
    today = message.get("today")
    today = today if isinstance(today, Mapping) else {}
    return EntryAck(
        quality=_text(message.get("quality")) or "measured",
        estimated_today=_int(today.get("estimated")),
        reconciled_today=_int(today.get("reconciled")),
        estimating_since=_int(today.get("estimating_since")),
        seq=_int(message.get("seq")),
        id=_text(message.get("id")),
        kind=_text(message.get("kind")),
        start=_int(message.get("start")),
        end=_int(message.get("end")),
        ok=_int(message.get("ok")),
        transfers=_int(message.get("transfers")),
        samples=_int(message.get("samples")),
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    """``rejected``: a sample (``scope`` ``sample``) or one value of it went unused."""

    ts: int | None
    scope: str | None
    field: str | None
    reason: str | None
    detail: str | None


def parse_rejected(message: Mapping[str, Any]) -> Rejected:
    """Read a ``rejected`` notice."""
    return Rejected(
        ts=_int(message.get("ts")),
        scope=_text(message.get("scope")),
        field=_text(message.get("field")),
        reason=_text(message.get("reason")),
        detail=_text(message.get("detail")),
    )


@dataclass(frozen=True, slots=True)
class MeshProblem:
    """One piece of evidence the sidecar keeps against a member."""

    kind: str
    flat: str | None
    author: str | None
    seq: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class MeshStatus:
    """What one ``mesh`` message says."""

    roster_version: int | None
    roster_size: int | None
    peers_online: int | None
    witnessed_ts_ms: int | None
    witnessed_size: int | None
    integrity: str | None
    problems: tuple[MeshProblem, ...]
    peers: tuple[dict[str, Any], ...]
    # ``storage_full`` or ``storage_readonly`` while the sidecar cannot write its store.
    storage: str | None = None

    @property
    def integrity_ok(self) -> bool | None:
        """Whether the ledger checks out; ``None`` when the sidecar did not say."""
        return None if self.integrity is None else self.integrity == INTEGRITY_OK


def parse_mesh(message: Mapping[str, Any]) -> MeshStatus:
    """Read a ``mesh`` message; what is missing or malformed is ``None``."""
    witnessed = message.get("witnessed")
    if not isinstance(witnessed, Mapping):
        witnessed = {}
    problems = message.get("problems")
    peers = message.get("peers")
    return MeshStatus(
        roster_version=_int(message.get("roster_version")),
        roster_size=_int(message.get("roster_size")),
        peers_online=_int(message.get("peers_online")),
        witnessed_ts_ms=_int(witnessed.get("ts")),
        witnessed_size=_int(witnessed.get("size")),
        integrity=_text(message.get("integrity")),
        problems=tuple(
            MeshProblem(
                kind=_text(problem.get("kind")) or "unknown",
                flat=_text(problem.get("flat")),
                author=_text(problem.get("author")),
                seq=_int(problem.get("seq")),
                detail=_text(problem.get("detail")),
            )
            for problem in (problems if isinstance(problems, list) else [])
            if isinstance(problem, Mapping)
        ),
        peers=tuple(
            dict(peer)
            for peer in (peers if isinstance(peers, list) else [])
            if isinstance(peer, Mapping)
        ),
        storage=_text(message.get("storage")),
    )


@dataclass(frozen=True, slots=True)
class GroupSetpoint:
    """One ``setpoint`` message, read defensively."""

    active: bool
    event: str | None
    mode: str | None
    w: float | None
    revert_s: int
    share_ppm: float | None
    target_w: float | None
    achieved_w: float | None
    participants: int | None
    reason: str | None
    until_ms: float | None

    @property
    def share_pct(self) -> float | None:
        """The flat's share of the building target, in percent."""
        return None if self.share_ppm is None else self.share_ppm / 10_000

    @property
    def until(self) -> datetime | None:
        """When the event is due to end."""
        if self.until_ms is None:
            return None
        return datetime.fromtimestamp(self.until_ms / 1000, tz=UTC)


def parse_setpoint(message: Mapping[str, Any]) -> GroupSetpoint:
    """Read a ``setpoint`` message; a malformed value is ``None``."""
    participants = _number(message.get("participants"))
    return GroupSetpoint(
        active=message.get("active") is True,
        event=_text(message.get("event")),
        mode=_text(message.get("mode")),
        w=_number(message.get("w")),
        revert_s=_revert_s(message.get("revert_s")),
        share_ppm=_number(message.get("share_ppm")),
        target_w=_number(message.get("target_w")),
        achieved_w=_number(message.get("achieved_w")),
        participants=None if participants is None else int(participants),
        reason=_text(message.get("reason")),
        until_ms=_number(message.get("until")),
    )


@dataclass(frozen=True, slots=True)
class BusSetpoint:
    """One ``bus_setpoint`` message, read defensively (+ export, − import)."""

    active: bool
    w: float | None
    revert_s: int
    reason: str | None
    event: str | None


def parse_bus_setpoint(message: Mapping[str, Any]) -> BusSetpoint:
    """Read a ``bus_setpoint`` message; a malformed value is ``None``."""
    w = _number(message.get("w"))
    return BusSetpoint(
        active=message.get("active") is True,
        w=None
        if w is None
        else max(-MAX_BUS_SETPOINT_W, min(MAX_BUS_SETPOINT_W, round(w))),
        revert_s=_revert_s(message.get("revert_s")),
        reason=_text(message.get("reason")),
        event=_text(message.get("event")),
    )


@dataclass(frozen=True, slots=True)
class Dispatched:
    """``dispatch``: the group request is recorded as ``event``, until ``until_ms``."""

    id: int | None
    event: str | None
    until_ms: float | None


def parse_dispatch(message: Mapping[str, Any]) -> Dispatched:
    """Read a ``dispatch`` reply."""
    return Dispatched(
        id=reply_id(message),
        event=_text(message.get("event")),
        until_ms=_number(message.get("until")),
    )


@dataclass(frozen=True, slots=True)
class DispatchCancelled:
    """``dispatch_cancelled``: the event cancelled, ``None`` if none was running."""

    id: int | None
    event: str | None


def parse_dispatch_cancelled(message: Mapping[str, Any]) -> DispatchCancelled:
    """Read a ``dispatch_cancelled`` reply."""
    return DispatchCancelled(id=reply_id(message), event=_text(message.get("event")))
