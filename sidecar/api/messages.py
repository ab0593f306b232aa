"""The local API's messages as the sidecar reads and writes them (PROTOCOL.md §12).

This module is the one typed definition of the local API on the sidecar's side: every
message type is a :class:`MessageType`, every message a frozen dataclass. What Home
Assistant (or a tool) sends is read by a ``parse_*`` function, which raises an
:class:`~sidecar.errors.InvalidData` carrying the reason of the ``error`` reply (or,
for a sample, :class:`~sidecar.samples.SampleRejected`, answered with ``rejected``);
what the sidecar sends is turned into its wire object by :func:`build`. The rules that
depend on the node's clock and limits stay with their owners (:mod:`sidecar.samples`,
:mod:`sidecar.coordinator`): the parse functions call them with the context given.

``tests/vectors/local_api/`` holds the vectors both sides' tests check this against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sidecar.canonical import JsonObject
from sidecar.coordinator import (
    DispatchRejected,
    availability_content,
    dispatch_content,
)
from sidecar.errors import InvalidData
from sidecar.etp import Entry
from sidecar.roster import RosterError
from sidecar.samples import Rejection, Sample, SampleChecker

PROTOCOL_VERSION: Final = 1
PATH: Final = "/api/v1/ws"
STATUS_PATH: Final = "/api/v1/status"
MAX_MESSAGE_BYTES: Final = 64 * 1024
CLOSE_REPLACED: Final = 4001
CLOSE_UNSUPPORTED: Final = 4002
# A battery serial goes into every signed flow: 1-64 printable ASCII characters.
SERIAL: Final = re.compile(r"[ -~]{1,64}\Z")


class MessageType(StrEnum):
    """The ``type`` of every local-API message, in either direction."""

    HELLO = "hello"
    WELCOME = "welcome"
    SAMPLE = "sample"
    ENTRY = "entry"
    REJECTED = "rejected"
    ERROR = "error"
    CHECKPOINT = "checkpoint"
    PROOF = "proof"
    STATUS = "status"
    MESH = "mesh"
    MESH_STATS = "mesh_stats"
    ROSTER_SUBMIT = "roster_submit"
    ROSTER = "roster"
    AVAILABILITY = "availability"
    DISPATCH_REQUEST = "dispatch_request"
    DISPATCH = "dispatch"
    DISPATCH_CANCEL = "dispatch_cancel"
    DISPATCH_CANCELLED = "dispatch_cancelled"
    SETPOINT = "setpoint"
    BUS_SETPOINT = "bus_setpoint"


# What a client may send; anything else (after the hello) is ``unknown_type``.
RECEIVED: Final = frozenset(
    {
        MessageType.HELLO,
        MessageType.SAMPLE,
        MessageType.CHECKPOINT,
        MessageType.PROOF,
        MessageType.STATUS,
        MessageType.MESH_STATS,
        MessageType.ROSTER_SUBMIT,
        MessageType.AVAILABILITY,
        MessageType.DISPATCH_REQUEST,
        MessageType.DISPATCH_CANCEL,
    }
)
# What the sidecar sends: replies, and the messages below sent unasked.
SENT: Final = frozenset(
    {
        MessageType.WELCOME,
        MessageType.ENTRY,
        MessageType.REJECTED,
        MessageType.ERROR,
        MessageType.CHECKPOINT,
        MessageType.PROOF,
        MessageType.STATUS,
        MessageType.MESH,
        MessageType.MESH_STATS,
        MessageType.ROSTER,
        MessageType.DISPATCH,
        MessageType.DISPATCH_CANCELLED,
        MessageType.SETPOINT,
        MessageType.BUS_SETPOINT,
    }
)
# Messages sent unasked, only to clients that name them in ``hello.subscribe``. Plain
# strings: the refusal's detail lists them.
SUBSCRIBABLE: Final = frozenset(
    {MessageType.MESH.value, MessageType.SETPOINT.value, MessageType.BUS_SETPOINT.value}
)


class MessageRejected(InvalidData):
    """A message the sidecar answers with ``error`` (``reason`` and ``detail``)."""


# -- the envelope ----------------------------------------------------------------------


def decode(text: str) -> dict[str, object]:
    """A text frame as a message object; ``malformed`` if it is not one."""
    try:
        message = json.loads(text)
    except ValueError as err:
        raise MessageRejected("malformed", "not JSON") from err
    if not isinstance(message, dict):
        raise MessageRejected("malformed", "a message is a JSON object")
    return message


def binary_frame() -> MessageRejected:
    """The refusal of a binary frame (the API speaks text frames only)."""
    return MessageRejected("malformed", "binary frames are not accepted")


def message_type(message: Mapping[str, object], *, greeted: bool) -> MessageType:
    """The type of a received message, checked in the order the session checks it.

    ``hello`` is always read; before it, anything else is ``hello_required``, even a
    type nobody knows; after it, a type a client may not send is ``unknown_type``.
    """
    kind = message.get("type")
    if kind == MessageType.HELLO:
        return MessageType.HELLO
    if not greeted:
        raise MessageRejected("hello_required", "send hello first")
    if isinstance(kind, str) and kind in RECEIVED:
        return MessageType(kind)
    raise MessageRejected("unknown_type", f"unknown message type {kind!r}")


def request_id(message: Mapping[str, object]) -> object | None:
    """The ``id`` of a request, echoed as it came in the reply (or ``None``)."""
    return message.get("id")


# -- what the sidecar receives ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """``hello``: the client's protocol, name, battery serial and subscriptions."""

    protocol: int
    client: str | None
    serial: str | None
    subscribe: tuple[str, ...]


