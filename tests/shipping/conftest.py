"""Fixtures for the shipping tests: packages, service files, the add-on, HACS."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Installed sidecars are real servers on 127.0.0.1 (the HA plugin blocks them)."""
