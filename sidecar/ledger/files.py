"""Small files the node must not lose or find half-written: keys, rosters, records.

A file is written beside its final name, synced, and put in place by one rename (or
link), and the folder is synced too, so that after a power cut the node finds either
the old file or the whole new one, and a file it has acted on is still there.
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Make ``path`` hold ``data``, replacing what it held: whole or not at all."""
    part = _written(path, data, mode)
    try:
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    sync_folder(path.parent)


def create_durably(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data``; False (and nothing written) if it exists."""
    part = _written(path, data, mode)
    try:
        os.link(part, path)
    except FileExistsError:
        return False
    finally:
        part.unlink(missing_ok=True)
    sync_folder(path.parent)
    return True


def sync_folder(folder: Path) -> None:
    """Sync a folder, so that a rename or a new name in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _written(path: Path, data: bytes, mode: int) -> Path:
    """``data`` synced to a private file beside ``path`` (its name is the process's)."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part
