"""Fixtures for fault injection: real sidecar processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit.sidecar_node import SidecarNode, start_sidecar
from tests.sidecar.support import init_site


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The sidecar is a real server on 127.0.0.1 (the HA test plugin blocks sockets)."""


@pytest.fixture
async def sidecar(tmp_path: Path) -> AsyncIterator[SidecarNode]:
    """A running sidecar with a fresh configuration."""
    running = await start_sidecar(init_site(tmp_path))
    try:
        yield running
    finally:
        if running.process is not None and running.process.returncode is None:
            running.kill()
            await running.process.wait()
