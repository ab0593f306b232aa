"""The local API's messages as the sidecar reads and writes them (PROTOCOL.md §12).

The one typed definition of the local API on the sidecar's side: a :class:`MessageType`
per message type and a frozen dataclass per message. ``parse_*`` read what clients send
and raise an :class:`~sidecar.ledger.errors.InvalidData` with the ``error`` reply's
reason (a sample: :class:`~sidecar.ledger.samples.SampleRejected`); rules that need the
node's clock and limits stay in :mod:`sidecar.ledger.samples` and
:mod:`sidecar.coordination`, called with the context given. :func:`build` writes what
the sidecar sends. ``tests/vectors/local_api/`` holds the vectors both sides' tests
check this against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final, cast

from sidecar.coordination.intake import DispatchRejected, dispatch_content
from sidecar.coordination.planner import Coordinator
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.quality import FlowQuality
from sidecar.ledger.samples import Rejection, Sample, SampleChecker
from sidecar.mesh.roster import RosterError

PROTOCOL_VERSION: Final = 1
PATH: Final = "/api/v1/ws"
STATUS_PATH: Final = "/api/v1/status"
MAX_MESSAGE_BYTES: Final = 64 * 1024
CLOSE_REPLACED: Final = 4001
CLOSE_UNSUPPORTED: Final = 4002  # after refusing a hello's protocol
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
# What the sidecar sends; replies share their request's type.
SENT: Final = (frozenset(MessageType) - RECEIVED) | {
    MessageType.CHECKPOINT,
    MessageType.PROOF,
    MessageType.STATUS,
    MessageType.MESH_STATS,
}
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
    """The type; ``hello_required`` before a hello, ``unknown_type`` if not sendable."""
    kind = message.get("type")
    if kind == MessageType.HELLO:
        return MessageType.HELLO
    if not greeted:
        raise MessageRejected("hello_required", "send hello first")
    if isinstance(kind, str) and kind in RECEIVED:
        return MessageType(kind)
    raise MessageRejected("unknown_type", f"unknown message type {kind!r}")


# -- what the sidecar receives ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hello:
    """``hello``: the client's protocol, name, battery serial and subscriptions."""

    protocol: int
    client: str | None
    serial: str | None
    subscribe: tuple[str, ...]


def parse_hello(message: Mapping[str, object]) -> Hello:
    """Read a ``hello``; ``unsupported_protocol`` or ``bad_request`` if unusable."""
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
    """Check a ``sample`` against earlier ones; SampleRejected if it is unusable."""
    sample, dropped = checker.check(dict(message), now_ms)
    return AcceptedSample(sample, tuple(dropped))


@dataclass(frozen=True, slots=True)
class Query:
    """``checkpoint``, ``status`` or ``mesh_stats``: a request without members."""

    kind: MessageType


def parse_query(message: Mapping[str, object]) -> Query:
    """Read a ``checkpoint``, ``status`` or ``mesh_stats`` request."""
    return Query(MessageType(str(message["type"])))