def parse_hello(message: Mapping[str, object]) -> Hello:
    """Read a ``hello``; ``unsupported_protocol`` or ``bad_request`` if unusable.

    After ``unsupported_protocol`` the sidecar closes with :data:`CLOSE_UNSUPPORTED`;
    after ``bad_request`` the client is not greeted and may say hello again.
    """
    protocol = message.get("protocol")
    if protocol != PROTOCOL_VERSION:
        raise MessageRejected(
            "unsupported_protocol",
            f"this sidecar speaks protocol {PROTOCOL_VERSION}, not {protocol!r}",
        )
    serial = message.get("serial")
    if serial is not None and not (isinstance(serial, str) and SERIAL.match(serial)):
        # It would go into every signed flow: refuse it rather than sign garbage.
        raise MessageRejected(
            "bad_request", "serial must be 1-64 printable ASCII characters"
        )
    subscribe = message.get("subscribe", [])
    if not isinstance(subscribe, list) or not all(
        isinstance(item, str) and item in SUBSCRIBABLE for item in subscribe
    ):
        raise MessageRejected(
            "bad_request", f"subscribe is a list drawn from {sorted(SUBSCRIBABLE)}"
        )
    client = message.get("client")
    return Hello(
        protocol=PROTOCOL_VERSION,
        client=client if isinstance(client, str) else None,
        serial=serial,
        subscribe=tuple(subscribe),
    )


@dataclass(frozen=True, slots=True)
class AcceptedSample:
    """``sample``: the sample as the flow builder takes it, and the values dropped."""

    sample: Sample
    dropped: tuple[Rejection, ...]


def sample_ts(message: Mapping[str, object]) -> int | None:
    """The sample's ``ts`` for a ``rejected`` reply, if it is an integer."""
    ts = message.get("ts")
    return ts if isinstance(ts, int) and not isinstance(ts, bool) else None


def parse_sample(
    message: Mapping[str, object], checker: SampleChecker, now_ms: int
) -> AcceptedSample:
    """Check a ``sample`` against the previous ones (``checker`` remembers them).

    Raises :class:`~sidecar.samples.SampleRejected` when the whole sample is unusable.
    """
    sample, dropped = checker.check(dict(message), now_ms)
    return AcceptedSample(sample, tuple(dropped))


