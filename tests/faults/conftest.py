"""Fault cases run real processes on 127.0.0.1 (the HA test plugin blocks sockets)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Let the test talk to its sidecars, relays and Modbus servers on 127.0.0.1."""
