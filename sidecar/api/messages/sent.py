"""What the sidecar sends its client: a frozen dataclass a message, and ``build``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Final, cast

from sidecar.api.messages.types import PROTOCOL_VERSION, MessageType
from sidecar.ledger.etp import Entry
from sidecar.ledger.quality import FlowQuality
from sidecar.ledger.samples import Rejection


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
    # storage_full, storage_readonly: Home Assistant shows a repair (section 12.6)
    storage: str | None = field(default=None, kw_only=True, metadata={_OMIT_NONE: 1})


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
    storage: str | None = _optional()  # storage_full, storage_readonly while so
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