@dataclass(frozen=True, slots=True)
class CheckpointRequest:
    """``checkpoint``: sign a checkpoint now."""


def parse_checkpoint(message: Mapping[str, object]) -> CheckpointRequest:
    """Read a ``checkpoint`` request (it has no members)."""
    del message
    return CheckpointRequest()


@dataclass(frozen=True, slots=True)
class ProofRequest:
    """``proof``: inclusion of own entry ``seq``, or consistency ``first``→``second``.

    Members that are not integers are ``None``; with neither ``seq`` nor both sizes
    the node answers a ``proof`` reply with reason ``bad_request`` (after
    ``no_checkpoint``, which wins).
    """

    seq: int | None
    first: int | None
    second: int | None


def parse_proof(message: Mapping[str, object]) -> ProofRequest:
    """Read a ``proof`` request; never refuses (the reply says what was wrong)."""
    seq, first, second = message.get("seq"), message.get("from"), message.get("to")
    return ProofRequest(
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        first=first if isinstance(first, int) else None,
        second=second if isinstance(second, int) else None,
    )


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """``status``: the node's counters."""


def parse_status(message: Mapping[str, object]) -> StatusRequest:
    """Read a ``status`` request (it has no members)."""
    del message
    return StatusRequest()


@dataclass(frozen=True, slots=True)
class MeshStatsRequest:
    """``mesh_stats``: the replication latencies measured here."""


def parse_mesh_stats(message: Mapping[str, object]) -> MeshStatsRequest:
    """Read a ``mesh_stats`` request (it has no members)."""
    del message
    return MeshStatsRequest()


@dataclass(frozen=True, slots=True)
class RosterSubmit:
    """``roster_submit``: a roster change, checked later by :mod:`sidecar.roster`."""

    proposal: dict[str, Any]
    approvals: tuple[Any, ...]


def parse_roster_submit(message: Mapping[str, object]) -> RosterSubmit:
    """Read a ``roster_submit``; ``bad_request`` (RosterError) if its shape is wrong."""
    proposal, approvals = message.get("proposal"), message.get("approvals")
    if not isinstance(proposal, dict) or not isinstance(approvals, list):
        raise RosterError("bad_request", "send proposal and approvals")
    return RosterSubmit(proposal, tuple(approvals))


@dataclass(frozen=True, slots=True)
class Availability:
    """``availability``: the members of the ``availability`` entry it makes now."""

    content: JsonObject


def parse_availability(
    message: Mapping[str, object],
    *,
    now_ms: int,
    max_power_w: int,
    stale_ms: int,
    max_skew_ms: int,
) -> Availability:
    """Read an ``availability`` at ``now_ms``; AvailabilityRejected if unusable."""
    return Availability(
        availability_content(
            message,
            now_ms=now_ms,
            max_power_w=max_power_w,
            stale_ms=stale_ms,
            max_skew_ms=max_skew_ms,
        )
    )


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """``dispatch_request``: the members of the ``dispatch`` entry it makes now."""

    id: object | None
    content: JsonObject


def parse_dispatch_request(
    message: Mapping[str, object], *, now_ms: int, group_w: int
) -> DispatchRequest:
    """Read a ``dispatch_request`` at ``now_ms``; DispatchRejected if unusable.

    ``group_w`` is what the group delivers now (recorded by ``meter_limit``).
    """
    return DispatchRequest(
        request_id(message),
        dispatch_content(message, now_ms=now_ms, group_w=group_w),
    )


@dataclass(frozen=True, slots=True)
class DispatchCancel:
    """``dispatch_cancel``: the event to cancel, ``None`` for the one running now."""

    id: object | None
    event: bytes | None


