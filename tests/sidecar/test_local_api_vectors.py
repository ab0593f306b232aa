"""The sidecar's typed local-API messages against the shared vectors.

Every message the sidecar receives parses to the vector's ``sidecar`` value or is
refused with its ``rejected`` reason and detail; every message it sends is built,
member for member, from the vector's ``sidecar`` value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pytest

from sidecar.api import messages
from sidecar.api.messages import MessageType
from sidecar.coordination.intake import DispatchRejected
from sidecar.coordination.planner import Coordinator, LedgerView, Settings
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.samples import Rejection, SampleChecker, SampleRejected
from tests.vectors import local_api

VECTORS = local_api.vectors()
IDS = [name for name, _ in VECTORS]

type Parser = Callable[[Mapping[str, object], Mapping[str, Any]], object]


def _sample(message: Mapping[str, object], context: Mapping[str, Any]) -> object:
    checker = SampleChecker(
        max_power_w=context["max_power_w"],
        max_skew_ms=context["max_skew_ms"],
        max_age_ms=context["max_age_ms"],
        signed_until=context.get("signed_until"),
    )
    for earlier in context.get("before", []):
        checker.check(earlier, context["now_ms"])
    return messages.parse_sample(message, checker, context["now_ms"])


def _availability(message: Mapping[str, object], context: Mapping[str, Any]) -> object:
    settings = Settings(
        max_power_w=context["max_power_w"],
        stale_ms=context["stale_ms"],
        max_clock_skew_ms=context["max_skew_ms"],
    )
    # Reading an availability needs the clock and the limits, not the ledger.
    view = cast(LedgerView, None)
    coordinator = Coordinator(b"", view, lambda: context["now_ms"], settings)
    return messages.parse_availability(message, coordinator)


def _dispatch_request(
    message: Mapping[str, object], context: Mapping[str, Any]
) -> object:
    return messages.parse_dispatch_request(
        message, now_ms=context["now_ms"], group_w=context["group_w"]
    )


def _without_context(
    parse: Callable[[Mapping[str, object]], object],
) -> Parser:
    return lambda message, context: parse(message)


PARSERS: dict[MessageType, Parser] = {
    MessageType.HELLO: _without_context(messages.parse_hello),
    MessageType.SAMPLE: _sample,
    MessageType.CHECKPOINT: _without_context(messages.parse_query),
    MessageType.PROOF: _without_context(messages.parse_proof),
    MessageType.STATUS: _without_context(messages.parse_query),
    MessageType.MESH_STATS: _without_context(messages.parse_query),
    MessageType.ROSTER_SUBMIT: _without_context(messages.parse_roster_submit),
    MessageType.AVAILABILITY: _availability,
    MessageType.DISPATCH_REQUEST: _dispatch_request,
    MessageType.DISPATCH_CANCEL: _without_context(messages.parse_dispatch_cancel),
}

BUILT: dict[MessageType, type[Any]] = {
    MessageType.WELCOME: messages.Welcome,
    MessageType.ENTRY: messages.EntryAck,
    MessageType.REJECTED: messages.Rejected,
    MessageType.ERROR: messages.Error,
    MessageType.CHECKPOINT: messages.CheckpointReply,
    MessageType.PROOF: messages.ProofReply,
    MessageType.STATUS: messages.Status,
    MessageType.MESH: messages.Mesh,
    MessageType.MESH_STATS: messages.MeshStats,
    MessageType.ROSTER: messages.RosterReply,
    MessageType.DISPATCH: messages.DispatchReply,
    MessageType.DISPATCH_CANCELLED: messages.DispatchCancelled,
    MessageType.BUS_SETPOINT: messages.BusSetpoint,
}


def _read(vector: Mapping[str, Any]) -> object:
    """What the sidecar makes of a received vector, as its session reads it."""
    context = vector.get("context", {})
    if "binary" in vector:
        raise messages.binary_frame()
    text = vector.get("text")
    message = vector["message"] if text is None else messages.decode(text)
    kind = messages.message_type(message, greeted=context.get("greeted", True))
    return PARSERS[kind](message, context)


def _outgoing_class(message: Mapping[str, Any]) -> type[Any]:
    kind = MessageType(message["type"])
    if kind is MessageType.SETPOINT:
        return messages.Setpoint if message["active"] else messages.SetpointEnded
    return BUILT[kind]


@pytest.mark.parametrize("vector", [v for _, v in VECTORS], ids=IDS)
def test_vector(vector: dict[str, Any]) -> None:
    assert vector["direction"] in local_api.DIRECTIONS
    if vector["direction"] == "to_sidecar":
        if "rejected" in vector:
            expected = vector["rejected"]
            with pytest.raises((InvalidData, SampleRejected)) as raised:
                _read(vector)
            refusal = raised.value
            if isinstance(refusal, SampleRejected):
                got = {
                    "scope": refusal.rejection.scope,
                    "reason": refusal.rejection.reason,
                    "detail": refusal.rejection.detail,
                }
            else:
                assert isinstance(refusal, InvalidData)
                got = {"reason": refusal.reason, "detail": refusal.detail}
            assert got == expected
        else:
            assert local_api.to_json(_read(vector)) == vector["sidecar"]
    elif "sidecar" in vector:
        message = vector["message"]
        typed = local_api.from_json(_outgoing_class(message), vector["sidecar"])
        built = messages.build(typed)
        assert built == message
        # Member for member, and an integer stays an integer.
        assert json.dumps(built, sort_keys=True) == json.dumps(message, sort_keys=True)


def test_every_message_type_has_a_vector_this_side_checks() -> None:
    received = {
        local_api.message_type(v)
        for _, v in VECTORS
        if v["direction"] == "to_sidecar" and "sidecar" in v
    }
    sent = {
        local_api.message_type(v)
        for _, v in VECTORS
        if v["direction"] == "to_ha" and "sidecar" in v
    }
    assert set(messages.RECEIVED) <= received
    assert set(messages.SENT) <= sent
    assert set(MessageType) == messages.RECEIVED | messages.SENT
    refused = {
        v["rejected"]["reason"]
        for _, v in VECTORS
        if v["direction"] == "to_sidecar" and "rejected" in v
    }
    # Every reason of PROTOCOL.md 12.4 a lone message can earn.
    assert {
        "malformed",
        "unknown_type",
        "hello_required",
        "unsupported_protocol",
        "bad_request",
        "missing_ts",
        "same_ts",
        "already_signed",
        "out_of_order",
        "in_future",
        "too_old",
    } <= refused


@dataclass(frozen=True)
class _FlowEntry:
    seq: int
    id: bytes
    kind: str
    content: JsonObject


def test_the_acknowledgement_of_a_flow_entry() -> None:
    vector = next(
        v for name, v in VECTORS if name == "sample:entry: a flow entry is durable"
    )
    message = vector["message"]
    entry = _FlowEntry(
        seq=message["seq"],
        id=bytes.fromhex(message["id"]),
        kind="flow",
        content={
            "kind": "flow",
            "start": message["start"],
            "end": message["end"],
            "balance": {"ok": message["ok"]},
            "transfers": [{}] * message["transfers"],
            "samples": message["samples"],
        },
    )
    assert messages.build(messages.entry_ack(cast(Entry, entry))) == message


def test_rejected_and_error_replies_from_refusals() -> None:
    dropped = Rejection("power_limit", "grid_w is too much", "grid_w")
    ts = messages.sample_ts({"type": "sample", "ts": 5})
    assert messages.build(messages.rejected(ts, dropped)) == {
        "type": "rejected",
        "scope": "field",
        "reason": "power_limit",
        "detail": "grid_w is too much",
        "ts": 5,
        "field": "grid_w",
    }
    assert messages.sample_ts({"ts": True}) is None
    assert messages.sample_ts({}) is None
    refusal = DispatchRejected("no_mesh", "nobody is linked")
    reply = messages.Error(refusal.reason, refusal.detail, 7)
    assert messages.build(reply) == {
        "type": "error",
        "reason": "no_mesh",
        "detail": "nobody is linked",
        "id": 7,
    }
    assert "id" not in messages.build(messages.Error("bad_request", "no"))
