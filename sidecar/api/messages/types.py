"""The local API's message types, paths, limits and close codes (PROTOCOL.md §12)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from sidecar.ledger.errors import InvalidData

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
