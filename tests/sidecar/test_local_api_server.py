"""The local API server answers every message type a client may send, and only those."""

from __future__ import annotations

from sidecar.api import messages, server


def test_every_received_message_type_has_one_handler() -> None:
    assert set(server.HANDLERS) == messages.RECEIVED
