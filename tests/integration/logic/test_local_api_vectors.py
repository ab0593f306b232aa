"""The integration's typed local-API messages against the shared vectors.

Every message the integration sends is built, member for member, from the vector's
``ha`` value; every message it reads parses to the vector's ``ha`` value (or, for the
answer to a hello, is refused as the vector's ``rejected`` says).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from custom_components.local_vpp.ledger import messages
from custom_components.local_vpp.ledger.messages import MessageType
from tests.vectors import local_api

VECTORS = local_api.vectors()
IDS = [name for name, _ in VECTORS]

BUILT: dict[MessageType, type[Any]] = {
    MessageType.HELLO: messages.Hello,
    MessageType.SAMPLE: messages.Sample,
    MessageType.AVAILABILITY: messages.Availability,
    MessageType.DISPATCH_REQUEST: messages.DispatchRequest,
    MessageType.DISPATCH_CANCEL: messages.DispatchCancel,
}

PARSERS: dict[MessageType, Callable[[Mapping[str, Any]], object]] = {
    MessageType.ENTRY: messages.parse_entry,
    MessageType.REJECTED: messages.parse_rejected,
    MessageType.ERROR: messages.parse_error,
    MessageType.MESH: messages.parse_mesh,
    MessageType.SETPOINT: messages.parse_setpoint,
    MessageType.BUS_SETPOINT: messages.parse_bus_setpoint,
    MessageType.DISPATCH: messages.parse_dispatch,
    MessageType.DISPATCH_CANCELLED: messages.parse_dispatch_cancelled,
}


def _read(vector: Mapping[str, Any]) -> object:
    """What the integration makes of a message from the sidecar."""
    message = vector["message"]
    if vector.get("context", {}).get("answer_to") == "hello":
        return messages.parse_welcome(message)
    kind = messages.message_type(message)
    assert kind is not None
    return PARSERS[kind](message)


@pytest.mark.parametrize("vector", [v for _, v in VECTORS], ids=IDS)
def test_vector(vector: dict[str, Any]) -> None:
    assert vector["direction"] in local_api.DIRECTIONS
    if vector["direction"] == "to_ha":
        if "rejected" in vector:
            with pytest.raises(messages.HelloRefusedError) as raised:
                _read(vector)
            assert {
                "reason": raised.value.reason,
                "detail": str(raised.value),
            } == vector["rejected"]
        elif "ha" in vector:
            assert local_api.to_json(_read(vector)) == vector["ha"]
    elif "ha" in vector:
        message = vector["message"]
        kind = MessageType(message["type"])
        built = messages.build(local_api.from_json(BUILT[kind], vector["ha"]))
        assert built == message
        # Member for member, and an integer stays an integer.
        assert json.dumps(built, sort_keys=True) == json.dumps(message, sort_keys=True)


def test_every_message_type_has_a_vector_this_side_checks() -> None:
    checked = {local_api.message_type(v) for _, v in VECTORS if "ha" in v}
    assert set(MessageType) <= checked


def test_every_vector_is_checked_by_a_side() -> None:
    for name, vector in VECTORS:
        assert {"sidecar", "ha", "rejected"} & vector.keys(), name


def test_types_replies_and_the_older_sidecar() -> None:
    assert messages.message_type({"type": "status"}) is None
    assert messages.message_type({"type": ["mesh"]}) is None
    assert messages.message_type({"type": "mesh"}) is MessageType.MESH
    assert messages.reply_id({"id": 3}) == 3
    assert messages.reply_id({"id": True}) is None
    older = {"type": "error", "reason": "bad_request", "detail": "subscribe: …"}
    assert messages.is_bad_request(older)
    assert not messages.is_bad_request(older | {"reason": "unsupported_protocol"})
    assert not messages.is_bad_request([older])
    assert messages.build(messages.Hello("local_vpp 0.1.0"))["subscribe"] == list(
        messages.SUBSCRIBE
    )


def test_what_the_readings_say() -> None:
    setpoint = messages.parse_setpoint(
        {"active": True, "share_ppm": 250_000, "until": 1_781_913_901_000}
    )
    assert setpoint.share_pct == 25
    assert setpoint.until is not None
    assert setpoint.until.year == 2026
    silent = messages.parse_setpoint({})
    assert silent.share_pct is None
    assert silent.until is None
    assert messages.parse_mesh({"integrity": "ok"}).integrity_ok is True
    assert messages.parse_mesh({"integrity": "equivocation"}).integrity_ok is False
    assert messages.parse_mesh({}).integrity_ok is None
