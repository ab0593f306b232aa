"""Free ports for the test's processes: parallel test workers take disjoint slices."""

from __future__ import annotations

import pytest

from devkit import ports


def test_each_parallel_worker_hands_out_ports_from_its_own_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    seen: dict[str, set[int]] = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        seen[worker] = {ports.free_port() for _ in range(20)}
    assert max(seen["gw0"]) < min(seen["gw1"])


def test_a_lone_run_uses_the_whole_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert ports._worker_share(20_000, 32_000) == (20_000, 32_000)
    port = ports.free_port()
    assert 20_000 <= port < 65_536