@dataclass(frozen=True, slots=True)
class ProofRequest:
    """``proof``: inclusion of own entry ``seq``, or consistency ``first``→``second``.

    A member that is not an integer is ``None``; without ``seq`` or both sizes the
    ``proof`` reply says ``bad_request`` (``no_checkpoint`` wins over it).
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
class RosterSubmit:
    """``roster_submit``: a roster change, for :mod:`sidecar.mesh.roster` to check."""

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
    message: Mapping[str, object], coordinator: Coordinator
) -> Availability:
    """Read an ``availability`` by the coordinator's clock and limits.

    Raises :class:`~sidecar.coordination.intake.AvailabilityRejected` if unusable.
    """
    return Availability(coordinator.availability_content(message))


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """``dispatch_request``: the members of the ``dispatch`` entry it makes now."""

    id: object | None
    content: JsonObject


def parse_dispatch_request(
    message: Mapping[str, object], *, now_ms: int, group_w: int
) -> DispatchRequest:
    """Read a ``dispatch_request`` at ``now_ms``, the group delivering ``group_w``."""
    return DispatchRequest(
        message.get("id"),
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
        return DispatchCancel(message.get("id"), None)
    if isinstance(named, str) and len(named) == 64:
        try:
            return DispatchCancel(message.get("id"), bytes.fromhex(named))
        except ValueError as err:
            raise DispatchRejected("bad_request", "event is hex") from err
    raise DispatchRejected("bad_request", "event is a 64-hex id or null")


# -- what the sidecar sends ------------------------------------------------------------
class Outgoing:
    """A message the sidecar sends: its ``type`` and members fixed for the class."""

    __slots__ = ()
    TYPE: ClassVar[MessageType]
    FIXED: ClassVar[Mapping[str, object]] = {}


_OMIT_NONE: Final = "omit_none"
_WIRE_NAME: Final = "wire_name"


def _optional(wire_name: str | None = None) -> Any:
    """A field left out of the message while ``None``; ``wire_name`` if not its own."""
    metadata: dict[str, object] = {_OMIT_NONE: True}
    if wire_name is not None:
        metadata[_WIRE_NAME] = wire_name
    return field(default=None, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Welcome(Outgoing):
    """``welcome``: the answer to a usable ``hello`` (with this ``protocol``)."""

    TYPE = MessageType.WELCOME
    FIXED: ClassVar = {"protocol": PROTOCOL_VERSION}
    author: str
    building: str
    floor: str
    flat: str
    interval_ms: int
    next_seq: int
    sidecar: str


@dataclass(frozen=True, slots=True)
class EntryAck(Outgoing):
    """``entry``: a flow entry made from the samples is durable on disk."""

    TYPE = MessageType.ENTRY
    seq: int
    id: str
    kind: str
    start: int
    end: int
    ok: int
    transfers: int
    samples: int
    quality: str | None = _optional()
    today: FlowQuality | None = field(default=None, metadata={_OMIT_NONE: True})


def entry_ack(entry: Entry, today: FlowQuality | None = None) -> EntryAck:
    """The ``entry`` acknowledgement of a durable flow entry; ``today``'s tally."""
    content = entry.content
    balance, transfers = content["balance"], content["transfers"]
    assert isinstance(balance, dict)
    assert isinstance(transfers, list)
    # The flow schema the entry was checked against makes these integers (quality a
    # string, when there is one).
    got = cast(dict[str, Any], content)
    head = (entry.seq, entry.id.hex(), entry.kind, got["start"], got["end"])
    tail = (
        cast(int, balance["ok"]),
        len(transfers),
        got["samples"],
        got.get("quality"),
    )
    return EntryAck(*head, *tail, today)


@dataclass(frozen=True, slots=True)
class Rejected(Outgoing):
    """``rejected``: a sample (``scope`` ``sample``) or one value of it was not used."""

    TYPE = MessageType.REJECTED
    scope: str
    reason: str
    detail: str
    ts: int | None = _optional()
    field: str | None = _optional()


def rejected(ts: int | None, rejection: Rejection) -> Rejected:
    """The ``rejected`` reply for a sample with ``ts`` (see :func:`sample_ts`)."""
    return Rejected(
        rejection.scope, rejection.reason, rejection.detail, ts, rejection.field
    )


@dataclass(frozen=True, slots=True)
class Error(Outgoing):
    """``error``: a message could not be used; ``id`` echoes a request's."""

    TYPE = MessageType.ERROR
    reason: str
    detail: str
    id: object | None = _optional()


@dataclass(frozen=True, slots=True)
class CheckpointReply(Outgoing):
    """``checkpoint``: the signed checkpoint in exchange format (section 11)."""

    TYPE = MessageType.CHECKPOINT
    checkpoint: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ProofReply(Outgoing):
    """``proof``: a proof against the latest checkpoint, or why there is none."""

    TYPE = MessageType.PROOF
    size: int | None = _optional()
    root: str | None = _optional()
    checkpoint: Mapping[str, object] | None = _optional()
    index: int | None = _optional()
    first: int | None = _optional("from")
    second: int | None = _optional("to")
    path: tuple[str, ...] | None = _optional()
    reason: str | None = _optional()
    detail: str | None = _optional()


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
    seq: int | None = _optional()
    detail: str | None = _optional()