def parse_dispatch_cancel(message: Mapping[str, object]) -> DispatchCancel:
    """Read a ``dispatch_cancel``; ``bad_request`` (DispatchRejected) if unusable."""
    named = message.get("event")
    if named is None:
        return DispatchCancel(request_id(message), None)
    if isinstance(named, str) and len(named) == 64:
        try:
            return DispatchCancel(request_id(message), bytes.fromhex(named))
        except ValueError as err:
            raise DispatchRejected("bad_request", "event is hex") from err
    raise DispatchRejected("bad_request", "event is a 64-hex id or null")


# -- what the sidecar sends ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    """``welcome``: the answer to a usable ``hello``."""

    author: str
    building: str
    floor: str
    flat: str
    interval_ms: int
    next_seq: int
    sidecar: str
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class EntryAck:
    """``entry``: a flow entry made from the samples is durable on disk."""

    seq: int
    id: str
    kind: str
    start: object
    end: object
    ok: object
    transfers: int
    samples: object


def entry_ack(entry: Entry) -> EntryAck:
    """The ``entry`` acknowledgement of a durable flow entry."""
    content = entry.content
    balance = content["balance"]
    transfers = content["transfers"]
    assert isinstance(balance, dict)
    assert isinstance(transfers, list)
    return EntryAck(
        seq=entry.seq,
        id=entry.id.hex(),
        kind=entry.kind,
        start=content["start"],
        end=content["end"],
        ok=balance["ok"],
        transfers=len(transfers),
        samples=content["samples"],
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    """``rejected``: a sample (``scope`` ``sample``) or one value of it was not used."""

    scope: str
    reason: str
    detail: str
    ts: int | None = None
    field: str | None = None


def rejected(ts: int | None, rejection: Rejection) -> Rejected:
    """The ``rejected`` reply for a sample with ``ts`` (see :func:`sample_ts`)."""
    return Rejected(
        rejection.scope, rejection.reason, rejection.detail, ts, rejection.field
    )


@dataclass(frozen=True, slots=True)
class Error:
    """``error``: a message could not be used; ``id`` echoes a request's."""

    reason: str
    detail: str
    id: object | None = None


def error(refusal: InvalidData, request: object | None = None) -> Error:
    """The ``error`` reply for a refusal (of the request with id ``request``)."""
    return Error(refusal.reason, refusal.detail, request)


@dataclass(frozen=True, slots=True)
class CheckpointReply:
    """``checkpoint``: the signed checkpoint in exchange format (section 11)."""

    checkpoint: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ProofReply:
    """``proof``: a proof against the latest checkpoint, or why there is none.

    ``first`` and ``second`` are the wire's ``from`` and ``to``; members that are
    ``None`` are left out.
    """

    size: int | None = None
    root: str | None = None
    checkpoint: Mapping[str, object] | None = None
    index: int | None = None
    first: int | None = None
    second: int | None = None
    path: tuple[str, ...] | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Peer:
    """One other member of the roster in force, in a ``mesh`` message."""

    flat: str
    floor: str
    author: str
    online: bool


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The newest own checkpoint a majority has signed."""

    size: int
    ts: int
    age_ms: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Evidence against a member: ``seq`` for equivocation, else ``detail``."""

    kind: str
    author: str
    flat: str
    seq: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Mesh:
    """``mesh``: the node's view of the mesh (section 12.6)."""

    roster_version: int
    roster_size: int
    peers_online: int
    peers: tuple[Peer, ...]
    witnessed: Witnessed | None
    integrity: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class StatusMesh:
    """The ``mesh`` member of ``status``: the ``mesh`` message and replication state."""

    mesh: Mesh
    heads: Mapping[str, tuple[int, str]]
    counters: Mapping[str, int]
    cosigned: int
    dropped_frames: int


@dataclass(frozen=True, slots=True)
class Status:
    """``status``: the node's counters (also ``GET /api/v1/status``)."""

    author: str
    next_seq: int
    samples_accepted: int
    rejected: Mapping[str, int]
    entries_written: int
    checkpoint_size: int
    mesh: StatusMesh


@dataclass(frozen=True, slots=True)
class MeshStats:
    """``mesh_stats``: replication latencies of entries pushed here, ms."""

    latencies_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RosterReply:
    """``roster``: the submitted change is recorded as own entry ``seq``."""

    version: int
    effective: int
    seq: int


@dataclass(frozen=True, slots=True)
class DispatchReply:
    """``dispatch``: the request is entry ``event``, running until ``until``."""

    event: str
    until: object
    id: object | None = None


@dataclass(frozen=True, slots=True)
class DispatchCancelled:
    """``dispatch_cancelled``: the event cancelled (``None``: none was running)."""

    event: str | None
    id: object | None = None


@dataclass(frozen=True, slots=True)
class Setpoint:
    """An active ``setpoint``: the battery power this flat holds for a group event."""

    event: str
    mode: str
    w: int
    revert_s: int
    share_ppm: int
    target_w: int
    achieved_w: int
    participants: int
    reason: str
    until: int
    at: int


@dataclass(frozen=True, slots=True)
class SetpointEnded:
    """An inactive ``setpoint``: the event no longer concerns this flat (``reason``)."""

    event: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class BusSetpoint:
    """``bus_setpoint``: the bus power this flat holds for outage support."""

    active: bool
    w: int
    revert_s: int
    reason: str = "outage_support"
    event: str | None = None


type Outgoing = (
    Welcome
    | EntryAck
    | Rejected
    | Error
    | CheckpointReply
    | ProofReply
    | Mesh
    | Status
    | MeshStats
    | RosterReply
    | DispatchReply
    | DispatchCancelled
    | Setpoint
    | SetpointEnded
    | BusSetpoint
)


def _present(members: Mapping[str, object]) -> dict[str, Any]:
    """The members that are not ``None``: the wire leaves those out."""
    return {key: value for key, value in members.items() if value is not None}


def _welcome(m: Welcome) -> dict[str, Any]:
    return {
        "type": MessageType.WELCOME.value,
        "protocol": m.protocol,
        "author": m.author,
        "building": m.building,
        "floor": m.floor,
        "flat": m.flat,
        "interval_ms": m.interval_ms,
        "next_seq": m.next_seq,
        "sidecar": m.sidecar,
    }


def _entry(m: EntryAck) -> dict[str, Any]:
    return {
        "type": MessageType.ENTRY.value,
        "seq": m.seq,
        "id": m.id,
        "kind": m.kind,
        "start": m.start,
        "end": m.end,
        "ok": m.ok,
        "transfers": m.transfers,
        "samples": m.samples,
    }


def _rejected(m: Rejected) -> dict[str, Any]:
    return {
        "type": MessageType.REJECTED.value,
        "scope": m.scope,
        "reason": m.reason,
        "detail": m.detail,
    } | _present({"ts": m.ts, "field": m.field})


def _error(m: Error) -> dict[str, Any]:
    return {
        "type": MessageType.ERROR.value,
        "reason": m.reason,
        "detail": m.detail,
    } | _present({"id": m.id})


def _checkpoint(m: CheckpointReply) -> dict[str, Any]:
    return {"type": MessageType.CHECKPOINT.value, "checkpoint": dict(m.checkpoint)}


def _proof(m: ProofReply) -> dict[str, Any]:
    return {"type": MessageType.PROOF.value} | _present(
        {
            "size": m.size,
            "root": m.root,
            "checkpoint": None if m.checkpoint is None else dict(m.checkpoint),
            "index": m.index,
            "from": m.first,
            "to": m.second,
            "path": None if m.path is None else list(m.path),
            "reason": m.reason,
            "detail": m.detail,
        }
    )


def _mesh(m: Mesh) -> dict[str, Any]:
    witnessed = m.witnessed
    return {
        "type": MessageType.MESH.value,
        "roster_version": m.roster_version,
        "roster_size": m.roster_size,
        "peers_online": m.peers_online,
        "peers": [
            {
                "flat": peer.flat,
                "floor": peer.floor,
                "author": peer.author,
                "online": peer.online,
            }
            for peer in m.peers
        ],
        "witnessed": None
        if witnessed is None
        else {"size": witnessed.size, "ts": witnessed.ts, "age_ms": witnessed.age_ms},
        "integrity": m.integrity,
        "problems": [
            {"kind": p.kind, "author": p.author, "flat": p.flat}
            | _present({"seq": p.seq, "detail": p.detail})
            for p in m.problems
        ],
    }


def _status(m: Status) -> dict[str, Any]:
    mesh = m.mesh
    return {
        "type": MessageType.STATUS.value,
        "author": m.author,
        "next_seq": m.next_seq,
        "samples_accepted": m.samples_accepted,
        "rejected": dict(m.rejected),
        "entries_written": m.entries_written,
        "checkpoint_size": m.checkpoint_size,
        "mesh": {
            **_mesh(mesh.mesh),
            "heads": {author: list(head) for author, head in mesh.heads.items()},
            "counters": dict(mesh.counters),
            "cosigned": mesh.cosigned,
            "dropped_frames": mesh.dropped_frames,
        },
    }


def _mesh_stats(m: MeshStats) -> dict[str, Any]:
    return {"type": MessageType.MESH_STATS.value, "latencies_ms": list(m.latencies_ms)}


def _roster(m: RosterReply) -> dict[str, Any]:
    return {
        "type": MessageType.ROSTER.value,
        "version": m.version,
        "effective": m.effective,
        "seq": m.seq,
    }


def _dispatch(m: DispatchReply) -> dict[str, Any]:
    return {
        "type": MessageType.DISPATCH.value,
        "event": m.event,
        "until": m.until,
    } | _present({"id": m.id})


def _dispatch_cancelled(m: DispatchCancelled) -> dict[str, Any]:
    return {
        "type": MessageType.DISPATCH_CANCELLED.value,
        "event": m.event,
    } | _present({"id": m.id})


def _setpoint(m: Setpoint) -> dict[str, Any]:
    return {
        "type": MessageType.SETPOINT.value,
        "active": True,
        "event": m.event,
        "mode": m.mode,
        "w": m.w,
        "revert_s": m.revert_s,
        "share_ppm": m.share_ppm,
        "target_w": m.target_w,
        "achieved_w": m.achieved_w,
        "participants": m.participants,
        "reason": m.reason,
        "until": m.until,
        "at": m.at,
    }


def _setpoint_ended(m: SetpointEnded) -> dict[str, Any]:
    return {
        "type": MessageType.SETPOINT.value,
        "active": False,
        "event": m.event,
        "w": 0,
        "reason": m.reason,
    }


def _bus_setpoint(m: BusSetpoint) -> dict[str, Any]:
    return {
        "type": MessageType.BUS_SETPOINT.value,
        "active": m.active,
        "w": m.w,
        "revert_s": m.revert_s,
        "reason": m.reason,
        "event": m.event,
    }


_BUILDERS: Final[dict[type[Any], Callable[[Any], dict[str, Any]]]] = {
    Welcome: _welcome,
    EntryAck: _entry,
    Rejected: _rejected,
    Error: _error,
    CheckpointReply: _checkpoint,
    ProofReply: _proof,
    Mesh: _mesh,
    Status: _status,
    MeshStats: _mesh_stats,
    RosterReply: _roster,
    DispatchReply: _dispatch,
    DispatchCancelled: _dispatch_cancelled,
    Setpoint: _setpoint,
    SetpointEnded: _setpoint_ended,
    BusSetpoint: _bus_setpoint,
}


def build(message: Outgoing) -> dict[str, Any]:
    """The wire object of a message the sidecar sends."""
    return _BUILDERS[type(message)](message)
