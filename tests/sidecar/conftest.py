"""Fixtures for the ledger sidecar: real databases, real writers, real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devkit.sidecar_node import SidecarNode as RunningSidecar
from devkit.sidecar_node import start_sidecar
from tests.sidecar.support import Ledger, init_site, open_ledger


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The sidecar is a real server on 127.0.0.1 (the HA test plugin blocks sockets)."""


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger in a temporary directory."""
    handle = open_ledger(tmp_path / "ledger.db")
    try:
        yield handle
    finally:
        handle.writer.close()


@pytest.fixture
async def sidecar(tmp_path: Path) -> AsyncIterator[RunningSidecar]:
    """A running sidecar with a fresh configuration."""
    running = await start_sidecar(init_site(tmp_path))
    try:
        yield running
    finally:
        if running.process.returncode is None:
            running.kill()
            await running.process.wait()