@dataclass(frozen=True, slots=True)
class Mesh(Outgoing):
    """``mesh``: the node's view of the mesh (section 12.6)."""

    TYPE = MessageType.MESH
    roster_version: int
    roster_size: int
    peers_online: int
    peers: tuple[Peer, ...]
    witnessed: Witnessed | None
    integrity: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class StatusMesh(Mesh):
    """``status.mesh``: ``mesh`` plus heads, counters, cosigned, dropped frames."""

    heads: Mapping[str, tuple[int, str]]
    counters: Mapping[str, int]
    cosigned: int
    dropped_frames: int


@dataclass(frozen=True, slots=True)
class Status(Outgoing):
    """``status``: the node's counters (also ``GET /api/v1/status``)."""

    TYPE = MessageType.STATUS
    author: str
    next_seq: int
    samples_accepted: int
    rejected: Mapping[str, int]
    entries_written: int
    checkpoint_size: int
    mesh: StatusMesh
    flow_quality: FlowQuality | None = field(default=None, metadata={_OMIT_NONE: True})


@dataclass(frozen=True, slots=True)
class MeshStats(Outgoing):
    """``mesh_stats``: replication latencies of entries pushed here, ms."""

    TYPE = MessageType.MESH_STATS
    latencies_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RosterReply(Outgoing):
    """``roster``: the submitted change is recorded as own entry ``seq``."""

    TYPE = MessageType.ROSTER
    version: int
    effective: int
    seq: int


@dataclass(frozen=True, slots=True)
class DispatchReply(Outgoing):
    """``dispatch``: the request is entry ``event``, running until ``until``."""

    TYPE = MessageType.DISPATCH
    event: str
    until: int
    id: object | None = _optional()


@dataclass(frozen=True, slots=True)
class DispatchCancelled(Outgoing):
    """``dispatch_cancelled``: the event cancelled (``None``: none was running)."""

    TYPE = MessageType.DISPATCH_CANCELLED
    event: str | None
    id: object | None = _optional()


@dataclass(frozen=True, slots=True)
class Setpoint(Outgoing):
    """An active ``setpoint``: the battery power this flat holds for a group event."""

    TYPE = MessageType.SETPOINT
    FIXED: ClassVar = {"active": True}
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
class SetpointEnded(Outgoing):
    """An inactive ``setpoint``: the event no longer concerns this flat (``reason``)."""

    TYPE = MessageType.SETPOINT
    FIXED: ClassVar = {"active": False, "w": 0}
    event: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class BusSetpoint(Outgoing):
    """``bus_setpoint``: the bus power this flat holds for outage support."""

    TYPE = MessageType.BUS_SETPOINT
    active: bool
    w: int
    revert_s: int
    reason: str = "outage_support"
    event: str | None = None


def build(message: Outgoing) -> dict[str, Any]:
    """The wire object of a message the sidecar sends."""
    return _members(message)


def _members(value: Any) -> dict[str, Any]:
    """A dataclass as a JSON object: its type and fixed members, then its fields."""
    members: dict[str, Any] = {}
    if isinstance(value, Outgoing):
        members = {"type": value.TYPE.value, **value.FIXED}
    for item in fields(value):
        member = getattr(value, item.name)
        if member is None and item.metadata.get(_OMIT_NONE):
            continue
        members[item.metadata.get(_WIRE_NAME, item.name)] = _wire(member)
    return members


def _wire(value: Any) -> Any:
    if is_dataclass(value):
        return _members(value)
    if isinstance(value, tuple | list):
        return [_wire(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _wire(item) for key, item in value.items()}
    return value
