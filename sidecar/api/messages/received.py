"""What the sidecar reads from its client: the envelope, one ``parse_*`` a message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.api.messages.types import (
    PROTOCOL_VERSION,
    RECEIVED,
    SERIAL,
    SUBSCRIBABLE,
    MessageRejected,
    MessageType,
)
from sidecar.coordination.intake import DispatchRejected, dispatch_content
from sidecar.coordination.planner import Coordinator
from sidecar.ledger import bounds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.samples import Rejection, Sample, SampleChecker
from sidecar.mesh.roster import RosterError


# -- the envelope ----------------------------------------------------------------------
def decode(text: str) -> dict[str, object]:
    """A text frame as a message object; ``malformed`` or ``too_deep`` if not one."""
    try:
        message = bounds.loads(text)
    except InvalidData as err:
        raise MessageRejected(err.reason, err.detail) from err
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
    seq, first, second = (_position(message.get(key)) for key in ("seq", "from", "to"))
    return ProofRequest(seq, first, second)


def _position(value: object) -> int | None:
    """A tree position or size, ``None`` if it is not one (``bad_request`` then)."""
    try:
        return bounds.position(value, "position")
    except InvalidData:
        return None


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
