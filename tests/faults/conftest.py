"""Fixtures for the fault-injection tests: real sidecar processes on 127.0.0.1."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The sidecars are real servers on 127.0.0.1 (the HA plugin blocks sockets)."""
