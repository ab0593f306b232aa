"""Keys, rosters and records are written whole, and kept through a power cut."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sidecar.ledger import files


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each fsync synced: 'dir' or 'file'."""
    kinds: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return kinds


def test_a_replaced_file_is_synced_and_so_is_its_folder(
    tmp_path: Path, synced: list[str]
) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    files.replace_durably(path, b"new", 0o600)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The data before the rename, the rename itself after.
    assert synced == ["file", "dir"]
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_created_file_never_replaces_one_that_is_there(
    tmp_path: Path, synced: list[str]
) -> None:
    path = tmp_path / "witness.key"
    assert files.create_durably(path, b"first", 0o600)
    assert synced == ["file", "dir"]
    assert not files.create_durably(path, b"second", 0o600)
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["witness.key"]


def test_a_failed_write_leaves_the_old_file_and_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "roster.json"
    path.write_text("old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        files.replace_durably(path, b"new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["roster.json"]
